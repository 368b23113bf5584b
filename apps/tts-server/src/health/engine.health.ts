import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { PiperEngine } from '../engine/piper-engine';
import { DefaultVoiceInstallerService, percentOf } from '../models/default-voice-installer.service';
import { VoiceRegistryService } from '../models/voice-registry.service';
import { ShutdownState } from './shutdown-state';

/**
 * Readiness: the server can answer a synthesis now with the voice it was configured
 * for — not shutting down, DEFAULT_MODEL not still downloading, a default voice
 * installed, a worker started with that voice loaded. A default voice replaced in
 * MODEL_DIR does not take readiness away while the workers load its new files:
 * requests wait for that load instead.
 */
@Injectable()
export class EngineHealthIndicator {
  constructor(
    private readonly health: HealthIndicatorService,
    private readonly engine: PiperEngine,
    private readonly voices: VoiceRegistryService,
    private readonly shutdown: ShutdownState,
    private readonly installer: DefaultVoiceInstallerService,
  ) {}

  check(): HealthIndicatorResult {
    const session = this.health.check('engine');
    const stats = this.engine.stats();
    const defaultVoice = this.voices.defaultVoice()?.name ?? null;
    const details = { defaultVoice, workers: stats.workers, readyWorkers: stats.readyWorkers };
    if (this.shutdown.shuttingDown) return session.down({ ...details, message: 'shutting down' });
    const install = this.installer.status();
    if (install.state === 'downloading') {
      const percent = percentOf(install.bytes, install.totalBytes);
      return session.down({
        ...details,
        message: `downloading DEFAULT_MODEL ${install.voice} (${install.file ?? 'catalogue'}, ${percent}%)`,
      });
    }
    if (!defaultVoice)
      return session.down({ ...details, message: 'no voice installed in MODEL_DIR' });
    if (!this.engine.isReady())
      return session.down({ ...details, message: 'workers are starting' });
    return session.up(details);
  }
}
