/**
 * The server's PiperEngine: EnginePool configured from Settings. The pool's workers
 * start when `start()` is called (at boot, by EngineWarmup, with the default voice to
 * preload) and stop in the application's shutdown hook, after in-flight requests have
 * had SHUTDOWN_TIMEOUT_MS to finish.
 */
import { Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { Settings } from '../config/settings';
import { EnginePool, type VoicePaths } from './engine-pool';
import {
  PiperEngine,
  type EngineAudio,
  type EngineSentence,
  type EngineStats,
  type EngineSynthesisRequest,
  type PhonemizedSentence,
} from './piper-engine';

@Injectable()
export class PoolPiperEngine extends PiperEngine implements BeforeApplicationShutdown {
  private readonly logger = new Logger(PoolPiperEngine.name);
  private readonly pool: EnginePool;

  constructor(private readonly settings: Settings) {
    super();
    this.pool = new EnginePool({
      workers: settings.WORKERS,
      intraOpThreads: settings.workerThreads,
      maxConcurrent: settings.MAX_CONCURRENT_REQUESTS,
      maxQueue: settings.MAX_QUEUE,
      timeoutMs: settings.SYNTH_TIMEOUT_MS,
      logger: this.logger,
    });
  }

  /**
   * Forks the workers and has each load `preload`; resolves when all have. Rejects if
   * a voice fails to load: the workers still serve (loading voices on demand) but
   * `isReady()` stays false. Later calls return the first call's promise.
   */
  start(preload: VoicePaths[]): Promise<void> {
    return this.pool.start(preload);
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
    return this.pool.synthesize(request, signal);
  }

  synthesizeAll(request: EngineSynthesisRequest, signal?: AbortSignal): Promise<EngineAudio> {
    return this.pool.synthesizeAll(request, signal);
  }

  phonemize(modelPath: string, configPath: string, text: string): Promise<PhonemizedSentence[]> {
    return this.pool.phonemize(modelPath, configPath, text);
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
