/**
 * Synthesis in long-lived worker subprocesses (synth-worker.ts) under a concurrency
 * limiter, scheduling sentences rather than requests. Plain TypeScript, no Nest:
 * PoolPiperEngine wraps it for the server.
 *
 * Why processes: a voice takes about 2 s to load and milliseconds to speak a sentence
 * (../shared/PIPER_CONTRACT.md §8), so workers keep voices loaded; inference is CPU
 * bound, so it must not run on the event loop that serves HTTP; and a request that
 * hangs or crashes the engine can be ended by killing one process without taking the
 * server down.
 *
 * A request's way through the pool:
 *   1. a slot: at most `maxConcurrent` requests hold one for their whole synthesis,
 *      at most `maxQueue` wait for one, the next gets EngineBusyError at once;
 *   2. a plan: the first idle worker checks the options and cuts the text into the
 *      sentences Piper speaks (phonemizing is 1–3 ms a sentence; the network is the
 *      cost), exactly as PiperVoice.synthesize would, then goes on with the first
 *      sentence;
 *   3. its other sentences: each one is a job of its own on whichever worker is idle, chosen
 *      round robin across the requests holding slots (sentence-scheduler.ts), and
 *      put back in order here: a stream yields a sentence as soon as it and every
 *      sentence before it are back.
 * So a long text on an idle pool is synthesized by every worker at once, and a short
 * request behind a long one waits for about one of its sentences, not all of them.
 *
 * Request-level guarantees are kept at request level: a request runs for at most
 * `timeoutMs` from its plan to its last sentence; past it the request fails with
 * SynthesisTimeoutError and any worker still running one of its sentences is killed
 * and replaced. Cancelling (the consumer stops, or its signal aborts) stops handing out
 * its sentences; the slot goes back once the sentences already running end (at most
 * one per worker). A worker that dies fails the request whose job it ran with
 * WorkerCrashedError and is replaced; other requests carry on on the other workers. A
 * fresh worker loads the pinned voices before it takes a job.
 *
 * Where voices are loaded (issue 5). The pinned voice (the default one) is loaded in
 * every worker, with its all-cores session, and never evicted. Any other voice is loaded
 * in one worker, by the first job that needs it (on the idle worker holding the least
 * of such voices). A job of that voice goes to an idle worker that has it; when every
 * worker that has it is busy, it waits for one rather than load the voice again
 * elsewhere (a load costs ~2 s, a sentence ~0.2 s, §8), and the round robin goes on
 * with the requests that can run. Only when SECOND_COPY_WAITING_SENTENCES of its
 * sentences wait and a worker is idle is another copy loaded there, as a job of its
 * own so the waiting sentences lose nothing to it. voice-budget.ts keeps the loaded
 * voices within MAX_LOADED_VOICES and VOICE_MEMORY_MB, least recently used out first.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { concatPcm } from '@app/piper';
import { ConcurrencyLimiter, type ReleaseSlot } from './concurrency-limiter';
import {
  EngineBusyError,
  EngineStoppedError,
  SynthesisTimeoutError,
  WorkerCrashedError,
  WorkerReportedError,
} from './engine.errors';
import type {
  EngineAudio,
  EngineSentence,
  EngineStats,
  EngineSynthesisRequest,
  PhonemizedSentence,
} from './piper-engine';
import { SentenceScheduler, type SchedulableRequest } from './sentence-scheduler';
import { PooledVoice, VoiceBudget } from './voice-budget';
import {
  VOICE_FILES_MISSING_CODE,
  type PreloadFailure,
  type PreloadVoice,
  type VoiceIdentity,
  type VoicePaths,
  type WorkerReply,
  type WorkerRequest,
} from './worker-protocol';

export type { VoiceIdentity, VoicePaths } from './worker-protocol';

export interface EnginePoolLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface EnginePoolOptions {
  workers: number;
  /** onnxruntime intra-op threads in each worker. */
  intraOpThreads: number;
  /**
   * Threads of a second session of each pinned voice in every worker, used for a
   * sentence that starts while every other worker is idle and nothing else waits (a
   * short request on an idle server), so it runs at the speed of one worker using
   * every core. 0 or absent: none. Costs the voice's memory once more per worker.
   */
  idleIntraOpThreads?: number;
  /**
   * A request's only sentence that would otherwise wait while every busy worker runs a
   * sentence of a request with more sentences waiting (a long text) runs on its
   * worker's all-cores session, and those workers are paused (SIGSTOP) until it ends
   * (SIGCONT): see `preemptionFor`. Needs `idleIntraOpThreads`; off on Windows, which
   * cannot pause a process.
   */
  preemption?: boolean;
  maxConcurrent: number;
  maxQueue: number;
  /** Longest a request may run, from its plan on a worker to its last sentence. */
  timeoutMs: number;
  /**
   * Pinned voices: every worker loads them before it takes requests (also given to
   * `start`, or later to `setPinnedVoices`), and they are never evicted.
   */
  preload?: VoicePaths[];
  /**
   * A worker whose resident memory passes this after a sentence is replaced by a fresh
   * one (WORKER_MAX_RSS_MB): onnxruntime keeps the buffers of the longest sentence a
   * session has spoken. 0 or absent: never. Not applied to a worker that starts above it.
   */
  maxWorkerRssBytes?: number;
  /** Distinct voices loaded at once in the whole pool (MAX_LOADED_VOICES); 0 or absent: no bound. */
  maxLoadedVoices?: number;
  /**
   * Estimated memory of every voice session in every worker (VOICE_MEMORY_MB), in
   * bytes; 0 or absent: no bound.
   */
  voiceMemoryBytes?: number;
  /** Memory of one session of a voice (tests); default: its file size times a measured factor. */
  estimateVoiceBytes?: (modelPath: string) => number;
  /** Called for each voice evicted to stay within the bounds (metrics). */
  onVoiceEvicted?: (voice: VoiceIdentity) => void;
  /** Called when a worker has released a voice's sessions (tests, tracing). */
  onVoiceUnloaded?: (unloaded: VoiceUnloaded) => void;
  logger?: EnginePoolLogger;
  /** Called when a request ends, however it ends (metrics, tests). */
  onJobSettled?: (job: SettledJob) => void;
  /** Called each time a job is handed to a worker (tests, tracing). */
  onDispatch?: (dispatch: Dispatch) => void;
}

export type JobOutcome = 'done' | 'cancelled' | 'error' | 'timeout' | 'crashed' | 'stopped';

/** A request (a synthesis, all its sentences, or a phonemize call) that ended. */
export interface SettledJob {
  kind: 'synthesize' | 'phonemize';
  /** The worker that ran its last job (for a crash or a timeout: the one that failed it). */
  workerPid: number;
  outcome: JobOutcome;
  /** Sentences synthesized for it, cancelled ones' stragglers included. */
  sentenceCount: number;
  /** From its first job's start on a worker to its end. */
  durationMs: number;
}

/** A job handed to a worker. */
export interface Dispatch {
  kind: 'plan' | 'sentence' | 'phonemize';
  /** Numbered in order of arrival at the pool, from 1. */
  requestId: number;
  /** The sentence's index in its request (sentences only). */
  sentenceIndex?: number;
  /** It runs on the worker's session with every core (`idleIntraOpThreads`). */
  wide?: boolean;
  /** Workers paused (their sentences preempted) while it runs; absent: none. */
  pausedWorkerPids?: number[];
  workerPid: number;
}

/** A worker released the sessions of voices (evicted or retired). */
export interface VoiceUnloaded {
  workerPid: number;
  voices: VoiceIdentity[];
  /** Sessions it released (a voice may have two in a worker). */
  sessions: number;
}

