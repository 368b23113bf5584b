/**
 * Which voice loads a worker runs, and what each one's end means. Three kinds:
 *   - pins: the pinned voices (the default one), with their all-cores session, in every
 *     worker before its first request and again whenever the pins change; a worker is
 *     ready while it has them (or served the pins before these and is loading these);
 *   - on-demand loads: a job of a voice its worker lacks loads it first (the bounds are
 *     kept by evicting least recently used voices), and a load that fails is forgotten;
 *   - loads of their own: a PRELOAD_VOICES voice queued for a worker, or a second copy
 *     of a voice whose sentences wait for its busy worker (dispatch-policy.ts decides).
 * The VoiceBudget keeps the books; the JobRunner sends the jobs. Readiness and the end
 * of a worker's first load go up as return values and `VoiceLoaderEvents`.
 */
import { WorkerReportedError } from '../engine.errors';
import { secondCopies, type PoolView, type VoiceView, type WorkerView } from './dispatch-policy';
import type { VoiceIdentity, VoicePaths } from '../piper-engine';
import { VOICE_FILES_MISSING_CODE, type PreloadVoice } from '../worker-protocol';
import { replyError, type JobEnd, type JobRunner, type SessionLoads } from './job-runner';
import type { EnginePoolLogger } from './pool-api';
import type { PooledVoice, VoiceBudget } from './voice-budget';
import type { PoolWorker } from './worker-supervisor';

/** Codes of the errors of a voice that did not load (its files), as a worker reports them. */
const VOICE_LOAD_ERRORS = new Set([
  'VOICE_CONFIG_INVALID',
  'VOICE_MODEL_INVALID',
  VOICE_FILES_MISSING_CODE,
]);

/** A worker's voice loads. */
interface WorkerLoads {
  /** It has every pinned voice (its last load of them succeeded), or served the pins before these. */
  ready: boolean;
  /** Its last load of the pinned voices succeeded and there was at least one. */
  heldPins: boolean;
  /** Pinned voices it failed to load: not tried again until the pins change. */
  readonly failedPins: Set<string>;
  /** Waiting for its next load of the pinned voices (`pin` calls). */
  readonly pinWaiters: ((error?: Error) => void)[];
  /** PRELOAD_VOICES voices assigned to it, loaded (one job each) when it is idle. */
  readonly queue: { voice: VoicePaths; settle: () => void }[];
}

export interface VoiceLoaderEvents {
  /** A worker's first load of the pinned voices ended (`reachedWorker`: the worker answered it). */
  startupEnded(
    worker: PoolWorker,
    result: { error?: Error; rssBytes?: number; reachedWorker: boolean },
  ): void;
}

export class VoiceLoader {
  private readonly loads = new Map<PoolWorker, WorkerLoads>();

  constructor(
    private readonly budget: VoiceBudget<PoolWorker>,
    private readonly jobs: JobRunner,
    /** `wide`: pinned voices get an all-cores session too. */
    private readonly options: { wide: boolean; logger: EnginePoolLogger },
    private readonly events: VoiceLoaderEvents,
  ) {}

  isReady(worker: PoolWorker): boolean {
    return this.loads.get(worker)?.ready ?? false;
  }

  /** Pinned voices it misses, or PRELOAD_VOICES voices queued for it. */
  hasLoadsPending(worker: PoolWorker): boolean {
    return this.missingPins(worker).length > 0 || this.of(worker).queue.length > 0;
  }

  /** The worker exited: its replacement loads the pins; the voices queued for it load on demand. */
  forget(worker: PoolWorker): void {
    const loads = this.loads.get(worker);
    if (!loads) return;
    this.loads.delete(worker);
    for (const settle of loads.pinWaiters.splice(0)) settle();
    for (const queued of loads.queue.splice(0)) queued.settle();
  }

  /**
   * Pins exactly these voices in every live worker; resolves when each has them,
   * rejects if one fails to. A worker that served the pins before stays ready while it
   * loads these: requests wait for the load (about as long as one), where a readiness
   * that dropped on every worker, and so on every replica reading the same MODEL_DIR,
   * would leave a Service with no endpoint. One that never held a pinned voice (the
   * first DEFAULT_MODEL install) is ready once it has them.
   */
  pin(voices: VoicePaths[], workers: PoolWorker[]): Promise<void> {
    this.budget.pin(voices);
    const waits: Promise<void>[] = [];
    for (const worker of workers) {
      const loads = this.of(worker);
      loads.failedPins.clear();
      if (this.missingPins(worker).length === 0) {
        // It has them all (a starting worker's first load reports for itself).
        if (worker.lifecycle !== 'starting') loads.ready = true;
        continue;
      }
      if (!loads.heldPins) loads.ready = false;
      waits.push(
        new Promise<void>((resolve, reject) =>
          loads.pinWaiters.push((error) => (error ? reject(error) : resolve())),
        ),
      );
    }
    return Promise.all(waits).then(() => undefined);
  }

