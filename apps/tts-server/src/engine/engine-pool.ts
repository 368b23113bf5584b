/**
 * Synthesis in long-lived worker subprocesses (synth-worker.ts) under a concurrency
 * limiter. Plain TypeScript, no Nest: PoolPiperEngine wraps it for the server.
 *
 * Why processes: a voice takes about 2 s to load and milliseconds to speak a sentence
 * (../shared/PIPER_CONTRACT.md §8), so workers keep voices loaded; inference is CPU
 * bound, so it must not run on the event loop that serves HTTP; and a request that
 * hangs or crashes the engine can be ended by killing one process without taking the
 * server down.
 *
 * A request goes through two FIFO waits:
 *   1. a slot: at most `maxConcurrent` requests hold one for their whole synthesis,
 *      at most `maxQueue` wait for one, the next gets EngineBusyError at once;
 *   2. an idle worker: a slot holder waits for the oldest free worker (there may be
 *      more slots than workers: those requests are admitted and served in order).
 * A job runs on its worker for at most `timeoutMs` (cancellation included); past it
 * the worker is killed and replaced and the request fails with SynthesisTimeoutError.
 * A worker that dies fails its job with WorkerCrashedError and is replaced; a fresh
 * worker preloads the configured voices before it takes a job.
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
  maxConcurrent: number;
  maxQueue: number;
  /** Longest a job may run on a worker before the worker is killed. */
  timeoutMs: number;
  /** Voices every worker loads before it takes requests (also given to `start`). */
  preload?: VoicePaths[];
  logger?: EnginePoolLogger;
  /** Called when a request's job ends on a worker, however it ends (metrics, tests). */
  onJobSettled?: (job: SettledJob) => void;
}

export type JobOutcome = 'done' | 'cancelled' | 'error' | 'timeout' | 'crashed' | 'stopped';

export interface SettledJob {
  kind: 'synthesize' | 'phonemize';
  workerPid: number;
  outcome: JobOutcome;
  /** Sentences the worker synthesized, as it reported them (0 when it could not report). */
  sentenceCount: number;
  /** From the job's start on the worker to its end. */
  durationMs: number;
}

/** Time a worker gets to exit after `disconnect()` at shutdown before SIGKILL. */
const EXIT_GRACE_MS = 2_000;
/** Longest pause before restarting a worker that died while starting (doubling from 500 ms). */
const MAX_RESTART_DELAY_MS = 30_000;
/** Bounds of the Retry-After estimate given with EngineBusyError. */
const MAX_RETRY_AFTER_SECONDS = 60;

type JobKind = SettledJob['kind'] | 'preload';
/** A job request before the pool numbers it. */
type JobMessage<R = Exclude<WorkerRequest, { type: 'cancel' }>> = R extends unknown
  ? Omit<R, 'jobId'>
  : never;

interface PoolWorker {
  readonly child: ChildProcess;
  readonly pid: number;
  /** starting: forked, preload not finished; busy: handed to a request or running its job. */
  state: 'starting' | 'idle' | 'busy' | 'exited';
  /** Its preloads succeeded. */
  ready: boolean;
  /** Voices it was asked to load (each worker keeps the voices it has loaded). */
  readonly voices: Set<string>;
  job: WorkerJob | undefined;
  /** Set when the pool kills it on purpose, so its exit is not reported as a crash. */
  killedFor: 'timeout' | 'shutdown' | undefined;
  readonly exited: Promise<void>;
  markExited(): void;
  /** Settles when the preload finishes: rejects if it fails or the worker dies first. */
  readonly startup: Promise<void>;
  settleStartup(error?: Error): void;
}

interface WorkerWaiter {
  resolve: (worker: PoolWorker | undefined) => void;
  reject: (reason: unknown) => void;
  detach: () => void;
}

/**
 * One job on one worker, seen from the parent: the sentences received and not yet
 * consumed, and how the job ended.
 */