/**
 * Sentences of a voice that must wait for a busy worker before another copy of it is
 * loaded on an idle one. Fewer is a request streaming on the worker that has its voice
 * (its next sentence waits for the one running, and one or two more queue behind when
 * it arrives): under light traffic that must not load the voice twice (issue 5), and
 * waiting costs one sentence (~0.2 s) where a load costs ~2 s (§8). Four waiting
 * sentences are about a second of that worker's work still ahead, and more keep coming
 * with a burst: the copy, loaded as a job of its own on a worker that is idle anyway,
 * delays none of them and takes the burst's next sentences from then on.
 */
export const SECOND_COPY_WAITING_SENTENCES = 4;

/**
 * Sentences of a request still waiting for a worker, at least, for its running ones to
 * be paused for another request's only sentence (see `preemptionFor`): a text with
 * this much work ahead is a long one, and one short sentence more hardly delays it.
 */
export const PREEMPTIBLE_WAITING_SENTENCES = 2;

/** Time a worker gets to exit after `disconnect()` at shutdown before SIGKILL. */
const EXIT_GRACE_MS = 2_000;
/** Longest pause before restarting a worker that died while starting (doubling from 500 ms). */
const MAX_RESTART_DELAY_MS = 30_000;
/** Bounds of the Retry-After estimate given with EngineBusyError. */
const MAX_RETRY_AFTER_SECONDS = 60;

/** A job request before the pool numbers it. */
type JobMessage<R = Exclude<WorkerRequest, { type: 'unload' }>> = R extends unknown
  ? Omit<R, 'jobId'>
  : never;
/** A reply that ends a job. */
type JobReply = Exclude<WorkerReply, { type: 'ready' | 'warning' | 'planned' | 'unloaded' }>;
/** How a job ended: its reply, or the reason it never got one. */
type JobEnd =
  { reply: JobReply } | { outcome: 'error' | 'timeout' | 'crashed' | 'stopped'; error: Error };

interface PoolWorker {
  readonly child: ChildProcess;
  readonly pid: number;
  /** starting: forked, pinned voices not loaded yet; busy: running a job. */
  state: 'starting' | 'idle' | 'busy' | 'exited';
  /**
   * It has every pinned voice loaded (its last load of them succeeded), or it served
   * the pinned voices before these and is loading these now (see `setPinnedVoices`).
   */
  ready: boolean;
  /** Its last load of the pinned voices succeeded and there was at least one. */
  heldPins: boolean;
  /** Pinned voices it failed to load: not tried again until the pins change. */
  readonly failedPins: Set<string>;
  /** Waiting for its next load of the pinned voices: `setPinnedVoices` calls. */
  readonly pinWaiters: ((error?: Error) => void)[];
  /** Voices assigned to it by `preloadVoices`, loaded (one job each) when it is idle. */
  readonly loadQueue: QueuedLoad[];
  job: WorkerJob | undefined;
  /** Set when the pool ends it on purpose, so its exit is not reported as a crash. */
  killedFor: 'timeout' | 'shutdown' | 'memory' | undefined;
  /** Its resident memory once its pinned voices were loaded (WORKER_MAX_RSS_MB). */
  startRssBytes: number | undefined;
  readonly exited: Promise<void>;
  markExited(): void;
  /** Settles when the preload finishes: rejects if it fails or the worker dies first. */
  readonly startup: Promise<void>;
  settleStartup(error?: Error): void;
}

/** A PRELOAD_VOICES voice waiting for its worker to be idle. */
interface QueuedLoad {
  readonly voice: VoicePaths;
  readonly settle: () => void;
}

/** One job on one worker; `onEnd` is called exactly once. */
interface WorkerJob {
  readonly id: number;
  readonly worker: PoolWorker;
  /** The request it plans or speaks a sentence of (undefined for loads and phonemize calls). */
  run?: SynthesisRun;
  /** It has been paused for a preempting sentence: it is not paused again. */
  preempted?: boolean;
  readonly onEnd: (end: JobEnd) => void;
  /** Sessions it loads, by voice: they count as loading until it ends. */
  readonly loads: Map<PooledVoice<PoolWorker>, number>;
  /** A plan's sentences, before the job goes on with the first one. */
  onPlanned?: (sentences: PhonemizedSentence[]) => void;
  ended: boolean;
}

/**
 * A request being synthesized: its plan, which sentences are out on workers, the audio
 * back from them and not yet consumed (kept until every sentence before it is back).
 */
class SynthesisRun implements SchedulableRequest {
  startedAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Workers running a job of this request now (its plan or a sentence). */
  readonly running = new Set<WorkerJob>();
  sentences: PhonemizedSentence[] | undefined;
  planStarted = false;
  nextToDispatch = 0;
  sentenceCount = 0;
  lastWorkerPid = -1;
  /** done, failed, or cancelled with nothing running any more. */
  settled = false;
  cancelled = false;
  error: Error | undefined;
  private readonly audio = new Map<number, EngineSentence>();
  private nextToYield = 0;
  private wake: (() => void) | undefined;

  constructor(
    readonly id: number,
    readonly request: EngineSynthesisRequest,
    /** Its voice, in use (not evictable) until the request settles. */
    readonly voice: PooledVoice<PoolWorker>,
    readonly releaseSlot: ReleaseSlot,
  ) {}

  /** Its plan (with its first sentence) counts as one until it starts. */
  get pendingSentences(): number {
    if (this.cancelled || this.error) return 0;
    if (!this.sentences) return this.planStarted ? 0 : 1;
    return this.sentences.length - this.nextToDispatch;
  }

  get sentencesInFlight(): number {
    return this.running.size;
  }

  /** Every sentence is back (the consumer may not have read them all yet). */
  get complete(): boolean {
    return this.sentences !== undefined && this.sentenceCount === this.sentences.length;
  }

