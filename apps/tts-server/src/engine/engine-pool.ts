/**
 * Synthesis in long-lived worker subprocesses (synth-worker.ts) under a concurrency
 * limiter, scheduling sentences rather than requests: a request holds a slot, is
 * planned on a worker (cut into the sentences Piper speaks), and each other sentence
 * is a job of its own on whichever worker is idle, round robin across requests, put
 * back in order. Plain TypeScript, no Nest: PoolPiperEngine wraps it for the server.
 *
 * This class keeps the public API and a small loop (`dispatch`) that takes a snapshot
 * of the pool, asks the dispatch policy (pool/dispatch-policy.ts) what to do and
 * carries it out. Its parts are in pool/ (wired in pool/assemble-pool.ts), and
 * docs/ARCHITECTURE.md draws a request's way through them.
 */
import { EngineStoppedError } from './engine.errors';
import type {
  DrainHold,
  EngineAudio,
  EngineSentence,
  EngineSlot,
  EngineStats,
  EngineSynthesisRequest,
  PhonemizedSentence,
  VoiceIdentity,
  VoicePaths,
} from './piper-engine';
import {
  Admission,
  SentenceScheduler,
  SynthesisRun,
  assemblePool,
  checkPoolOptions,
  heldSlot,
  idleWorkers,
  placement,
  poolStats,
  snapshot,
  wholeAudio,
  workerToLoad,
  type AssembledPool,
  type EnginePoolLogger,
  type EnginePoolOptions,
  type JobMessage,
  type PhonemizeCall,
  type PoolRun,
  type PoolSnapshot,
  type PooledVoice,
  type PoolWorker,
  type RunSettled,
} from './pool';

export {
  PREEMPTIBLE_WAITING_SENTENCES,
  SECOND_COPY_WAITING_SENTENCES,
  type Dispatch,
  type EnginePoolLogger,
  type EnginePoolOptions,
  type JobOutcome,
  type SettledJob,
  type VoiceUnloaded,
} from './pool';

export class EnginePool {
  private state: 'new' | 'running' | 'draining' | 'stopped' = 'new';
  private readonly admission: Admission;
  private readonly logger: EnginePoolLogger;
  /** The pool's parts (pool/assemble-pool.ts). */
  private readonly parts: AssembledPool;
  private readonly scheduler = new SentenceScheduler<PhonemizeCall, PoolRun>();
  /** Requests holding a slot and not settled. */
  private readonly runs = new Set<PoolRun>();
  private started: Promise<void> | undefined;
  /** Every worker of start() has finished starting (well or not). */
  private startedUp = false;
  private stopped: Promise<void> | undefined;
  private nextRequestId = 1;

  constructor(private readonly options: EnginePoolOptions) {
    checkPoolOptions(options);
    this.logger = options.logger ?? console;
    this.admission = new Admission(options.maxConcurrent, options.maxQueue, options.workers);
    this.parts = assemblePool(options, this.logger, {
      dispatch: () => this.dispatch(),
      snapshot: () => this.snapshot(),
    });
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
    if (preload) this.parts.budget.pin(preload);
    const startups = Array.from({ length: this.options.workers }, () =>
      this.parts.supervisor.spawn(),
    );
    this.started = Promise.allSettled(startups.map((worker) => worker.startup)).then((results) => {
      this.startedUp = true;
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
      const idle = this.options.idleIntraOpThreads;
      this.logger.log(
        `${this.options.workers} synthesis worker(s) ready, ${this.options.intraOpThreads} thread(s) each` +
          `${idle ? ` (${idle} when the pool is otherwise idle)` : ''}, ${this.parts.budget.pinned().length} voice(s) preloaded`,
      );
    });
    return this.started;
  }

  /**
   * Pins exactly these voices (the default one): every worker loads them, with their
   * all-cores session, before its next job, and they are never evicted; the voices
   * pinned before become ordinary ones. Resolves when every live worker has them;
   * rejects if one fails to load them. The pool stays ready meanwhile if its workers
   * held the voices pinned before. Before start(), it only sets what start() loads.
   */
  setPinnedVoices(voices: VoicePaths[]): Promise<void> {
    if (this.state === 'draining' || this.state === 'stopped') {
      return Promise.reject(new EngineStoppedError());
    }
    const loaded = this.parts.loader.pin(voices, this.parts.supervisor.live());
    this.dispatch();
    return loaded;
  }