  /**
   * Queues each voice (PRELOAD_VOICES) once, on the worker holding the least of the
   * voices other than the pinned ones; resolves when each is loaded or skipped (see
   * `startNextLoad`).
   */
  preload(voices: VoicePaths[], workers: PoolWorker[]): Promise<void> {
    const assigned = new Map<PoolWorker, number>();
    const loaded: Promise<void>[] = [];
    for (const paths of voices) {
      const voice = this.budget.voice(paths);
      if (voice.sessions > 0) continue;
      let target: PoolWorker | undefined;
      let targetBytes = Infinity;
      for (const worker of workers) {
        const bytes = this.budget.unpinnedBytesIn(worker) + (assigned.get(worker) ?? 0);
        if (bytes < targetBytes) [target, targetBytes] = [worker, bytes];
      }
      if (!target) break;
      assigned.set(target, targetBytes + voice.sessionBytes);
      const queue = this.of(target).queue;
      loaded.push(new Promise<void>((resolve) => queue.push({ voice: paths, settle: resolve })));
    }
    return Promise.all(loaded).then(() => undefined);
  }

  /**
   * An idle (or just started) worker's next loads: the pinned voices it misses, all in
   * one job, or else the next PRELOAD_VOICES voice queued for it, if it fits the bounds
   * without evicting another (else it is skipped with a warning and loads on demand).
   */
  startNextLoad(worker: PoolWorker, startup = false): void {
    const pins = this.missingPins(worker);
    if (pins.length > 0 || startup) {
      this.startPinLoad(worker, pins, startup);
      return;
    }
    const queued = this.of(worker).queue.shift();
    if (!queued) return;
    const voice = this.budget.voice(queued.voice);
    if (voice.sessions > 0 || voice.retired) {
      queued.settle();
      return;
    }
    if (!this.budget.makeRoom(voice, 1, 'fit')) {
      this.options.logger.warn(
        `not preloading voice ${voice.paths.modelPath}: it does not fit within the voice ` +
          'bounds (MAX_LOADED_VOICES, VOICE_MEMORY_MB) without evicting another; it loads on demand',
      );
      queued.settle();
      return;
    }
    this.loadCopy(worker, voice, queued.settle);
  }

  /**
   * Nothing waiting can run on the idle workers: loads the second copies the policy
   * picks (dispatch-policy.ts `secondCopies`), each if it still fits the bounds.
   */
  loadSecondCopies(pool: {
    view: PoolView;
    voiceOf(voice: VoiceView): PooledVoice<PoolWorker>;
    workerOf(worker: WorkerView): PoolWorker;
  }): void {
    const fits = (voice: PooledVoice<PoolWorker>): boolean => this.budget.makeRoom(voice, 1, 'fit');
    for (const copy of secondCopies(pool.view, (voice) => fits(pool.voiceOf(voice)))) {
      const voice = pool.voiceOf(copy.voice);
      const worker = pool.workerOf(copy.worker);
      if (!fits(voice)) continue;
      this.options.logger.log(
        `${copy.waitingSentences} sentences of voice ${voice.paths.modelPath} wait for a busy worker: ` +
          `loading another copy of it in worker ${worker.pid}`,
      );
      this.loadCopy(worker, voice);
    }
  }

  /** Loads one voice in a job of its own (a second copy, a PRELOAD_VOICES voice). */
  loadCopy(worker: PoolWorker, voice: PooledVoice<PoolWorker>, onLoaded?: () => void): void {
    this.budget.beginCopyLoad(voice, worker);
    this.budget.addSession(voice, worker);
    this.jobs.start(
      worker,
      { type: 'preload', voices: [{ ...voice.paths, wide: false }] },
      (end) => {
        this.budget.endCopyLoad(voice, worker);
        const error = loadError(end, voice.identity);
        if (error) {
          this.budget.dropSessions(voice, worker);
          this.options.logger.warn(`voice ${voice.paths.modelPath} did not load: ${error.message}`);
        }
        onLoaded?.();
      },
      { loads: new Map([[voice, 1]]) },
    );
  }