  deliver(sentence: EngineSentence): void {
    if (this.cancelled || this.error) return;
    this.audio.set(sentence.index, sentence);
    if (sentence.index === this.nextToYield) this.notify();
  }

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The next sentence in order; undefined at the end or after cancel; throws how the request failed. */
  async next(): Promise<EngineSentence | undefined> {
    for (;;) {
      const sentence = this.audio.get(this.nextToYield);
      if (sentence) {
        this.audio.delete(this.nextToYield);
        this.nextToYield += 1;
        return sentence;
      }
      if (this.error) throw this.error;
      if (this.cancelled) return undefined;
      if (this.sentences && this.nextToYield >= this.sentences.length) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  dropAudio(): void {
    this.audio.clear();
  }
}

/** A phonemize call waiting for, or running on, a worker. */
interface PhonemizeCall {
  readonly id: number;
  readonly voice: PooledVoice<PoolWorker>;
  readonly message: JobMessage<Extract<WorkerRequest, { type: 'phonemize' }>>;
  readonly resolve: (sentences: PhonemizedSentence[]) => void;
  readonly reject: (error: Error) => void;
}

/** What the scheduler's quick queue holds: phonemize calls. */
type QuickJob = { kind: 'phonemize'; call: PhonemizeCall };

export class EnginePool {
  private state: 'new' | 'running' | 'draining' | 'stopped' = 'new';
  private readonly workers = new Set<PoolWorker>();
  private readonly scheduler = new SentenceScheduler<QuickJob, SynthesisRun>();
  /** Requests holding a slot and not settled. */
  private readonly runs = new Set<SynthesisRun>();
  private readonly limiter: ConcurrencyLimiter;
  private readonly logger: EnginePoolLogger;
  private readonly budget: VoiceBudget<PoolWorker>;
  private started: Promise<void> | undefined;
  /** Every worker of start() has finished starting (well or not). */
  private startedUp = false;
  private stopped: Promise<void> | undefined;
  private nextJobId = 1;
  private nextRequestId = 1;
  /** Moving average of a request's time from its plan to its end, for Retry-After. */
  private averageRequestMs = 1_000;
  private failedStarts = 0;
  /** Workers started to replace one that died or was killed (metrics). */
  private replacedWorkers = 0;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  /** The job that preempts (see `preemptionFor`) and the workers paused until it ends. */
  private preempting: { job: WorkerJob; paused: Set<PoolWorker> } | undefined;
  /** Jobs that preempted other workers' sentences (metrics). */
  private preemptions = 0;
  /** Workers replaced for outgrowing `maxWorkerRssBytes` (metrics). */
  private memoryReplacedWorkers = 0;
  private warnedMemoryBound = false;

  constructor(private readonly options: EnginePoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new RangeError(`workers must be a positive integer, got ${options.workers}`);
    }
    if (!(options.timeoutMs > 0)) {
      throw new RangeError(`timeoutMs must be positive, got ${options.timeoutMs}`);
    }
    this.limiter = new ConcurrencyLimiter(
      options.maxConcurrent,
      options.maxQueue,
      () => new EngineBusyError(this.retryAfterSeconds()),
    );
    this.logger = options.logger ?? console;
    this.budget = new VoiceBudget<PoolWorker>({
      maxLoadedVoices: options.maxLoadedVoices ?? 0,
      memoryBytes: options.voiceMemoryBytes ?? 0,
      estimateBytes: options.estimateVoiceBytes,
      logger: this.logger,
      onEvict: options.onVoiceEvicted,
      unload: (worker, voices) => this.send(worker, { type: 'unload', voices }),
    });
    this.budget.pin(options.preload ?? []);
  }

  /**
   * Forks the workers; resolves when every one has loaded the pinned voices: `preload`
   * (which replaces the pinned voices), else the option's or those of
   * `setPinnedVoices`. Rejects if one fails to load (the workers keep running and load
   * voices on demand, but `isReady()` stays false). Calling it again returns the first
   * call's promise.
   */
  start(preload?: VoicePaths[]): Promise<void> {
    if (this.state === 'draining' || this.state === 'stopped') {
      return Promise.reject(new EngineStoppedError());
    }
    if (this.started) return this.started;
    this.state = 'running';
    if (preload) this.budget.pin(preload);
    const startups = Array.from({ length: this.options.workers }, () => this.spawnWorker().startup);
    this.started = Promise.allSettled(startups).then((results) => {
      this.startedUp = true;
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
      this.logger.log(
        `${this.options.workers} synthesis worker(s) ready, ${this.options.intraOpThreads} thread(s) each` +
          `${this.options.idleIntraOpThreads ? ` (${this.options.idleIntraOpThreads} when the pool is otherwise idle)` : ''}, ${this.budget.pinned().length} voice(s) preloaded`,
      );
    });
    return this.started;
  }

  /**
   * Pins exactly these voices (the default one): every worker loads them, with their
   * all-cores session, before its next job, and they are never evicted; the voices
   * pinned before become ordinary ones (evictable). Resolves when every live worker has
   * them; rejects if one fails to load them. The pool stays ready meanwhile if its
   * workers held the voices pinned before. Before start(), it only sets what start()
   * loads.
   */
  setPinnedVoices(voices: VoicePaths[]): Promise<void> {
    if (this.state === 'draining' || this.state === 'stopped') {
      return Promise.reject(new EngineStoppedError());
    }
    this.budget.pin(voices);
    const waits: Promise<void>[] = [];
    for (const worker of this.workers) {
      if (worker.state === 'exited') continue;
      worker.failedPins.clear();
      if (this.missingPins(worker).length === 0) {
        // It has them all (a starting worker's first load reports for itself).
        if (worker.state !== 'starting') worker.ready = true;
        continue;
      }
      // A worker that served the voices pinned before stays ready while it loads these:
      // requests wait for the load (about as long as one), where a readiness that
      // dropped on every worker, and so on every replica reading the same MODEL_DIR,
      // would leave a Service with no endpoint. One that never held a pinned voice (the
      // first DEFAULT_MODEL install) is ready once it has them.
      if (!worker.heldPins) worker.ready = false;
      waits.push(
        new Promise<void>((resolve, reject) =>
          worker.pinWaiters.push((error) => (error ? reject(error) : resolve())),
        ),
      );
    }
    this.dispatch();
    return Promise.all(waits).then(() => undefined);
  }

  /**
   * Loads each of these voices once (PRELOAD_VOICES), each on the worker that holds the
   * least of the voices other than the pinned ones, as far as the bounds allow without
   * evicting anything (one that does not fit is skipped with a warning and loads on
   * demand). Resolves when every one is loaded or skipped; a voice that fails to load
   * is logged. Before start(), it resolves at once without loading anything.
   */
  preloadVoices(voices: VoicePaths[]): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    const assigned = new Map<PoolWorker, number>();
    const loads: Promise<void>[] = [];
    for (const paths of voices) {
      const voice = this.budget.voice(paths);
      if (voice.sessions > 0) continue;
      let target: PoolWorker | undefined;
      let targetBytes = Infinity;
      for (const worker of this.workers) {
        if (worker.state === 'exited') continue;
        const bytes = this.budget.unpinnedBytesIn(worker) + (assigned.get(worker) ?? 0);
        if (bytes < targetBytes) [target, targetBytes] = [worker, bytes];
      }
      if (!target) break;
      assigned.set(target, targetBytes + voice.sessionBytes);
      const queue = target.loadQueue;
      loads.push(new Promise<void>((resolve) => queue.push({ voice: paths, settle: resolve })));
    }
    this.dispatch();
    return Promise.all(loads).then(() => undefined);
  }

  /**
   * The voice's files were removed or replaced: that revision (every revision when none
   * is given) is unpinned, and unloaded from every worker once no request uses it
   * (requests in flight finish on the sessions they have). A later request for it loads
   * its files again.
   */
  retireVoice(voice: VoiceIdentity): void {
    this.budget.retire(voice);
  }

  /**
   * True once start() has brought the workers up, until shutdown, while a worker has
   * every pinned voice loaded. While a worker is being replaced (timeout, crash) the
   * pool stays ready as long as another worker is: one bad request must not take the
   * instance out of rotation.
   */
  isReady(): boolean {
    return (
      this.state === 'running' &&
      this.startedUp &&
      [...this.workers].some((worker) => worker.ready && worker.state !== 'exited')
    );
  }

  stats(): EngineStats {
    const live = [...this.workers].filter((worker) => worker.state !== 'exited');
    const loaded = this.budget.loadedVoices();
    return {
      workers: this.options.workers,
      readyWorkers: live.filter((worker) => worker.ready).length,
      busyWorkers: live.filter((worker) => worker.state === 'busy').length,
      idleWorkers: live.filter((worker) => worker.state === 'idle').length,
      replacedWorkers: this.replacedWorkers,
      preemptions: this.preemptions,
      memoryReplacedWorkers: this.memoryReplacedWorkers,
      loadedVoices: loaded.reduce((sum, voice) => sum + voice.workers.size, 0),
      loadedVoiceDetails: this.budget.details(),
      estimatedVoiceBytes: this.budget.estimatedBytes(),
      voiceEvictions: this.budget.evictions,
      maxLoadedVoices: this.budget.maxLoadedVoices,
      voiceMemoryBytes: this.budget.memoryBytes,
      activeRequests: this.limiter.active,
      queuedRequests: this.limiter.queued,
      maxConcurrentRequests: this.limiter.maxConcurrent,
      maxQueue: this.limiter.maxQueue,
    };
  }

  /** Sentences waiting for a worker, over every request (tracing, benchmarks). */
  queuedSentences(): number {
    return this.scheduler.queuedSentences;
  }

