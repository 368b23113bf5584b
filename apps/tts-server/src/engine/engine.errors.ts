/**
 * Errors of the worker pool: the server's (ServerError), not the engine library's
 * (PiperError, which a worker reports by its code). Like every domain error they know
 * nothing of HTTP; common/http-errors.ts maps their `code` to a status.
 */
import { ServerError } from '../common/server-errors';

/** Every concurrency slot and queue place is taken: try again later (503). */
export class EngineBusyError extends ServerError {
  readonly code = 'ENGINE_BUSY';

  constructor(readonly retryAfterSeconds: number) {
    super('the server is busy: all synthesis slots and queue places are taken, retry later');
  }
}

/** A synthesis ran past SYNTH_TIMEOUT_MS; its worker was killed and replaced (504). */
export class SynthesisTimeoutError extends ServerError {
  readonly code = 'SYNTHESIS_TIMEOUT';

  constructor(readonly timeoutMs: number) {
    super(`synthesis took longer than ${timeoutMs} ms and was stopped`);
  }
}

/** The worker running this request died (crash, killed, out of memory); it is replaced (502). */
export class WorkerCrashedError extends ServerError {
  readonly code = 'WORKER_CRASHED';

  constructor(detail: string) {
    super(`the synthesis worker stopped unexpectedly (${detail}); please retry`);
  }
}

/** The pool is shutting down and accepts no new work (503). */
export class EngineStoppedError extends ServerError {
  readonly code = 'ENGINE_STOPPED';

  constructor() {
    super('the server is shutting down');
  }
}

/**
 * An engine error raised inside a worker and carried to the parent by its code and
 * message (class identity does not survive a process boundary).
 */
export class WorkerReportedError extends ServerError {
  constructor(
    readonly code: string,
    message: string,
    /** Engine error class name in the worker, e.g. "SpeakerNotFoundError". */
    readonly workerErrorName: string,
  ) {
    super(message);
  }
}
