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
 * fresh worker preloads the configured voices before it takes a job.
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
import type { VoicePaths, WorkerReply, WorkerRequest } from './worker-protocol';

export type { VoicePaths } from './worker-protocol';

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
   * Threads of a second session of each preloaded voice in every worker, used for a
   * sentence that starts while every other worker is idle and nothing else waits (a
   * short request on an idle server), so it runs at the speed of one worker using
   * every core. 0 or absent: none. Costs the voice's memory once more per worker.
   */
  idleIntraOpThreads?: number;
  maxConcurrent: number;
  maxQueue: number;
  /** Longest a request may run, from its plan on a worker to its last sentence. */
  timeoutMs: number;
  /** Voices every worker loads before it takes requests (also given to `start`). */
  preload?: VoicePaths[];
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
  workerPid: number;
}

/** Time a worker gets to exit after `disconnect()` at shutdown before SIGKILL. */
const EXIT_GRACE_MS = 2_000;
/** Longest pause before restarting a worker that died while starting (doubling from 500 ms). */
const MAX_RESTART_DELAY_MS = 30_000;
/** Bounds of the Retry-After estimate given with EngineBusyError. */
const MAX_RETRY_AFTER_SECONDS = 60;

/** A job request before the pool numbers it. */
type JobMessage<R = WorkerRequest> = R extends unknown ? Omit<R, 'jobId'> : never;
/** A reply that ends a job. */
type JobReply = Exclude<WorkerReply, { type: 'ready' | 'warning' | 'planned' }>;
/** How a job ended: its reply, or the reason it never got one. */
type JobEnd =
  { reply: JobReply } | { outcome: 'error' | 'timeout' | 'crashed' | 'stopped'; error: Error };

interface PoolWorker {
  readonly child: ChildProcess;
  readonly pid: number;
  /** starting: forked, preload not finished; busy: running a job. */
  state: 'starting' | 'idle' | 'busy' | 'exited';
  /** Its preloads succeeded. */
  ready: boolean;
  /** Voices it was asked to load (each worker keeps the voices it has loaded). */
  readonly voices: Set<string>;
  /** Voices it has a wide session of (preloaded ones, when `idleIntraOpThreads` is set). */
  readonly wideVoices: Set<string>;
  job: WorkerJob | undefined;
  /** Set when the pool kills it on purpose, so its exit is not reported as a crash. */
  killedFor: 'timeout' | 'shutdown' | undefined;
  readonly exited: Promise<void>;
  markExited(): void;
  /** Settles when the preload finishes: rejects if it fails or the worker dies first. */
  readonly startup: Promise<void>;
  settleStartup(error?: Error): void;
}