  /** Process ids of the live workers (operations, tests). */
  workerPids(): number[] {
    return [...this.workers].map((worker) => worker.pid).filter((pid) => pid > 0);
  }

  /**
   * Sentence by sentence, in order. Nothing happens until the first `next()`, which is
   * where EngineBusyError and EngineStoppedError surface. When the consumer stops early
   * (`return()`, `break`) or `signal` aborts, no further sentence of it is handed to a
   * worker and the iteration ends without error; the slot is free once the sentences
   * already running end.
   */
  synthesize(
    request: EngineSynthesisRequest,
    signal?: AbortSignal,
  ): AsyncGenerator<EngineSentence, void, undefined> {
    return this.stream(request, signal);
  }

  /** The whole text as one buffer; throws the signal's reason if it aborts (never partial audio). */
  async synthesizeAll(request: EngineSynthesisRequest, signal?: AbortSignal): Promise<EngineAudio> {
    const started: { run?: SynthesisRun } = {};
    const sentences: EngineSentence[] = [];
    for await (const sentence of this.stream(request, signal, (run) => (started.run = run))) {
      sentences.push(sentence);
    }
    signal?.throwIfAborted();
    const startedAt = started.run?.startedAt;
    return {
      pcm: concatPcm(sentences.map((sentence) => sentence.pcm)),
      sampleRate: sentences[0]?.sampleRate ?? 0,
      sentenceCount: sentences.length,
      synthesisMs: startedAt === undefined ? 0 : performance.now() - startedAt,
    };
  }

  /** The sentences `synthesize` would speak, as phonemes and ids. */
  async phonemize(
    modelPath: string,
    configPath: string,
    text: string,
    revision?: string,
  ): Promise<PhonemizedSentence[]> {
    this.assertAccepting();
    const release = await this.limiter.acquire();
    const voice = this.budget.voice({ modelPath, configPath, revision });
    this.budget.beginUse(voice);
    try {
      return await new Promise<PhonemizedSentence[]>((resolve, reject) => {
        const call: PhonemizeCall = {
          id: this.nextRequestId++,
          voice,
          message: { type: 'phonemize', modelPath, configPath, revision, text },
          resolve,
          reject,
        };
        this.scheduler.addQuickJob({ kind: 'phonemize', call });
        this.dispatch();
      });
    } finally {
      this.budget.endUse(voice);
      release();
    }
  }

  /**
   * Stops accepting work (new calls and queued requests get EngineStoppedError), lets
   * running requests finish for up to `timeoutMs`, fails those still running with
   * EngineStoppedError, then ends every worker: disconnect (a worker exits when its
   * channel closes), SIGKILL after a short grace. Resolves when every worker process
   * has exited. Idempotent.
   */
  shutdown(timeoutMs: number): Promise<void> {
    this.stopped ??= this.stop(timeoutMs);
    return this.stopped;
  }

  private async stop(timeoutMs: number): Promise<void> {
    const stoppedError = new EngineStoppedError();
    if (this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    this.state = 'draining';
    this.limiter.close(stoppedError);
    let drainTimer: NodeJS.Timeout | undefined;
    const drainTimeout = new Promise<void>(
      (resolve) => (drainTimer = setTimeout(resolve, timeoutMs)),
    );
    await Promise.race([this.limiter.whenIdle(), drainTimeout]);
    clearTimeout(drainTimer);

    this.state = 'stopped';
    // A paused worker would not see its channel close.
    this.resumePaused();
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    for (const run of [...this.runs]) this.failRun(run, 'stopped', stoppedError);
    for (const job of this.scheduler.clear()) {
      if (job.kind === 'phonemize') job.call.reject(stoppedError);
    }
    const exits: Promise<void>[] = [];
    for (const worker of this.workers) {
      worker.killedFor = 'shutdown';
      this.endJob(worker.job, { outcome: 'stopped', error: stoppedError });
      exits.push(this.endWorker(worker));
    }
    await Promise.all(exits);
    this.logger.log('synthesis workers stopped');
  }

  private endWorker(worker: PoolWorker): Promise<void> {
    if (worker.state === 'exited') return worker.exited;
    const kill = setTimeout(() => worker.child.kill('SIGKILL'), EXIT_GRACE_MS);
    if (worker.child.connected) worker.child.disconnect();
    else worker.child.kill('SIGKILL');
    return worker.exited.finally(() => clearTimeout(kill));
  }

  private assertAccepting(): void {
    if (this.state === 'new') {
      throw new Error('EnginePool.start() must be called before the pool takes requests');
    }
    if (this.state !== 'running') throw new EngineStoppedError();
  }

  private async *stream(
    request: EngineSynthesisRequest,
    signal: AbortSignal | undefined,
    onStart?: (run: SynthesisRun) => void,
  ): AsyncGenerator<EngineSentence, void, undefined> {
    this.assertAccepting();
    let release: ReleaseSlot;
    try {
      release = await this.limiter.acquire(signal);
    } catch (error) {
      if (signal?.aborted) return;
      throw error;
    }
    if (signal?.aborted) {
      release();
      return;
    }
    // Only the contract's fields cross to the worker (a DTO instance may carry more).
    const { modelPath, configPath, revision, text, options } = request;
    const voice = this.budget.voice({ modelPath, configPath, revision });
    this.budget.beginUse(voice);
    const run = new SynthesisRun(
      this.nextRequestId++,
      { modelPath, configPath, ...(revision === undefined ? {} : { revision }), text, options },
      voice,
      release,
    );
    this.runs.add(run);
    onStart?.(run);
    const cancel = (): void => this.cancelRun(run);
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      this.scheduler.addRequest(run);
      this.dispatch();
      for (;;) {
        const sentence = await run.next();
        if (!sentence) return;
        yield sentence;
      }
    } finally {
      signal?.removeEventListener('abort', cancel);
      // Still running means the consumer stopped early.
      this.cancelRun(run);
    }
  }

  /**
   * Hands waiting work to idle workers until one or the other runs out. Called whenever
   * work arrives or a worker frees up.
   */
  private dispatch(): void {
    if (this.state === 'stopped') return;
    // A preempting sentence has the cores: anything started now would take them back.
    if (this.preempting) return;
    for (;;) {
      const idle = [...this.workers].filter((worker) => worker.state === 'idle');
      if (idle.length === 0) return;
      // Pinned voices first (readiness), then PRELOAD_VOICES, before any request.
      const loader = idle.find(
        (worker) => this.missingPins(worker).length > 0 || worker.loadQueue.length > 0,
      );
      if (loader) {
        this.startLoad(loader);
        continue;
      }
      // Round robin over the work that has a worker to run on; the rest waits for one.
      const work = this.scheduler.next(
        (job) => this.placement(job.call.voice, idle) !== undefined,
        (run) => this.placement(run.voice, idle) !== undefined,
      );
      if (!work) {
        this.loadCopiesForWaitingWork(idle);
        return;
      }
      if (work.kind === 'quick') {
        this.startPhonemize(work.job.call, idle);
      } else if (!work.request.planStarted) {
        this.startPlan(work.request, idle);
      } else {
        this.startSentence(work.request, idle);
      }
    }
  }

  /**
   * The idle worker a job of this voice runs on, or undefined if it must wait: an idle
   * worker that has the voice; for a pinned voice, any (every worker has it or is about
   * to); for another voice that some busy worker has, none (it waits for that worker
   * rather than load the voice again, see SECOND_COPY_WAITING_SENTENCES); for a voice
   * no worker has, the idle worker holding the least of the voices other than the
   * pinned ones, so the loaded voices spread over the workers.
   */
  private placement(voice: PooledVoice<PoolWorker>, idle: PoolWorker[]): PoolWorker | undefined {
    const holder = idle.find((worker) => this.budget.has(worker, voice));
    if (holder) return holder;
    if (this.budget.isPinned(voice)) return idle[0];
    if (voice.workers.size > 0 || voice.loading.size > 0) return undefined;
    return this.leastLoaded(idle);
  }