class WorkerJob {
  readonly startedAt = performance.now();
  timer: NodeJS.Timeout | undefined;
  /** Given back when the job ends (a request's slot). */
  releaseSlot: ReleaseSlot | undefined;
  sentenceCount = 0;
  settled = false;
  private cancelRequested = false;
  private error: Error | undefined;
  private phonemes: PhonemizedSentence[] = [];
  private readonly sentences: EngineSentence[] = [];
  private wake: (() => void) | undefined;
  private readonly whenSettled: Promise<void>;
  private resolveSettled!: () => void;

  constructor(
    readonly id: number,
    readonly kind: JobKind,
    readonly worker: PoolWorker,
    private readonly sendCancel: () => void,
    private readonly onSettled: (job: WorkerJob, outcome: JobOutcome, error?: Error) => void,
  ) {
    this.whenSettled = new Promise((resolve) => (this.resolveSettled = resolve));
  }

  accept(reply: Exclude<WorkerReply, { type: 'ready' | 'warning' }>): void {
    switch (reply.type) {
      case 'sentence':
        if (!this.cancelRequested) this.sentences.push(reply.sentence);
        this.notify();
        return;
      case 'done':
        this.sentenceCount = reply.sentenceCount;
        this.settle(reply.cancelled ? 'cancelled' : 'done');
        return;
      case 'phonemes':
        this.phonemes = reply.sentences;
        this.settle('done');
        return;
      case 'error':
        this.settle(
          'error',
          new WorkerReportedError(reply.error.code, reply.error.message, reply.error.name),
        );
        return;
    }
  }

  fail(outcome: JobOutcome, error: Error): void {
    this.settle(outcome, error);
  }

  /**
   * The consumer is done: drop what is buffered and ask the worker to stop between
   * sentences. The job settles (and frees its worker and slot) when the worker says so.
   */
  cancel(): void {
    if (this.settled || this.cancelRequested) return;
    this.cancelRequested = true;
    this.sentences.length = 0;
    this.notify();
    this.sendCancel();
  }

