/**
 * The job protocol on the parent's side (worker-protocol.ts): a worker runs one job at
 * a time; each job gets an id, is sent, and ends exactly once, by its reply or by the
 * reason it never got one (its worker died, was killed at a timeout, the pool
 * stopped). The sessions a job loads count as loading in the VoiceBudget from its send
 * to its end. Who asked for the job hears how it ended through its `onEnd`; the pool
 * hears it through `JobRunnerEvents`, before and after.
 */
import { WorkerCrashedError, WorkerReportedError } from '../engine.errors';
import type { PhonemizedSentence } from '../piper-engine';
import type { WorkerReply, WorkerRequest } from '../worker-protocol';
import type { JobOutcome } from './pool-api';
import type { PooledVoice, VoiceBudget } from './voice-budget';
import type { PoolWorker, WorkerSupervisor } from './worker-supervisor';

/** A job request before the runner numbers it. */
export type JobMessage<R = Exclude<WorkerRequest, { type: 'unload' }>> = R extends unknown
  ? Omit<R, 'jobId'>
  : never;

/** A reply that ends a job. */
export type JobReply = Exclude<WorkerReply, { type: 'ready' | 'warning' | 'planned' | 'unloaded' }>;

/** How a job ended: its reply, or the reason it never got one. */
export type JobEnd =
  { reply: JobReply } | { outcome: Exclude<JobOutcome, 'done' | 'cancelled'>; error: Error };

/** Sessions a job loads, by voice. */
export type SessionLoads = Map<PooledVoice<PoolWorker>, number>;

export interface WorkerJob {
  readonly id: number;
  readonly worker: PoolWorker;
  /** The id of the request it plans or speaks a sentence of (undefined for loads and phonemize calls). */
  readonly runId?: number;
  /** It has been paused for a preempting sentence: it is not paused again. */
  preempted: boolean;
  /** A plan's sentences, before the job goes on with the first one. */
  onPlanned?: (sentences: PhonemizedSentence[]) => void;
  readonly ended: boolean;
}

interface RunningJob extends WorkerJob {
  ended: boolean;
  readonly loads: SessionLoads;
  readonly onEnd: (end: JobEnd) => void;
}

export interface JobRunnerEvents {
  /** A job ended, before its owner hears it (preemption ends, a worker's memory is checked). */
  ending(job: WorkerJob, end: JobEnd): void;
  /** A job ended and its owner has heard it: the worker may be free for the next. */
  ended(job: WorkerJob): void;
}

export class JobRunner {
  private nextJobId = 1;
  private readonly jobs = new Map<PoolWorker, RunningJob>();

  constructor(
    private readonly supervisor: WorkerSupervisor,
    private readonly budget: VoiceBudget<PoolWorker>,
    private readonly events: JobRunnerEvents,
  ) {}

  /** The job the worker runs now. */
  jobOf(worker: PoolWorker): WorkerJob | undefined {
    return this.jobs.get(worker);
  }

  /**
   * Sends a job to a worker that has none (an available one, or a starting one for its
   * first load). `loads`: sessions it loads, which count as loading until it ends.
   */
  start(
    worker: PoolWorker,
    message: JobMessage,
    onEnd: (end: JobEnd) => void,
    options: { loads?: SessionLoads; runId?: number } = {},
  ): WorkerJob {
    const loads: SessionLoads = options.loads ?? new Map<PooledVoice<PoolWorker>, number>();
    for (const [voice, sessions] of loads) this.budget.beginLoading(voice, sessions);
    const job: RunningJob = {
      id: this.nextJobId++,
      worker,
      runId: options.runId,
      preempted: false,
      ended: false,
      loads,
      onEnd,
    };
    this.jobs.set(worker, job);
    if (!worker.alive) {
      // The worker died and its exit has not been handled yet.
      queueMicrotask(() =>
        this.end(job, {
          outcome: 'crashed',
          error: new WorkerCrashedError('exited before the job started'),
        }),
      );
      return job;
    }
    try {
      this.supervisor.send(worker, { ...message, jobId: job.id });
    } catch (error) {
      // Options that cannot be cloned (a function, a symbol): the request's fault, not the worker's.
      const failure = error instanceof Error ? error : new Error(String(error));
      queueMicrotask(() => this.end(job, { outcome: 'error', error: failure }));
    }
    return job;
  }

  /** A reply from a worker: a plan's sentences, or the end of its job (one for a job that ended already is dropped). */
  onReply(worker: PoolWorker, reply: Extract<WorkerReply, { jobId: number }>): void {
    const job = this.jobs.get(worker);
    if (job?.id !== reply.jobId) return;
    if (reply.type === 'planned') job.onPlanned?.(reply.sentences);
    else this.end(job, { reply });
  }

  /** Ends the worker's job, if it runs one, without a reply (its worker exited, the pool stopped). */
  fail(worker: PoolWorker, end: Extract<JobEnd, { error: Error }>): void {
    const job = this.jobs.get(worker);
    if (job) this.end(job, end);
  }

  /** Ends a job once, whoever gets there first (its reply, a timeout, its worker's exit). */
  end(job: WorkerJob, end: JobEnd): void {
    const running = job as RunningJob;
    if (running.ended) return;
    running.ended = true;
    for (const [voice, sessions] of running.loads) this.budget.endLoading(voice, sessions);
    if (this.jobs.get(job.worker) === job) this.jobs.delete(job.worker);
    this.events.ending(job, end);
    running.onEnd(end);
    this.events.ended(job);
  }
}

/** A reply that ended a job other than as expected, as the error it stands for. */
export function replyError(reply: JobReply): Error {
  if (reply.type === 'error') {
    return new WorkerReportedError(reply.error.code, reply.error.message, reply.error.name);
  }
  return new Error(`unexpected reply ${reply.type} from a synthesis worker`);
}