  private leastLoaded(workers: PoolWorker[]): PoolWorker | undefined {
    let best: PoolWorker | undefined;
    let bestBytes = Infinity;
    for (const worker of workers) {
      const bytes = this.budget.unpinnedBytesIn(worker);
      if (bytes < bestBytes) [best, bestBytes] = [worker, bytes];
    }
    return best;
  }

  private pickWorker(idle: PoolWorker[], voice: PooledVoice<PoolWorker>): PoolWorker {
    return this.placement(voice, idle) ?? idle[0];
  }

  /**
   * Nothing waiting can run on the idle workers: each voice with at least
   * SECOND_COPY_WAITING_SENTENCES sentences waiting for its busy worker(s) gets another
   * copy on an idle worker, loaded as a job of its own (the waiting sentences keep
   * going to the copies there are), if it fits the bounds without evicting anything: a
   * copy for a burst is worth less than a voice someone else will ask for.
   */
  private loadCopiesForWaitingWork(idle: PoolWorker[]): void {
    const waiting = new Map<PooledVoice<PoolWorker>, number>();
    const add = (voice: PooledVoice<PoolWorker>, count: number): void => {
      if (count > 0) waiting.set(voice, (waiting.get(voice) ?? 0) + count);
    };
    for (const run of this.runs) add(run.voice, run.pendingSentences);
    for (const job of this.scheduler.quickJobs()) add(job.call.voice, 1);
    const free = [...idle];
    for (const [voice, count] of waiting) {
      if (count < SECOND_COPY_WAITING_SENTENCES || voice.loading.size > 0) continue;
      if (this.budget.isPinned(voice) || voice.retired) continue;
      const worker = this.leastLoaded(free.filter((w) => !this.budget.has(w, voice)));
      if (!worker || !this.budget.makeRoom(voice, 1, 'fit')) continue;
      free.splice(free.indexOf(worker), 1);
      this.logger.log(
        `${count} sentences of voice ${voice.paths.modelPath} wait for a busy worker: ` +
          `loading another copy of it in worker ${worker.pid}`,
      );
      this.startVoiceLoad(worker, voice);
    }
  }

  /** Loads one voice in a job of its own (a second copy, a PRELOAD_VOICES voice). */
  private startVoiceLoad(
    worker: PoolWorker,
    voice: PooledVoice<PoolWorker>,
    onLoaded?: () => void,
  ): void {
    voice.loading.add(worker);
    this.budget.addSession(voice, worker);
    const message: JobMessage = { type: 'preload', voices: [{ ...voice.paths, wide: false }] };
    const loads = new Map([[voice, 1]]);
    this.startJob(
      worker,
      message,
      (end) => {
        voice.loading.delete(worker);
        const error = loadError(end, voice.identity);
        if (error) {
          this.budget.dropSessions(voice, worker);
          this.logger.warn(`voice ${voice.paths.modelPath} did not load: ${error.message}`);
        }
        onLoaded?.();
      },
      undefined,
      loads,
    );
  }

  /** The pinned voices this worker has not loaded (nor failed to, since the pins changed). */
  private missingPins(worker: PoolWorker): PooledVoice<PoolWorker>[] {
    const wide = (this.options.idleIntraOpThreads ?? 0) > 0;
    return this.budget
      .pinned()
      .filter(
        (voice) =>
          !worker.failedPins.has(voice.key) &&
          (!this.budget.has(worker, voice) || (wide && !this.budget.hasWide(worker, voice))),
      );
  }

  /**
   * An idle (or just started) worker's next loads: the pinned voices it misses, all in
   * one job, or else the next PRELOAD_VOICES voice queued for it.
   */
  private startLoad(worker: PoolWorker, startup = false): void {
    const pins = this.missingPins(worker);
    if (pins.length > 0 || startup) {
      this.startPinLoad(worker, pins, startup);
      return;
    }
    const queued = worker.loadQueue.shift();
    if (!queued) return;
    const voice = this.budget.voice(queued.voice);
    if (voice.sessions > 0 || voice.retired) {
      queued.settle();
      return;
    }
    if (!this.budget.makeRoom(voice, 1, 'fit')) {
      this.logger.warn(
        `not preloading voice ${voice.paths.modelPath}: it does not fit within the voice ` +
          'bounds (MAX_LOADED_VOICES, VOICE_MEMORY_MB) without evicting another; it loads on demand',
      );
      queued.settle();
      return;
    }
    this.startVoiceLoad(worker, voice, queued.settle);
  }

  private startPinLoad(
    worker: PoolWorker,
    pins: PooledVoice<PoolWorker>[],
    startup: boolean,
  ): void {
    const wide = (this.options.idleIntraOpThreads ?? 0) > 0;
    const voices: PreloadVoice[] = [];
    const loads = new Map<PooledVoice<PoolWorker>, number>();
    for (const voice of pins) {
      const sessions =
        (this.budget.has(worker, voice) ? 0 : 1) +
        (wide && !this.budget.hasWide(worker, voice) ? 1 : 0);
      this.budget.makeRoom(voice, sessions, 'evict');
      this.budget.addSession(voice, worker);
      if (wide) this.budget.addSession(voice, worker, true);
      loads.set(voice, sessions);
      voices.push({ ...voice.paths, wide });
    }
    const waiters = worker.pinWaiters.splice(0);
    this.startJob(
      worker,
      { type: 'preload', voices },
      (end) => {
        let error: Error | undefined;
        if ('error' in end) error = end.error;
        else if (end.reply.type !== 'done') error = replyError(end.reply);
        else {
          if (startup) this.noteStartRss(worker, end.reply.rssBytes);
          for (const failure of end.reply.failures) {
            const voice = pins.find((pin) => voiceKeyMatches(pin.identity, failure.voice));
            if (voice) {
              this.budget.dropSessions(voice, worker);
              worker.failedPins.add(voice.key);
            }
            error ??= replyError({ type: 'error', jobId: end.reply.jobId, error: failure.error });
          }
        }
        worker.ready = error === undefined;
        worker.heldPins = worker.ready && pins.length > 0;
        for (const settle of waiters) settle(error);
        if (startup) {
          worker.settleStartup(error);
          if (worker.ready) this.failedStarts = 0;
        }
        if (error && !('error' in end)) {
          this.logger.error(
            `synthesis worker ${worker.pid}: loading voices failed: ${error.message}`,
          );
        }
        // A worker whose preload failed still serves (it loads voices on demand).
        if (!('error' in end) && worker.state === 'starting') worker.state = 'idle';
      },
      undefined,
      loads,
    );
  }

  /** Plans the request on a worker, which goes on with its first sentence in the same job. */
  private startPlan(run: SynthesisRun, idle: PoolWorker[]): void {
    const worker = this.pickWorker(idle, run.voice);
    run.planStarted = true;
    run.startedAt = performance.now();
    run.timer = setTimeout(() => this.onRunTimeout(run), this.options.timeoutMs);
    const { wide, pause } = this.threadsFor(worker, run);
    const pausedWorkerPids = pidsOf(pause);
    this.options.onDispatch?.({
      kind: 'plan',
      requestId: run.id,
      workerPid: worker.pid,
      pausedWorkerPids,
    });
    const onPlanned = (sentences: PhonemizedSentence[]): void => {
      // Only a lone sentence runs wide (the worker decides the same): the paused
      // sentences go on with the others.
      if (sentences.length > 1 && this.preempting?.job === job) this.resumePaused();
      if (run.settled || run.cancelled) return;
      run.sentences = sentences;
      run.nextToDispatch = 1;
      this.options.onDispatch?.({
        kind: 'sentence',
        requestId: run.id,
        sentenceIndex: 0,
        workerPid: worker.pid,
        wide: wide && sentences.length === 1,
        pausedWorkerPids: sentences.length === 1 ? pausedWorkerPids : undefined,
      });
      // The other sentences go to the other workers now.
      this.dispatch();
    };
    const message: JobMessage = {
      type: 'plan',
      request: run.request,
      wide,
      pausedPids: pausedWorkerPids,
    };
    const job = this.startRunJob(worker, run, 0, message, pause);
    job.onPlanned = onPlanned;
  }