/** One job on one worker; `onEnd` is called exactly once. */
interface WorkerJob {
  readonly id: number;
  readonly worker: PoolWorker;
  readonly onEnd: (end: JobEnd) => void;
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
  private preload: VoicePaths[];
  private started: Promise<void> | undefined;
  private startedOk = false;
  private stopped: Promise<void> | undefined;
  private nextJobId = 1;
  private nextRequestId = 1;
  /** Moving average of a request's time from its plan to its end, for Retry-After. */
  private averageRequestMs = 1_000;
  private failedStarts = 0;
  /** Workers started to replace one that died or was killed (metrics). */
  private replacedWorkers = 0;
  private readonly restartTimers = new Set<NodeJS.Timeout>();

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
    this.preload = options.preload ?? [];
  }

  /**
   * Forks the workers; resolves when every one has loaded `preload` (default: the
   * option). Rejects if a preload fails (the workers keep running and load voices on
   * demand, but `isReady()` stays false). Calling it again returns the first call's promise.
   */
  start(preload?: VoicePaths[]): Promise<void> {
    if (this.state === 'draining' || this.state === 'stopped') {
      return Promise.reject(new EngineStoppedError());
    }
    if (this.started) return this.started;
    this.state = 'running';
    if (preload) this.preload = preload;
    const startups = Array.from({ length: this.options.workers }, () => this.spawnWorker().startup);
    this.started = Promise.all(startups).then(() => {
      this.startedOk = true;
      this.logger.log(
        `${this.options.workers} synthesis worker(s) ready, ${this.options.intraOpThreads} thread(s) each` +
          `${this.options.idleIntraOpThreads ? ` (${this.options.idleIntraOpThreads} when the pool is otherwise idle)` : ''}, ${this.preload.length} voice(s) preloaded`,
      );
    });
    return this.started;
  }

  /**
   * True once start() has brought every worker up with its preloads, until shutdown.
   * While a worker is being replaced (timeout, crash) the pool stays ready as long as
   * another worker is: one bad request must not take the instance out of rotation.
   */
  isReady(): boolean {
    return (
      this.state === 'running' &&
      this.startedOk &&
      [...this.workers].some((worker) => worker.ready && worker.state !== 'exited')
    );
  }

  stats(): EngineStats {
    const live = [...this.workers].filter((worker) => worker.state !== 'exited');
    return {
      workers: this.options.workers,
      readyWorkers: live.filter((worker) => worker.ready).length,
      busyWorkers: live.filter((worker) => worker.state === 'busy').length,
      idleWorkers: live.filter((worker) => worker.state === 'idle').length,
      replacedWorkers: this.replacedWorkers,
      loadedVoices: live.reduce((sum, worker) => sum + worker.voices.size, 0),
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
  ): Promise<PhonemizedSentence[]> {
    this.assertAccepting();
    const release = await this.limiter.acquire();
    try {
      return await new Promise<PhonemizedSentence[]>((resolve, reject) => {
        const call: PhonemizeCall = {
          id: this.nextRequestId++,
          message: { type: 'phonemize', modelPath, configPath, text },
          resolve,
          reject,
        };
        this.scheduler.addQuickJob({ kind: 'phonemize', call });
        this.dispatch();
      });
    } finally {
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
    const { modelPath, configPath, text, options } = request;
    const run = new SynthesisRun(
      this.nextRequestId++,
      { modelPath, configPath, text, options },
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
    for (;;) {
      const idle = [...this.workers].filter((worker) => worker.state === 'idle');
      if (idle.length === 0) return;
      const work = this.scheduler.next();
      if (!work) return;
      if (work.kind === 'quick') {
        this.startPhonemize(work.job.call, idle);
      } else if (!work.request.planStarted) {
        this.startPlan(work.request, idle);
      } else {
        this.startSentence(work.request, idle);
      }
    }
  }

  /** An idle worker that has the voice loaded if there is one (loading one costs ~2 s, §8). */
  private pickWorker(idle: PoolWorker[], modelPath: string): PoolWorker {
    return idle.find((worker) => worker.voices.has(modelPath)) ?? idle[0];
  }

  /** Plans the request on a worker, which goes on with its first sentence in the same job. */
  private startPlan(run: SynthesisRun, idle: PoolWorker[]): void {
    const { modelPath } = run.request;
    const worker = this.pickWorker(idle, modelPath);
    run.planStarted = true;
    run.startedAt = performance.now();
    run.timer = setTimeout(() => this.onRunTimeout(run), this.options.timeoutMs);
    this.options.onDispatch?.({ kind: 'plan', requestId: run.id, workerPid: worker.pid });
    const wide = worker.wideVoices.has(modelPath) && this.aloneOnPool(worker);
    const onPlanned = (sentences: PhonemizedSentence[]): void => {
      if (run.settled || run.cancelled) return;
      run.sentences = sentences;
      run.nextToDispatch = 1;
      this.options.onDispatch?.({
        kind: 'sentence',
        requestId: run.id,
        sentenceIndex: 0,
        workerPid: worker.pid,
        wide: wide && sentences.length === 1,
      });
      // The other sentences go to the other workers now.
      this.dispatch();
    };
    const message: JobMessage = { type: 'plan', request: run.request, wide };
    const job = this.startJob(worker, message, (end) => this.onSentenceEnd(run, job, 0, end));
    job.onPlanned = onPlanned;
    run.running.add(job);
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
    const { modelPath, configPath, options } = run.request;
    const worker = this.pickWorker(idle, modelPath);
    const wide = worker.wideVoices.has(modelPath) && this.aloneOnPool(worker);
    this.options.onDispatch?.({
      kind: 'sentence',
      requestId: run.id,
      sentenceIndex: index,
      workerPid: worker.pid,
      wide,
    });
    const message: JobMessage = {
      type: 'sentence',
      sentence: { modelPath, configPath, options, phonemeIds, wide },
    };
    const job = this.startJob(worker, message, (end) => this.onSentenceEnd(run, job, index, end));
    run.running.add(job);
  }

  private startPhonemize(call: PhonemizeCall, idle: PoolWorker[]): void {
    const worker = this.pickWorker(idle, call.message.modelPath);
    const startedAt = performance.now();
    this.options.onDispatch?.({ kind: 'phonemize', requestId: call.id, workerPid: worker.pid });
    const job = this.startJob(worker, call.message, (end) => {
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
    });
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

  /** Starts a job on an idle worker (or a starting one, for its preload). */
  private startJob(
    worker: PoolWorker,
    message: JobMessage,
    onEnd: (end: JobEnd) => void,
  ): WorkerJob {
    const job: WorkerJob = { id: this.nextJobId++, worker, onEnd, ended: false };
    worker.job = job;
    if (message.type === 'preload') {
      for (const voice of message.voices) worker.voices.add(voice.modelPath);
    } else {
      const modelPath =
        message.type === 'plan'
          ? message.request.modelPath
          : message.type === 'sentence'
            ? message.sentence.modelPath
            : message.modelPath;
      worker.voices.add(modelPath);
      // A preloading worker stays 'starting': no request may be handed to it yet.
      worker.state = 'busy';
    }
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
    const { worker } = job;
    if (worker.job === job) worker.job = undefined;
    const workerHealthy = !('error' in end) || end.outcome === 'error';
    if (workerHealthy && worker.state === 'busy' && !worker.killedFor) worker.state = 'idle';
    job.onEnd(end);
    this.dispatch();
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
      voices: new Set(),
      wideVoices: new Set(),
      job: undefined,
      killedFor: undefined,
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

  private startPreload(worker: PoolWorker): void {
    this.startJob(worker, { type: 'preload', voices: this.preload }, (end) => {
      let error: Error | undefined;
      if ('error' in end) error = end.error;
      else if (end.reply.type !== 'done') error = replyError(end.reply);
      worker.ready = error === undefined;
      if (worker.ready && (this.options.idleIntraOpThreads ?? 0) > 0) {
        for (const voice of this.preload) worker.wideVoices.add(voice.modelPath);
      }
      worker.settleStartup(error);
      if (worker.ready) this.failedStarts = 0;
      else if (!('error' in end)) {
        this.logger.error(
          `synthesis worker ${worker.pid}: preloading voices failed: ${error?.message}`,
        );
      }
      // A worker whose preload failed still serves (it loads voices on demand).
      if (!('error' in end) && worker.state === 'starting') worker.state = 'idle';
    });
  }

  private onReply(worker: PoolWorker, reply: WorkerReply): void {
    switch (reply.type) {
      case 'ready':
        if (this.state === 'stopped') return; // being ended already
        this.startPreload(worker);
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