  /**
   * A job of `voice` is about to start on `worker`: if the worker lacks it, the job
   * loads it first (room is made by evicting least recently used voices). Returns the
   * sessions it loads and what to do when it ends: a load that failed leaves the worker
   * known not to hold the voice.
   */
  forJob(
    worker: PoolWorker,
    voice: PooledVoice<PoolWorker>,
  ): { loads: SessionLoads; ended: (end: JobEnd) => void } {
    if (this.budget.has(worker, voice)) return { loads: new Map(), ended: () => undefined };
    this.budget.makeRoom(voice, 1, 'evict');
    this.budget.addSession(voice, worker);
    return {
      loads: new Map([[voice, 1]]),
      ended: (end) => {
        if (
          'reply' in end &&
          end.reply.type === 'error' &&
          VOICE_LOAD_ERRORS.has(end.reply.error.code)
        ) {
          this.budget.dropSessions(voice, worker);
        }
      },
    };
  }

  private of(worker: PoolWorker): WorkerLoads {
    let loads = this.loads.get(worker);
    if (!loads) {
      loads = { ready: false, heldPins: false, failedPins: new Set(), pinWaiters: [], queue: [] };
      this.loads.set(worker, loads);
    }
    return loads;
  }

  /** The pinned voices this worker has not loaded (nor failed to, since the pins changed). */
  private missingPins(worker: PoolWorker): PooledVoice<PoolWorker>[] {
    const { failedPins } = this.of(worker);
    return this.budget
      .pinned()
      .filter(
        (voice) =>
          !failedPins.has(voice.key) &&
          (!this.budget.has(worker, voice) ||
            (this.options.wide && !this.budget.hasWide(worker, voice))),
      );
  }

  private startPinLoad(
    worker: PoolWorker,
    pins: PooledVoice<PoolWorker>[],
    startup: boolean,
  ): void {
    const { wide } = this.options;
    const voices: PreloadVoice[] = [];
    const sessionLoads: SessionLoads = new Map();
    for (const voice of pins) {
      const sessions =
        (this.budget.has(worker, voice) ? 0 : 1) +
        (wide && !this.budget.hasWide(worker, voice) ? 1 : 0);
      this.budget.makeRoom(voice, sessions, 'evict');
      this.budget.addSession(voice, worker);
      if (wide) this.budget.addSession(voice, worker, true);
      sessionLoads.set(voice, sessions);
      voices.push({ ...voice.paths, wide });
    }
    const loads = this.of(worker);
    const waiters = loads.pinWaiters.splice(0);
    this.jobs.start(
      worker,
      { type: 'preload', voices },
      (end) => {
        let error: Error | undefined;
        let rssBytes: number | undefined;
        if ('error' in end) error = end.error;
        else if (end.reply.type !== 'done') error = replyError(end.reply);
        else {
          rssBytes = end.reply.rssBytes;
          for (const failure of end.reply.failures) {
            const voice = pins.find((pin) => sameVoice(pin.identity, failure.voice));
            if (voice) {
              this.budget.dropSessions(voice, worker);
              loads.failedPins.add(voice.key);
            }
            error ??= new WorkerReportedError(
              failure.error.code,
              failure.error.message,
              failure.error.name,
            );
          }
        }
        loads.ready = error === undefined;
        loads.heldPins = loads.ready && pins.length > 0;
        for (const settle of waiters) settle(error);
        if (error && !('error' in end)) {
          this.options.logger.error(
            `synthesis worker ${worker.pid}: loading voices failed: ${error.message}`,
          );
        }
        if (startup) {
          this.events.startupEnded(worker, { error, rssBytes, reachedWorker: !('error' in end) });
        }
      },
      { loads: sessionLoads },
    );
  }
}

function sameVoice(a: VoiceIdentity, b: VoiceIdentity): boolean {
  return a.modelPath === b.modelPath && (a.revision ?? '') === (b.revision ?? '');
}

/** Why a one-voice load job failed, or undefined if the voice loaded. */
function loadError(end: JobEnd, voice: VoiceIdentity): Error | undefined {
  if ('error' in end) return end.error;
  if (end.reply.type !== 'done') return replyError(end.reply);
  const failure = end.reply.failures.find((f) => sameVoice(f.voice, voice));
  if (!failure) return undefined;
  return new WorkerReportedError(failure.error.code, failure.error.message, failure.error.name);
}