  /**
   * Starts a request's plan or sentence on a worker, the workers in `pause` paused until
   * the job ends. They are paused right after the job is sent, not before: the job
   * carries their pids so that its worker resumes them should the pool die (a stopped
   * process never sees its channel close), and a pool killed between a pause and that
   * send left them stopped for good (seen under load). The worker has not started its
   * inference by then, so the wide session still never shares the cores for long.
   */
  private startRunJob(
    worker: PoolWorker,
    run: SynthesisRun,
    index: number,
    message: JobMessage,
    pause: Set<PoolWorker> | undefined,
  ): WorkerJob {
    const job = this.startJob(
      worker,
      message,
      (end) => this.onSentenceEnd(run, job, index, end),
      run.voice,
    );
    job.run = run;
    if (pause) {
      this.pause(pause);
      this.preempting = { job, paused: pause };
    }
    run.running.add(job);
    return job;
  }

  /**
   * Whether a request's plan or sentence about to start on `worker` runs on its
   * all-cores session: when the pool is otherwise idle, or when it may preempt (and
   * then which workers to pause).
   */
  private threadsFor(
    worker: PoolWorker,
    run: SynthesisRun,
  ): { wide: boolean; pause?: Set<PoolWorker> } {
    if (!this.budget.hasWide(worker, run.voice)) return { wide: false };
    if (this.aloneOnPool(worker)) return { wide: true };
    const pause = this.preemptionFor(worker, run);
    return pause ? { wide: true, pause } : { wide: false };
  }

  /**
   * The busy workers to pause so that this request's only sentence runs on every core,
   * or undefined if it must not. It may when the request has nothing else running or
   * waiting, nothing waits but the sentences of the requests it pauses, and every other
   * busy worker speaks a sentence of a long text (PREEMPTIBLE_WAITING_SENTENCES or more
   * of its sentences still waiting) that has not been paused before. The long text
   * loses the time of one short sentence (~0.2 s) per sentence at most, and not a byte
   * of its audio (a paused process resumes where it stopped); the short request waits
   * for one worker to free up, at most one sentence, and then runs at the speed of an
   * idle server instead of narrow beside a long sentence. Under load (other requests
   * waiting) nothing is paused: a wide run costs more core time than a narrow one. A
   * plan is paused for too; when its text turns out to have more sentences, the others
   * resume at once.
   */
  private preemptionFor(worker: PoolWorker, run: SynthesisRun): Set<PoolWorker> | undefined {
    if (!this.options.preemption || process.platform === 'win32') return undefined;
    if (this.preempting || this.scheduler.queuedQuickJobs > 0) return undefined;
    if (run.sentencesInFlight > 0 || run.pendingSentences > 0) return undefined;
    const paused = new Set<PoolWorker>();
    const preempted = new Set<SynthesisRun>();
    for (const other of this.workers) {
      if (other === worker || other.state === 'idle' || other.state === 'exited') continue;
      const job = other.job;
      // A plan counts once it is planned: it speaks the text's first sentence.
      if (other.state !== 'busy' || !job?.run || job.preempted) return undefined;
      if (job.run === run || job.run.pendingSentences < PREEMPTIBLE_WAITING_SENTENCES) {
        return undefined;
      }
      paused.add(other);
      preempted.add(job.run);
    }
    if (paused.size === 0) return undefined;
    for (const other of this.runs) {
      if (other !== run && other.pendingSentences > 0 && !preempted.has(other)) return undefined;
    }
    return paused;
  }

  private pause(workers: Set<PoolWorker>): void {
    this.preemptions += 1;
    for (const worker of workers) {
      if (worker.job) worker.job.preempted = true;
      worker.child.kill('SIGSTOP');
    }
  }

  /** The preempting job ended or needs no more than its own threads: the paused workers go on. */
  private resumePaused(): void {
    const preempting = this.preempting;
    if (!preempting) return;
    this.preempting = undefined;
    for (const worker of preempting.paused) {
      if (worker.state !== 'exited') worker.child.kill('SIGCONT');
    }
  }

  /** No other worker is busy and nothing waits: a sentence started now would leave cores idle. */
  private aloneOnPool(worker: PoolWorker): boolean {
    return (
      this.scheduler.queuedSentences === 0 &&
      this.scheduler.queuedQuickJobs === 0 &&
      [...this.workers].every((other) => other === worker || other.state !== 'busy')
    );
  }

  /** A plan's or a sentence's job ended: deliver the audio, or fail the request. */
  private onSentenceEnd(run: SynthesisRun, job: WorkerJob, index: number, end: JobEnd): void {
    run.running.delete(job);
    if (run.settled) return;
    const sentence = run.sentences?.[index];
    if ('error' in end) {
      this.failRun(run, end.outcome, end.error, job.worker.pid);
    } else if (end.reply.type === 'audio' && sentence) {
      run.sentenceCount += 1;
      run.lastWorkerPid = job.worker.pid;
      const { pcm, sampleRate, inferenceMs } = end.reply;
      run.deliver({ index, ...sentence, pcm, sampleRate, inferenceMs });
      if (run.complete) this.settleRun(run, 'done');
    } else if (end.reply.type === 'audio') {
      // The plan's sentence of a request cancelled before its plan came back.
      run.sentenceCount += 1;
    } else {
      this.failRun(run, 'error', replyError(end.reply), job.worker.pid);
    }
    this.settleIfCancelled(run);
  }

  private startSentence(run: SynthesisRun, idle: PoolWorker[]): void {
    const { sentences } = run;
    if (!sentences) return;
    const index = run.nextToDispatch++;
    const { phonemeIds } = sentences[index];
    const { modelPath, configPath, revision, options } = run.request;
    const worker = this.pickWorker(idle, run.voice);
    const { wide, pause } = this.threadsFor(worker, run);
    const pausedWorkerPids = pidsOf(pause);
    this.options.onDispatch?.({
      kind: 'sentence',
      requestId: run.id,
      sentenceIndex: index,
      workerPid: worker.pid,
      wide,
      pausedWorkerPids,
    });
    const message: JobMessage = {
      type: 'sentence',
      sentence: { modelPath, configPath, revision, options, phonemeIds, wide },
      pausedPids: pausedWorkerPids,
    };
    this.startRunJob(worker, run, index, message, pause);
  }

  private startPhonemize(call: PhonemizeCall, idle: PoolWorker[]): void {
    const worker = this.pickWorker(idle, call.voice);
    const startedAt = performance.now();
    this.options.onDispatch?.({ kind: 'phonemize', requestId: call.id, workerPid: worker.pid });
    const job = this.startJob(
      worker,
      call.message,
      (end) => {
        clearTimeout(timer);
        let outcome: JobOutcome = 'done';
        if ('error' in end) {
          outcome = end.outcome;
          call.reject(end.error);
        } else if (end.reply.type === 'phonemes') {
          call.resolve(end.reply.sentences);
        } else {
          outcome = 'error';
          call.reject(replyError(end.reply));
        }
        this.options.onJobSettled?.({
          kind: 'phonemize',
          workerPid: worker.pid,
          outcome,
          sentenceCount: 0,
          durationMs: performance.now() - startedAt,
        });
      },
      call.voice,
    );
    const timer = setTimeout(() => {
      if (job.ended) return;
      this.logger.warn(
        `synthesis worker ${worker.pid}: phonemize ran past ${this.options.timeoutMs} ms; killing and replacing it`,
      );
      this.killForTimeout(worker);
      this.endJob(job, {
        outcome: 'timeout',
        error: new SynthesisTimeoutError(this.options.timeoutMs),
      });
    }, this.options.timeoutMs);
  }

