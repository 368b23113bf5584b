import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { PoolPiperEngine } from './engine/pool-piper-engine';
import { VoiceRegistry } from './models/voice-registry.service';

/**
 * Starts the worker pool once the voice registry is scanned, preloading the default
 * voice in every worker. Not awaited by the boot: the HTTP server (and /health/live)
 * answers at once, and /health/ready turns true when the workers are warm.
 */
@Injectable()
export class EngineWarmup implements OnApplicationBootstrap {
  private readonly logger = new Logger(EngineWarmup.name);
  private warm: Promise<void> | undefined;

  constructor(
    private readonly engine: PoolPiperEngine,
    private readonly voices: VoiceRegistry,
  ) {}

  onApplicationBootstrap(): void {
    const voice = this.voices.defaultVoice();
    if (!voice)
      this.logger.warn('no voice in MODEL_DIR: the server is not ready until one is installed');
    const preload = voice ? [{ modelPath: voice.modelPath, configPath: voice.configPath }] : [];
    this.warm = this.engine.start(preload).then(
      () => this.logger.log(`workers ready${voice ? ` with voice ${voice.name}` : ''}`),
      (error: unknown) => this.logger.error(`workers failed to start: ${String(error)}`),
    );
  }

  /** Resolves when the pool has started (or failed to): for tests and benchmarks. */
  whenStarted(): Promise<void> {
    return this.warm ?? Promise.resolve();
  }
}
