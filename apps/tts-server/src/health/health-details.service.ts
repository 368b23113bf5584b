import { Injectable } from '@nestjs/common';
import { relative } from 'node:path';
import { SERVICE_VERSION } from '../common/package-version';
import { Settings } from '../config/settings';
import { PiperEngine, type EngineStats } from '../engine/piper-engine';
import {
  DefaultVoiceInstallerService,
  type DefaultVoiceInstallState,
} from '../models/default-voice-installer.service';
import { VoiceRegistryService } from '../models/voice-registry.service';
import { EngineHealthIndicator } from './engine.health';

export interface HealthDetails {
  /** "ok", or "degraded" when a voice in MODEL_DIR is invalid or DEFAULT_MODEL could not be installed. */
  status: 'ok' | 'degraded';
  version: string;
  uptime_seconds: number;
  /** What /health/ready answers, and why not when it is false. */
  ready: boolean;
  not_ready_reason?: string;
  default_voice: string | null;
  default_voice_install: DefaultVoiceInstallState;
  voices: {
    installed: string[];
    /** Found in MODEL_DIR but not served; paths relative to MODEL_DIR. */
    invalid: { name: string; path: string; reasons: string[] }[];
    reload_interval_ms: number;
  };
  engine: EngineStats;
}

/** The operator's view behind GET /health/detailed: what is served, what is not, and why. */
@Injectable()
export class HealthDetailsService {
  constructor(
    private readonly settings: Settings,
    private readonly voices: VoiceRegistryService,
    private readonly installer: DefaultVoiceInstallerService,
    private readonly engine: PiperEngine,
    private readonly readiness: EngineHealthIndicator,
  ) {}

  details(): HealthDetails {
    const readiness = this.readiness.check()['engine'];
    const invalid = this.voices.invalid().map(({ name, path, reasons }) => ({
      name,
      path: this.relativeToModelDir(path),
      // Reasons name files by absolute path; the operator knows MODEL_DIR.
      reasons: reasons.map((reason) => reason.replaceAll(`${this.settings.modelDir}/`, '')),
    }));
    const install = this.installer.status();
    const ready = readiness?.status === 'up';
    return {
      status: invalid.length > 0 || install.state === 'failed' ? 'degraded' : 'ok',
      version: SERVICE_VERSION,
      uptime_seconds: Math.round(process.uptime()),
      ready,
      ...(ready ? {} : { not_ready_reason: String(readiness?.['message'] ?? 'not ready') }),
      default_voice: this.voices.defaultVoice()?.name ?? null,
      default_voice_install: install,
      voices: {
        installed: this.voices.names(),
        invalid,
        reload_interval_ms: this.settings.MODEL_RELOAD_INTERVAL_MS,
      },
      engine: this.engineStats(),
    };
  }

  /** The engine's stats, each loaded voice named by its path relative to MODEL_DIR. */
  private engineStats(): EngineStats {
    const stats = this.engine.stats();
    return {
      ...stats,
      loadedVoiceDetails: stats.loadedVoiceDetails.map((voice) => ({
        ...voice,
        modelPath: this.relativeToModelDir(voice.modelPath),
      })),
    };
  }

  private relativeToModelDir(path: string): string {
    return relative(this.settings.modelDir, path) || '.';
  }
}