  /**
   * Stops handing out the request's sentences and drops its audio. It settles (and
   * gives its slot back) once none of its jobs runs any more: at once if none does,
   * else when the last one ends (at most one sentence per worker).
   */
  private cancelRun(run: SynthesisRun): void {
    if (run.settled || run.cancelled || run.complete) return;
    run.cancelled = true;
    run.dropAudio();
    run.notify();
    this.scheduler.removeRequest(run);
    this.settleIfCancelled(run);
  }

  private settleIfCancelled(run: SynthesisRun): void {
    if (run.cancelled && !run.settled && run.running.size === 0) this.settleRun(run, 'cancelled');
  }

  /** Fails the request at once; its jobs still running end on their own (or are killed by the caller). */
  private failRun(run: SynthesisRun, outcome: JobOutcome, error: Error, workerPid?: number): void {
    if (run.settled) return;
    run.error = error;
    if (workerPid !== undefined) run.lastWorkerPid = workerPid;
    run.dropAudio();
    run.notify();
    this.settleRun(run, outcome);
  }

  private settleRun(run: SynthesisRun, outcome: JobOutcome): void {
    if (run.settled) return;
    run.settled = true;
    clearTimeout(run.timer);
    this.scheduler.removeRequest(run);
    this.runs.delete(run);
    this.budget.endUse(run.voice);
    const durationMs = run.startedAt === undefined ? 0 : performance.now() - run.startedAt;
    if (outcome === 'done') this.averageRequestMs = 0.8 * this.averageRequestMs + 0.2 * durationMs;
    run.notify();
    this.options.onJobSettled?.({
      kind: 'synthesize',
      workerPid: run.lastWorkerPid,
      outcome,
      sentenceCount: run.sentenceCount,
      durationMs,
    });
    run.releaseSlot();
  }

  private onRunTimeout(run: SynthesisRun): void {
    if (run.settled) return;
    const workers = [...run.running].map((job) => job.worker);
    this.logger.warn(
      `synthesis request ${run.id} ran past ${this.options.timeoutMs} ms` +
        (workers.length > 0
          ? `; killing and replacing worker(s) ${workers.map((worker) => worker.pid).join(', ')}`
          : ''),
    );
    this.failRun(
      run,
      'timeout',
      new SynthesisTimeoutError(this.options.timeoutMs),
      workers[0]?.pid,
    );
    for (const worker of workers) this.killForTimeout(worker);
  }

  private killForTimeout(worker: PoolWorker): void {
    worker.killedFor = 'timeout';
    worker.child.kill('SIGKILL');
  }