  /**
   * Loads each of these voices once (PRELOAD_VOICES), each on the worker that holds the
   * least of the voices other than the pinned ones, as far as the bounds allow without
   * evicting anything. Resolves when every one is loaded or skipped. Before start(),
   * it resolves at once without loading anything.
   */
  preloadVoices(voices: VoicePaths[]): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    const loaded = this.parts.loader.preload(voices, this.parts.supervisor.live());
    this.dispatch();
    return loaded;
  }

  /**
   * The voice's files were removed or replaced: that revision (every revision when none
   * is given) is unpinned, and unloaded from every worker once no request uses it.
   */
  retireVoice(voice: VoiceIdentity): void {
    this.parts.budget.retire(voice);
  }

  /**
   * True once start() has brought the workers up, until shutdown, while a worker has
   * every pinned voice loaded: one bad request (a worker replaced) must not take the
   * instance out of rotation while another worker serves.
   */
  isReady(): boolean {
    return (
      this.state === 'running' &&
      this.startedUp &&
      this.parts.supervisor.live().some((worker) => this.parts.loader.isReady(worker))
    );
  }

  stats(): EngineStats {
    return poolStats({ workers: this.options.workers, admission: this.admission, ...this.parts });
  }

  /** Sentences waiting for a worker, over every request (tracing, benchmarks). */
  queuedSentences(): number {
    return this.scheduler.queuedSentences;
  }

  /** Process ids of the live workers (operations, tests). */
  workerPids(): number[] {
    return this.parts.supervisor.livePids();
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

  /**
   * One admission slot for several syntheses in turn (PiperEngine.acquireSlot): refused
   * now or never; shutdown waits for it as for a request (up to its drain time).
   */
  async acquireSlot(signal?: AbortSignal, drainHold?: DrainHold): Promise<EngineSlot> {
    this.assertAccepting(drainHold);
    const release = await this.admission.acquire(signal, drainHold);
    // Each synthesis runs in the slot held (its run releases nothing).
    return heldSlot(release, (request, partSignal) =>
      this.stream(request, partSignal, undefined, () => undefined),
    );
  }

  /** The whole text as one buffer; throws the signal's reason if it aborts (never partial audio). */
  async synthesizeAll(request: EngineSynthesisRequest, signal?: AbortSignal): Promise<EngineAudio> {
    const started: { run?: PoolRun } = {};
    const sentences: EngineSentence[] = [];
    for await (const sentence of this.stream(request, signal, (run) => (started.run = run))) {
      sentences.push(sentence);
    }
    signal?.throwIfAborted();
    return wholeAudio(sentences, started.run?.startedAt);
  }

  /** The sentences `synthesize` would speak, as phonemes and ids. */
  async phonemize(
    modelPath: string,
    configPath: string,
    text: string,
    revision?: string,
  ): Promise<PhonemizedSentence[]> {
    this.assertAccepting();
    const release = await this.admission.acquire();
    const voice = this.parts.budget.voice({ modelPath, configPath, revision });
    this.parts.budget.beginUse(voice);
    try {
      return await new Promise<PhonemizedSentence[]>((resolve, reject) => {
        const message: JobMessage = { type: 'phonemize', modelPath, configPath, revision, text };
        this.scheduler.addQuickJob({ id: this.nextRequestId++, voice, message, resolve, reject });
        this.dispatch();
      });
    } finally {
      this.parts.budget.endUse(voice);
      release();
    }
  }

  /** A hold on the drain (pool/drain-holds.ts); EngineStoppedError once shutdown has begun. */
  holdDrain(): DrainHold {
    if (this.state === 'draining' || this.state === 'stopped') throw new EngineStoppedError();
    return this.admission.holdDrain();
  }

  /**
   * Stops accepting work (new calls and queued requests get EngineStoppedError, except
   * those of a DrainHold), lets held work and running requests finish for up to
   * `timeoutMs`, fails those still running with EngineStoppedError, then ends every
   * worker (disconnect, SIGKILL after a short grace). Resolves when every worker process
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
    this.parts.supervisor.drain();
    await this.admission.drain(timeoutMs, stoppedError);
    this.state = 'stopped';
    // A paused worker would not see its channel close.
    this.parts.preemption.end();
    for (const run of [...this.runs]) run.fail('stopped', stoppedError);
    for (const call of this.scheduler.clear()) call.reject(stoppedError);
    for (const worker of this.parts.supervisor.live()) {
      this.parts.jobs.fail(worker, { outcome: 'stopped', error: stoppedError });
    }
    await this.parts.supervisor.stop();
    this.logger.log('synthesis workers stopped');
  }

  private assertAccepting(hold?: DrainHold): void {
    if (this.state === 'new') {
      throw new Error('EnginePool.start() must be called before the pool takes requests');
    }
    if (this.state === 'running') return;
    if (this.state === 'draining' && this.admission.isHeld(hold)) return;
    throw new EngineStoppedError();
  }

  /** `heldSlot`: the release of a slot acquired before (acquireSlot), which the run keeps. */
  private async *stream(
    request: EngineSynthesisRequest,
    signal: AbortSignal | undefined,
    onStart?: (run: PoolRun) => void,
    heldSlot?: () => void,
  ): AsyncGenerator<EngineSentence, void, undefined> {
    this.assertAccepting(request.drainHold);
    let release: () => void;
    try {
      release = heldSlot ?? (await this.admission.acquire(signal, request.drainHold));
    } catch (error) {
      if (signal?.aborted) return;
      throw error;
    }
    if (this.state === 'stopped') {
      release();
      throw new EngineStoppedError();
    }
    if (signal?.aborted) {
      release();
      return;
    }
    // Only the contract's fields cross to the worker (a DTO instance may carry more).
    const { modelPath, configPath, revision, text, options } = request;
    const voice = this.parts.budget.voice({ modelPath, configPath, revision });
    this.parts.budget.beginUse(voice);
    const run: PoolRun = new SynthesisRun(
      this.nextRequestId++,
      { modelPath, configPath, ...(revision === undefined ? {} : { revision }), text, options },
      voice,
      release,
      (settledRun, settled) => this.onRunSettled(settledRun, settled),
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

  private snapshot(): PoolSnapshot {
    return snapshot({
      ...this.parts,
      workers: this.parts.supervisor.live(),
      runs: this.runs,
      waitingQuickJobs: this.scheduler.quickJobs().map((call) => call.voice),
      queuedSentences: this.scheduler.queuedSentences,
      preempting: this.parts.preemption.active,
      preemption: (this.options.preemption ?? false) && process.platform !== 'win32',
    });
  }

  /**
   * Hands waiting work to idle workers until one or the other runs out, as the policy
   * decides. Called whenever work arrives or a worker frees up.
   */
  private dispatch(): void {
    // A preempting sentence has the cores: anything started now would take them back.
    if (this.state === 'stopped' || this.parts.preemption.active) return;
    for (;;) {
      const pool = this.snapshot();
      if (idleWorkers(pool.view).length === 0) return;
      const loader = workerToLoad(pool.view);
      if (loader) {
        this.parts.loader.startNextLoad(pool.workerOf(loader));
        continue;
      }
      const runnable = (voice: PooledVoice<PoolWorker>): boolean =>
        placement(pool.view, pool.voiceView(voice)) !== undefined;
      const work = this.scheduler.next(
        (call) => runnable(call.voice),
        (run) => runnable(run.voice),
      );
      if (!work) {
        this.parts.loader.loadSecondCopies(pool);
        return;
      }
      const voice = work.kind === 'quick' ? work.job.voice : work.request.voice;
      const target = placement(pool.view, pool.voiceView(voice)) ?? idleWorkers(pool.view)[0];
      const worker = pool.workerOf(target);
      if (work.kind === 'quick') this.parts.starter.startPhonemize(work.job, worker);
      else this.parts.starter.startRunJob(work.request, worker);
    }
  }

  /** Stops handing out the request's sentences; it settles once its running jobs end. */
  private cancelRun(run: PoolRun): void {
    if (run.cancel()) this.scheduler.removeRequest(run);
  }

  private onRunSettled(run: PoolRun, settled: RunSettled): void {
    this.scheduler.removeRequest(run);
    this.runs.delete(run);
    this.parts.budget.endUse(run.voice);
    if (settled.outcome === 'done') this.admission.requestDone(settled.durationMs);
    this.options.onJobSettled?.({ kind: 'synthesize', ...settled });
  }
}
