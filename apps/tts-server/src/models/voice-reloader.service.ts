/**
 * Hot reload of MODEL_DIR: rescans it every MODEL_RELOAD_INTERVAL_MS and tells the
 * engine what changed, so voices added, replaced or removed appear in and disappear
 * from /voices within seconds, without a restart.
 *
 * Polling, not file-system events: inotify does not see changes made by another host on
 * a shared volume (NFS, a Kubernetes ReadWriteMany claim), and a rescan is a readdir and
 * a stat per file (VoiceRegistryService memoizes configs and network checks by size and mtime).
 *
 * Requests in flight are not failed by a change: a voice's sessions live in the workers'
 * memory, and the engine unloads a removed or replaced revision only once no request
 * uses it (retireVoice). When the default voice changes (DEFAULT_MODEL installed later,
 * or the fallback default removed) the new one is pinned in every worker.
 */
import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { PiperEngine } from '../engine/piper-engine';
import { Settings } from '../config/settings';
import { VoiceRegistryService, voicePaths, type VoiceChanges } from './voice-registry.service';

@Injectable()
export class VoiceReloaderService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(VoiceReloaderService.name);
  private timer: NodeJS.Timeout | undefined;
  private scanning = false;
  /** The engine is started by EngineWarmupService at bootstrap with the default voice then. */
  private engineStarted = false;

  constructor(
    private readonly settings: Settings,
    private readonly voices: VoiceRegistryService,
    private readonly engine: PiperEngine,
  ) {
    voices.onChange((changes) => this.applyToEngine(changes));
  }

  onApplicationBootstrap(): void {
    this.engineStarted = true;
    const interval = this.settings.MODEL_RELOAD_INTERVAL_MS;
    if (interval === 0) return;
    this.timer = setInterval(() => void this.rescan(), interval);
    // The timer alone must not keep a process alive that is otherwise done.
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async rescan(): Promise<void> {
    if (this.scanning) return; // a slow disk: skip a tick rather than pile scans up
    this.scanning = true;
    try {
      await this.voices.scan();
    } catch (error) {
      this.logger.error(`rescanning MODEL_DIR failed: ${(error as Error).message}`);
    } finally {
      this.scanning = false;
    }
  }

  private async applyToEngine(changes: VoiceChanges): Promise<void> {
    if (!this.engineStarted) return;
    for (const gone of [...changes.removed, ...changes.replaced.map(({ previous }) => previous)]) {
      this.engine.retireVoice({ modelPath: gone.modelPath, revision: gone.revision });
    }
    const voice = this.voices.defaultVoice();
    const defaultReplaced = changes.replaced.some(({ current }) => current.name === voice?.name);
    if (changes.defaultChanged || defaultReplaced) {
      await this.engine.setPinnedVoices(voice ? [voicePaths(voice)] : []);
    }
  }
}