  /**
   * Starts a job on an idle worker (or a starting one, for its first load of the pinned
   * voices). `voice`: the job uses that voice, so the worker loads it if it has not yet:
   * the bounds are kept first (least recently used voices evicted), and should the load
   * fail the worker is known not to hold it. `loads`: sessions the job loads besides, by
   * voice; all of them count as loading (`loadingSessions`) until the job ends.
   */
  private startJob(
    worker: PoolWorker,
    message: JobMessage,
    onEnd: (end: JobEnd) => void,
    voice?: PooledVoice<PoolWorker>,
    loads = new Map<PooledVoice<PoolWorker>, number>(),
  ): WorkerJob {
    let ended = onEnd;
    if (voice && !this.budget.has(worker, voice)) {
      this.budget.makeRoom(voice, 1, 'evict');
      this.budget.addSession(voice, worker);
      loads.set(voice, (loads.get(voice) ?? 0) + 1);
      ended = (end) => {
        if (
          'reply' in end &&
          end.reply.type === 'error' &&
          VOICE_LOAD_ERRORS.has(end.reply.error.code)
        ) {
          this.budget.dropSessions(voice, worker);
        }
        onEnd(end);
      };
    }
    for (const [loaded, sessions] of loads) loaded.loadingSessions += sessions;
    const job: WorkerJob = { id: this.nextJobId++, worker, onEnd: ended, loads, ended: false };
    worker.job = job;
    // A worker loading its first pinned voices stays 'starting': no request may be handed to it yet.
    if (worker.state === 'idle') worker.state = 'busy';
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) {
      // The worker died and its exit has not been handled yet.
      queueMicrotask(() =>
        this.endJob(job, {
          outcome: 'crashed',
          error: new WorkerCrashedError('exited before the job started'),
        }),
      );
      return job;
    }
    try {
      this.send(worker, { ...message, jobId: job.id });
    } catch (error) {
      // Options that cannot be cloned (a function, a symbol): the request's fault, not the worker's.
      const failure = error instanceof Error ? error : new Error(String(error));
      queueMicrotask(() => this.endJob(job, { outcome: 'error', error: failure }));
    }
    return job;
  }

  /**
   * Ends a job once: the worker is free again unless it died or is being killed, the
   * job's owner hears how it ended, and waiting work goes to the freed worker.
   */
  private endJob(job: WorkerJob | undefined, end: JobEnd): void {
    if (!job || job.ended) return;
    job.ended = true;
    for (const [voice, sessions] of job.loads) voice.loadingSessions -= sessions;
    if (this.preempting?.job === job) this.resumePaused();
    const { worker } = job;
    if (worker.job === job) worker.job = undefined;
    const workerHealthy = !('error' in end) || end.outcome === 'error';
    if ('reply' in end && this.outgrewMemory(worker, end.reply)) {
      worker.killedFor = 'memory';
      this.memoryReplacedWorkers += 1;
      this.logger.log(
        `synthesis worker ${worker.pid} uses ${mebibytes(end.reply.rssBytes)} MB after a sentence, ` +
          `above WORKER_MAX_RSS_MB (${mebibytes(this.options.maxWorkerRssBytes ?? 0)}): replacing it with a fresh one`,
      );
    }
    if (workerHealthy && worker.state === 'busy' && !worker.killedFor) worker.state = 'idle';
    job.onEnd(end);
    // Ended once its job is done; its exit starts the replacement, as for a crash.
    if (worker.killedFor === 'memory') void this.endWorker(worker);
    this.dispatch();
  }

  /**
   * Whether a worker must be replaced after this reply: a sentence left it above
   * `maxWorkerRssBytes`. A worker that was above it with only its voices loaded is
   * kept (a fresh one would be too: see `noteStartRss`).
   */
  private outgrewMemory(
    worker: PoolWorker,
    reply: JobReply,
  ): reply is Extract<JobReply, { type: 'audio' }> {
    const bound = this.options.maxWorkerRssBytes ?? 0;
    return (
      bound > 0 &&
      this.state === 'running' &&
      !worker.killedFor &&
      reply.type === 'audio' &&
      reply.rssBytes > bound &&
      worker.startRssBytes !== undefined &&
      worker.startRssBytes < bound
    );
  }

  /** A worker's size once its pinned voices are loaded; one warning if that is above the bound already. */
  private noteStartRss(worker: PoolWorker, rssBytes: number): void {
    worker.startRssBytes = rssBytes;
    const bound = this.options.maxWorkerRssBytes ?? 0;
    if (bound <= 0 || rssBytes < bound || this.warnedMemoryBound) return;
    this.warnedMemoryBound = true;
    this.logger.warn(
      `synthesis worker ${worker.pid} uses ${mebibytes(rssBytes)} MB with its voices ` +
        `loaded, above WORKER_MAX_RSS_MB (${mebibytes(bound)}): workers are not replaced for memory`,
    );
  }

  private spawnWorker(): PoolWorker {
    const { file, execArgv, env } = workerProcess();
    const threads = [this.options.intraOpThreads, this.options.idleIntraOpThreads ?? 0];
    const child = fork(file, threads.map(String), {
      execArgv,
      env,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let markExited!: () => void;
    let settleStartup!: (error?: Error) => void;
    const worker: PoolWorker = {
      child,
      pid: child.pid ?? -1,
      state: 'starting',
      ready: false,
      heldPins: false,
      failedPins: new Set(),
      pinWaiters: [],
      loadQueue: [],
      job: undefined,
      killedFor: undefined,
      startRssBytes: undefined,
      exited: new Promise<void>((resolve) => (markExited = resolve)),
      markExited: () => markExited(),
      startup: new Promise<void>((resolve, reject) => {
        let settled = false;
        settleStartup = (error) => {
          if (settled) return;
          settled = true;
          if (error) reject(error);
          else resolve();
        };
      }),
      settleStartup: (error) => settleStartup(error),
    };
    // Only start() awaits the startup; a replacement's failure is logged instead.
    worker.startup.catch(() => undefined);
    this.workers.add(worker);
    child.on('message', (reply: WorkerReply) => this.onReply(worker, reply));
    child.on('error', (error) => {
      this.logger.error(`synthesis worker ${worker.pid}: ${error.message}`);
      // A process that never spawned emits no 'exit'.
      if (child.pid === undefined) this.onWorkerExit(worker, null, null);
    });
    child.once('exit', (code, signal) => this.onWorkerExit(worker, code, signal));
    return worker;
  }

  private onReply(worker: PoolWorker, reply: WorkerReply): void {
    switch (reply.type) {
      case 'ready':
        if (this.state === 'stopped') return; // being ended already
        this.startLoad(worker, true);
        return;
      case 'unloaded':
        this.options.onVoiceUnloaded?.({
          workerPid: worker.pid,
          voices: reply.voices,
          sessions: reply.sessions,
        });
        return;
      case 'warning':
        this.logger.warn(`synthesis worker ${worker.pid}: ${reply.message}`);
        return;
      case 'planned':
        if (worker.job?.id === reply.jobId) worker.job.onPlanned?.(reply.sentences);
        return;
      default:
        // A reply for a job that already ended (killed at a timeout) is dropped.
        if (worker.job?.id === reply.jobId) this.endJob(worker.job, { reply });
    }
  }

  private onWorkerExit(
    worker: PoolWorker,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (worker.state === 'exited') return;
    const wasStarting = worker.state === 'starting';
    worker.state = 'exited';
    this.workers.delete(worker);
    this.budget.dropWorker(worker);
    // Its replacement loads the pinned voices; the voices queued for it load on demand.
    for (const settle of worker.pinWaiters.splice(0)) settle();
    for (const queued of worker.loadQueue.splice(0)) queued.settle();
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    this.endJob(worker.job, { outcome: 'crashed', error: new WorkerCrashedError(how) });
    worker.settleStartup(
      this.state === 'stopped'
        ? new EngineStoppedError()
        : new WorkerCrashedError(`${how} while starting`),
    );
    worker.markExited();
    if (this.state !== 'running' && this.state !== 'draining') return;
    if (!worker.killedFor) {
      this.logger.error(`synthesis worker ${worker.pid} stopped (${how}); starting a replacement`);
    }
    if (wasStarting) this.failedStarts += 1;
    // A worker that cannot even start (broken install, voice that crashes the
    // runtime) would otherwise be re-forked in a tight loop.
    const delayMs =
      this.failedStarts === 0
        ? 0
        : Math.min(500 * 2 ** (this.failedStarts - 1), MAX_RESTART_DELAY_MS);
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.state !== 'running' && this.state !== 'draining') return;
      this.replacedWorkers += 1;
      this.spawnWorker();
    }, delayMs);
    this.restartTimers.add(timer);
  }

  private send(worker: PoolWorker, message: WorkerRequest): void {
    if (worker.state === 'exited') return;
    worker.child.send(message, (error) => {
      if (!error || worker.state === 'exited') return;
      // A channel that cannot carry a message leaves the worker useless: replace it.
      this.logger.error(
        `synthesis worker ${worker.pid}: cannot send ${message.type}: ${error.message}`,
      );
      worker.child.kill('SIGKILL');
    });
  }

  private retryAfterSeconds(): number {
    // Requests share the workers sentence by sentence: the queue ahead drains at
    // about `workers` requests' worth of work per average request time.
    const aheadMs =
      (this.averageRequestMs * (this.limiter.active + this.limiter.queued)) /
      Math.min(this.limiter.maxConcurrent, this.options.workers);
    return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(aheadMs / 1000)));
  }
}

function mebibytes(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

/** The workers a preempting job pauses, by pid (its Dispatch and its message); undefined: none. */
function pidsOf(paused: Set<PoolWorker> | undefined): number[] | undefined {
  return paused && [...paused].map((worker) => worker.pid);
}

/** Codes of the errors of a voice that did not load (its files), as a worker reports them. */
const VOICE_LOAD_ERRORS = new Set([
  'VOICE_CONFIG_INVALID',
  'VOICE_MODEL_INVALID',
  VOICE_FILES_MISSING_CODE,
]);

function voiceKeyMatches(a: VoiceIdentity, b: VoiceIdentity): boolean {
  return a.modelPath === b.modelPath && (a.revision ?? '') === (b.revision ?? '');
}

/** Why a one-voice load job failed, or undefined if the voice loaded. */
function loadError(end: JobEnd, voice: VoiceIdentity): Error | undefined {
  if ('error' in end) return end.error;
  if (end.reply.type !== 'done') return replyError(end.reply);
  const failure: PreloadFailure | undefined = end.reply.failures.find((f) =>
    voiceKeyMatches(f.voice, voice),
  );
  if (!failure) return undefined;
  return new WorkerReportedError(failure.error.code, failure.error.message, failure.error.name);
}

/** A reply that ended a job other than as expected, as the error it stands for. */
function replyError(reply: JobReply): Error {
  if (reply.type === 'error') {
    return new WorkerReportedError(reply.error.code, reply.error.message, reply.error.name);
  }
  return new Error(`unexpected reply ${reply.type} from a synthesis worker`);
}

/**
 * How to start synth-worker. Built, it is the .js beside this file and runs plainly.
 * From source (Jest, ts-node) it is the .ts and needs ts-node and the `@app/*` paths.
 * The parent's own execArgv (--inspect, Jest's flags) is never passed on, and an
 * --inspect in NODE_OPTIONS is dropped: every worker would fight for the debug port.
 */
function workerProcess(): { file: string; execArgv: string[]; env: NodeJS.ProcessEnv } {
  const fromSource = __filename.endsWith('.ts');
  // Passing the environment on is not reading configuration (see config/).
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (env.NODE_OPTIONS) {
    env.NODE_OPTIONS = env.NODE_OPTIONS.split(/\s+/)
      .filter((option) => !/^--inspect/.test(option))
      .join(' ');
  }
  if (!fromSource) return { file: join(__dirname, 'synth-worker.js'), execArgv: [], env };
  env.TS_NODE_PROJECT = resolve(__dirname, '../../../../tsconfig.json');
  return {
    file: join(__dirname, 'synth-worker.ts'),
    execArgv: [
      '-r',
      require.resolve('ts-node/register/transpile-only'),
      '-r',
      require.resolve('tsconfig-paths/register'),
    ],
    env,
  };
}