  /** The next sentence in order; undefined at the end or after cancel; throws how the job failed. */
  async next(): Promise<EngineSentence | undefined> {
    for (;;) {
      const sentence = this.sentences.shift();
      if (sentence) return sentence;
      if (this.error) throw this.error;
      if (this.settled || this.cancelRequested) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async result(): Promise<PhonemizedSentence[]> {
    await this.whenSettled;
    if (this.error) throw this.error;
    return this.phonemes;
  }

  private settle(outcome: JobOutcome, error?: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.error = error;
    this.notify();
    this.resolveSettled();
    this.onSettled(this, outcome, error);
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

export class EnginePool {
  private state: 'new' | 'running' | 'draining' | 'stopped' = 'new';
  private readonly workers = new Set<PoolWorker>();
  private readonly workerWaiters: WorkerWaiter[] = [];
  private readonly limiter: ConcurrencyLimiter;
  private readonly logger: EnginePoolLogger;
  private preload: VoicePaths[];
  private started: Promise<void> | undefined;
  private startedOk = false;
  private stopped: Promise<void> | undefined;
  private nextJobId = 1;
  /** Moving average of a request's time on a worker, for Retry-After. */
  private averageJobMs = 1_000;
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
        `${this.options.workers} synthesis worker(s) ready, ${this.options.intraOpThreads} thread(s) each, ${this.preload.length} voice(s) preloaded`,
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

  /** Process ids of the live workers (operations, tests). */
  workerPids(): number[] {
    return [...this.workers].map((worker) => worker.pid).filter((pid) => pid > 0);
  }

  /**
   * Sentence by sentence, in order. Nothing happens until the first `next()`, which is
   * where EngineBusyError and EngineStoppedError surface. When the consumer stops early
   * (`return()`, `break`) or `signal` aborts, the worker is told to stop between
   * sentences and the iteration ends without error; the slot and the worker are free
   * once the worker confirms.
   */
  synthesize(
    request: EngineSynthesisRequest,
    signal?: AbortSignal,
  ): AsyncGenerator<EngineSentence, void, undefined> {
    return this.stream(request, signal);
  }

  /** The whole text as one buffer; throws the signal's reason if it aborts (never partial audio). */
  async synthesizeAll(request: EngineSynthesisRequest, signal?: AbortSignal): Promise<EngineAudio> {
    const run: { job?: WorkerJob } = {};
    const sentences: EngineSentence[] = [];
    for await (const sentence of this.stream(request, signal, (job) => (run.job = job))) {
      sentences.push(sentence);
    }
    signal?.throwIfAborted();
    return {
      pcm: concatPcm(sentences.map((sentence) => sentence.pcm)),
      sampleRate: sentences[0]?.sampleRate ?? 0,
      sentenceCount: sentences.length,
      synthesisMs: run.job ? performance.now() - run.job.startedAt : 0,
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
    let job: WorkerJob | undefined;
    try {
      const worker = await this.acquireWorker();
      if (worker) {
        job = this.startJob(worker, 'phonemize', {
          type: 'phonemize',
          modelPath,
          configPath,
          text,
        });
        job.releaseSlot = release;
      }
    } finally {
      if (!job) release();
    }
    if (!job) throw new EngineStoppedError();
    return job.result();
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
    for (const waiter of this.workerWaiters.splice(0)) {
      waiter.detach();
      waiter.reject(stoppedError);
    }
    const exits: Promise<void>[] = [];
    for (const worker of this.workers) {
      worker.killedFor = 'shutdown';
      worker.job?.fail('stopped', stoppedError);
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
    onStart?: (job: WorkerJob) => void,
  ): AsyncGenerator<EngineSentence, void, undefined> {
    this.assertAccepting();
    let release: ReleaseSlot;
    try {
      release = await this.limiter.acquire(signal);
    } catch (error) {
      if (signal?.aborted) return;
      throw error;
    }
    let job: WorkerJob | undefined;
    try {
      const worker = await this.acquireWorker(signal);
      if (!worker) return;
      // Only the contract's fields cross to the worker (a DTO instance may carry more).
      const { modelPath, configPath, text, options } = request;
      const started = this.startJob(worker, 'synthesize', {
        type: 'synthesize',
        request: { modelPath, configPath, text, options },
      });
      started.releaseSlot = release;
      job = started;
      onStart?.(started);
      const cancel = (): void => started.cancel();
      signal?.addEventListener('abort', cancel, { once: true });
      try {
        if (signal?.aborted) return;
        for (;;) {
          const sentence = await started.next();
          if (!sentence) return;
          yield sentence;
        }
      } finally {
        signal?.removeEventListener('abort', cancel);
      }
    } finally {
      // Still running means the consumer stopped early: the slot goes back when the
      // worker confirms the cancel (or the job's timeout kills it).
      if (job) job.cancel();
      else release();
    }
  }

  /** The oldest idle worker, or a FIFO wait for one; undefined if `signal` aborts first. */
  private acquireWorker(signal?: AbortSignal): Promise<PoolWorker | undefined> {
    if (signal?.aborted) return Promise.resolve(undefined);
    if (this.state === 'stopped') return Promise.reject(new EngineStoppedError());
    for (const worker of this.workers) {
      if (worker.state === 'idle') {
        worker.state = 'busy';
        return Promise.resolve(worker);
      }
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.workerWaiters.indexOf(waiter);
        if (index >= 0) this.workerWaiters.splice(index, 1);
        resolve(undefined);
      };
      const waiter: WorkerWaiter = {
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.workerWaiters.push(waiter);
    });
  }

  /** A worker finished a job or its preload and is healthy: to the next waiter, or idle. */
  private releaseWorker(worker: PoolWorker): void {
    if (worker.state === 'exited') return;
    const waiter = this.workerWaiters.shift();
    if (waiter) {
      worker.state = 'busy';
      waiter.detach();
      waiter.resolve(worker);
    } else {
      worker.state = 'idle';
    }
  }

  private startJob(worker: PoolWorker, kind: JobKind, message: JobMessage): WorkerJob {
    const id = this.nextJobId++;
    const job = new WorkerJob(
      id,
      kind,
      worker,
      () => this.send(worker, { type: 'cancel', jobId: id }),
      (settled, outcome, error) => this.onJobSettled(settled, outcome, error),
    );
    worker.job = job;
    if (message.type === 'preload')
      for (const voice of message.voices) worker.voices.add(voice.modelPath);
    else if (message.type === 'synthesize') worker.voices.add(message.request.modelPath);
    else worker.voices.add(message.modelPath);
    // A preloading worker stays 'starting': no request may be handed to it yet.
    if (kind !== 'preload') worker.state = 'busy';
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) {
      // The worker died between being handed over and getting its job.
      job.fail('crashed', new WorkerCrashedError('exited before the job started'));
      return job;
    }
    if (kind !== 'preload') {
      job.timer = setTimeout(() => this.onJobTimeout(job), this.options.timeoutMs);
    }
    try {
      this.send(worker, { ...message, jobId: id });
    } catch (error) {
      // Options that cannot be cloned (a function, a symbol): the request's fault, not the worker's.
      job.fail('error', error instanceof Error ? error : new Error(String(error)));
    }
    return job;
  }

  private onJobTimeout(job: WorkerJob): void {
    if (job.settled) return;
    const { worker } = job;
    this.logger.warn(
      `synthesis worker ${worker.pid}: ${job.kind} ran past ${this.options.timeoutMs} ms; killing and replacing it`,
    );
    worker.killedFor = 'timeout';
    job.fail('timeout', new SynthesisTimeoutError(this.options.timeoutMs));
    worker.child.kill('SIGKILL');
  }

  private onJobSettled(job: WorkerJob, outcome: JobOutcome, error?: Error): void {
    clearTimeout(job.timer);
    const { worker } = job;
    if (worker.job === job) worker.job = undefined;
    const durationMs = performance.now() - job.startedAt;
    const workerHealthy = outcome === 'done' || outcome === 'cancelled' || outcome === 'error';
    if (job.kind === 'preload') {
      worker.ready = outcome === 'done';
      worker.settleStartup(error);
      if (worker.ready) this.failedStarts = 0;
      else if (workerHealthy) {
        this.logger.error(
          `synthesis worker ${worker.pid}: preloading voices failed: ${error?.message}`,
        );
      }
    } else {
      if (outcome === 'done') this.averageJobMs = 0.8 * this.averageJobMs + 0.2 * durationMs;
      this.options.onJobSettled?.({
        kind: job.kind,
        workerPid: worker.pid,
        outcome,
        sentenceCount: job.sentenceCount,
        durationMs,
      });
    }
    if (workerHealthy) this.releaseWorker(worker);
    job.releaseSlot?.();
  }

  private spawnWorker(): PoolWorker {
    const { file, execArgv, env } = workerProcess();
    const child = fork(file, [String(this.options.intraOpThreads)], {
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

  private onReply(worker: PoolWorker, reply: WorkerReply): void {
    switch (reply.type) {
      case 'ready':
        if (this.state === 'stopped') return; // being ended already
        this.startJob(worker, 'preload', { type: 'preload', voices: this.preload });
        return;
      case 'warning':
        this.logger.warn(`synthesis worker ${worker.pid}: ${reply.message}`);
        return;
      default:
        // A reply for a job that already ended (timed out, cancelled) is dropped.
        if (worker.job?.id === reply.jobId) worker.job.accept(reply);
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
    worker.job?.fail('crashed', new WorkerCrashedError(how));
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
    const parallel = Math.min(this.limiter.maxConcurrent, this.options.workers);
    const aheadMs = (this.averageJobMs * (this.limiter.active + this.limiter.queued)) / parallel;
    return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(aheadMs / 1000)));
  }
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
