import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Settings } from './config/settings';
import { PoolPiperEngine } from './engine/pool-piper-engine';
import type { VoicePaths } from './engine/piper-engine';
import { VoiceRegistryService, voicePaths, type VoiceEntry } from './models/voice-registry.service';

/**
 * Starts the worker pool once the voice registry is scanned, with the default voice
 * pinned (loaded in every worker, never evicted), then loads PRELOAD_VOICES (each in
 * one worker, within the voice bounds). Not awaited by the boot: the HTTP server (and
 * /health/live) answers at once, and /health/ready turns true when the workers have
 * the default voice; the preloads follow without holding readiness back.
 */
@Injectable()
export class EngineWarmupService implements OnApplicationBootstrap {
  private readonly logger = new Logger(EngineWarmupService.name);
  private warm: Promise<void> | undefined;

  constructor(
    private readonly engine: PoolPiperEngine,
    private readonly voices: VoiceRegistryService,
    private readonly settings: Settings,
  ) {}

  onApplicationBootstrap(): void {
    const voice = this.voices.defaultVoice();
    if (!voice)
      this.logger.warn('no voice in MODEL_DIR: the server is not ready until one is installed');
    const pinned = voice ? [voicePaths(voice)] : [];
    const preload = this.preloadVoices(voice);
    this.warm = this.engine.start(pinned).then(
      () => this.logger.log(`workers ready${voice ? ` with voice ${voice.name}` : ''}`),
      (error: unknown) => this.logger.error(`workers failed to start: ${String(error)}`),
    );
    if (preload.length > 0) {
      // Preloading goes on while the default voice's failure (if any) is reported:
      // these voices serve requests of their own.
      this.warm = this.warm
        .then(() => this.engine.preloadVoices(preload))
        .then(() =>
          this.logger.log(`PRELOAD_VOICES: ${preload.length} voice(s) loaded or skipped`),
        );
    }
  }

  /** Resolves when the pool has started (or failed to) and PRELOAD_VOICES are loaded: for tests and benchmarks. */
  whenStarted(): Promise<void> {
    return this.warm ?? Promise.resolve();
  }

  /** PRELOAD_VOICES by name, the default voice and unknown names left out (one warning for those). */
  private preloadVoices(defaultVoice: VoiceEntry | undefined): VoicePaths[] {
    const unknown: string[] = [];
    const voices: VoicePaths[] = [];
    for (const name of new Set(this.settings.PRELOAD_VOICES)) {
      if (!this.voices.has(name)) unknown.push(name);
      else if (name !== defaultVoice?.name) voices.push(voicePaths(this.voices.get(name)));
    }
    if (unknown.length > 0) {
      this.logger.warn(
        `PRELOAD_VOICES names voice(s) not in MODEL_DIR, ignored: ${unknown.join(', ')}`,
      );
    }
    return voices;
  }
}
