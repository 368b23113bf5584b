/**
 * The server's PiperEngine: EnginePool configured from Settings. The pool's workers
 * start when `start()` is called (at boot, by EngineWarmupService, with the default voice to
 * pin, then PRELOAD_VOICES to preload) and stop in the application's shutdown hook,
 * after in-flight requests have had SHUTDOWN_TIMEOUT_MS to finish. The loaded voices
 * are bounded by MAX_LOADED_VOICES and VOICE_MEMORY_MB (engine/pool/voice-budget.ts).
 */
import { Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { Settings } from '../config/settings';
import { MetricsService } from '../metrics/metrics.service';
import { EnginePool } from './engine-pool';
import {
  PiperEngine,
  type DrainHold,
  type EngineAudio,
  type EngineSentence,
  type EngineSlot,
  type EngineStats,
  type EngineSynthesisRequest,
  type PhonemizedSentence,
  type VoiceIdentity,
  type VoicePaths,
} from './piper-engine';

@Injectable()
export class PoolPiperEngine extends PiperEngine implements BeforeApplicationShutdown {
  private readonly logger = new Logger(PoolPiperEngine.name);
  private readonly pool: EnginePool;

  constructor(
    private readonly settings: Settings,
    private readonly metrics: MetricsService,
  ) {
    super();
    const evictions = metrics.counter(
      'piper_voice_evictions_total',
      'Voices unloaded from every worker to stay within MAX_LOADED_VOICES and VOICE_MEMORY_MB',
      ['voice'],
    );
    this.pool = new EnginePool({
      workers: settings.WORKERS,
      intraOpThreads: settings.workerThreads,
      idleIntraOpThreads: idleWorkerThreads(settings.WORKERS, settings.workerThreads),
      preemption: settings.SENTENCE_PREEMPTION,
      maxWorkerRssBytes: settings.WORKER_MAX_RSS_MB * 2 ** 20,
      maxConcurrent: settings.MAX_CONCURRENT_REQUESTS,
      maxQueue: settings.MAX_QUEUE,
      timeoutMs: settings.SYNTH_TIMEOUT_MS,
      maxLoadedVoices: settings.MAX_LOADED_VOICES,
      voiceMemoryBytes: settings.VOICE_MEMORY_MB * 2 ** 20,
      logger: this.logger,
      onVoiceEvicted: (voice) => evictions.inc({ voice: basename(voice.modelPath, '.onnx') }),
    });
    const stats = (): EngineStats => this.pool.stats();
    metrics.gauge(
      'piper_queue_depth',
      'Requests waiting for a synthesis slot',
      () => stats().queuedRequests,
    );
    metrics.gauge(
      'piper_active_requests',
      'Requests holding a synthesis slot',
      () => stats().activeRequests,
    );
    metrics.labelledGauge('piper_workers', 'Synthesis worker processes by state', 'state', () => {
      const { busyWorkers, idleWorkers, workers } = stats();
      return { busy: busyWorkers, idle: idleWorkers, configured: workers };
    });
    metrics.countedTotal(
      'piper_worker_replacements_total',
      'Workers started to replace one that died or was killed, since the server started',
      () => stats().replacedWorkers,
    );
    metrics.countedTotal(
      'piper_worker_memory_replacements_total',
      'Workers replaced because a sentence left them above WORKER_MAX_RSS_MB, since the server started',
      () => stats().memoryReplacedWorkers,
    );
    metrics.countedTotal(
      'piper_preemptions_total',
      "Sentences that paused long requests' sentences to run on every core, since the server started",
      () => stats().preemptions,
    );
    metrics.gauge(
      'piper_loaded_voices',
      'Voice instances loaded in the workers (a voice in two workers counts twice)',
      () => stats().loadedVoices,
    );
    metrics.gauge(
      'piper_loaded_voice_bytes_estimated',
      'Estimated memory of the voice sessions loaded in every worker (file size times a measured factor)',
      () => stats().estimatedVoiceBytes,
    );
  }

  /**
   * Forks the workers and has each load `preload`; resolves when all have. Rejects if
   * a voice fails to load: the workers still serve (loading voices on demand) but
   * `isReady()` stays false. Later calls return the first call's promise.
   */
  start(preload: VoicePaths[]): Promise<void> {
    return this.pool.start(preload);
  }

  setPinnedVoices(voices: VoicePaths[]): Promise<void> {
    return this.pool.setPinnedVoices(voices);
  }

  preloadVoices(voices: VoicePaths[]): Promise<void> {
    return this.pool.preloadVoices(voices);
  }

  retireVoice(voice: VoiceIdentity): void {
    this.pool.retireVoice(voice);
  }

  override holdDrain(): DrainHold {
    return this.pool.holdDrain();
  }

  /** Drains in-flight requests (up to SHUTDOWN_TIMEOUT_MS), then ends every worker. Idempotent. */
  shutdown(): Promise<void> {
    return this.pool.shutdown(this.settings.SHUTDOWN_TIMEOUT_MS);
  }

  /**
   * Drains before Nest closes the HTTP server: closing it waits, without a bound, for
   * every accepted request, queued ones included. Draining first gives in-flight
   * syntheses SHUTDOWN_TIMEOUT_MS, answers queued and new ones 503 at once, then ends
   * the workers, so the server stops within the grace period Kubernetes allows.
   */
  beforeApplicationShutdown(): Promise<void> {
    return this.shutdown();
  }

  synthesize(request: EngineSynthesisRequest, signal?: AbortSignal): AsyncIterable<EngineSentence> {
    return this.observed(request, () => this.pool.synthesize(request, signal));
  }

  override async acquireSlot(signal?: AbortSignal, drainHold?: DrainHold): Promise<EngineSlot> {
    const slot = await this.pool.acquireSlot(signal, drainHold);
    return {
      synthesize: (request, partSignal) =>
        this.observed(request, () => slot.synthesize(request, partSignal)),
      release: () => slot.release(),
    };
  }

  /** The sentences, with the synthesis's metrics once they are all delivered. */
  private async *observed(
    request: EngineSynthesisRequest,
    sentences: () => AsyncIterable<EngineSentence>,
  ): AsyncIterable<EngineSentence> {
    const started = performance.now();
    let samples = 0;
    let sampleRate = 0;
    for await (const sentence of sentences()) {
      samples += sentence.pcm.length;
      sampleRate = sentence.sampleRate;
      yield sentence;
    }
    if (sampleRate > 0) this.observe(request, started, samples / sampleRate);
  }

  async synthesizeAll(request: EngineSynthesisRequest, signal?: AbortSignal): Promise<EngineAudio> {
    const started = performance.now();
    const audio = await this.pool.synthesizeAll(request, signal);
    this.observe(request, started, audio.pcm.length / audio.sampleRate);
    return audio;
  }

  /** Metrics of a completed synthesis, labelled by voice name (the network's file name). */
  private observe(request: EngineSynthesisRequest, started: number, audioSeconds: number): void {
    const voice = basename(request.modelPath, '.onnx');
    this.metrics.observeSynthesis(voice, (performance.now() - started) / 1000, audioSeconds);
  }

  phonemize(
    modelPath: string,
    configPath: string,
    text: string,
    revision?: string,
  ): Promise<PhonemizedSentence[]> {
    return this.pool.phonemize(modelPath, configPath, text, revision);
  }

  isReady(): boolean {
    return this.pool.isReady();
  }

  stats(): EngineStats {
    return this.pool.stats();
  }

  /** Process ids of the live workers (operations, tests). */
  workerPids(): number[] {
    return this.pool.workerPids();
  }
}

/**
 * The thread budget. Under load the best split is WORKERS = cores with one intra-op
 * thread each (two one-thread sessions do more than one two-thread session, and the
 * cores are never oversubscribed), and sentence scheduling spreads one long request
 * over every worker. What that split loses is a lone one-sentence request on an idle
 * server (about 205 ms with one thread against 145 ms with two, contract §8), so each
 * worker also keeps a session with every core of the pinned (default) voice and runs on it a
 * sentence that starts while every other worker is idle. None when the workers already
 * use every core.
 */
export function idleWorkerThreads(
  workers: number,
  workerThreads: number,
  machineCores = availableParallelism(),
): number {
  // The cores are those the pool was given (WORKERS × WORKER_THREADS), not the
  // machine's: in a container Node sees every core of the host, not its CPU limit,
  // and a session with the host's threads under a two-core quota would be throttled.
  const cores = Math.min(machineCores, workers * workerThreads);
  return workerThreads < cores ? cores : 0;
}
