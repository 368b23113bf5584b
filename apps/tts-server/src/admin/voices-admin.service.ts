import { Injectable, Logger } from '@nestjs/common';
import { rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ServerError } from '../common/server-errors';
import { VoiceCatalogue, downloadVoice, isVoiceInstalled } from '@app/voice-catalogue';
import { isInside } from '../common/paths';
import { Settings } from '../config/settings';
import { VoiceRegistryService } from '../models/voice-registry.service';

/** Removing the default voice would leave the server without one (409). */
export class DefaultVoiceRemovalError extends ServerError {
  readonly code = 'VOICE_IS_DEFAULT';

  constructor(name: string) {
    super(`voice ${name} is the default voice (DEFAULT_MODEL) and cannot be removed`);
  }
}

export interface AvailableVoice {
  name: string;
  language: string;
  quality: string;
  num_speakers: number;
  size_bytes: number;
  installed: boolean;
}

/**
 * Installs voices from the catalogue into MODEL_DIR and removes them, then rescans
 * the registry so /voices and synthesis see the change at once. Requests in flight on a
 * removed voice finish: its sessions are in the workers' memory (a loaded network no
 * longer reads its files), and the engine unloads them once no request uses them.
 */
@Injectable()
export class VoicesAdminService {
  private readonly logger = new Logger('VoicesAdmin');
  /** One download per voice at a time; a second request waits for the first. */
  private readonly downloads = new Map<string, Promise<{ voice: string; installed: boolean }>>();

  constructor(
    private readonly settings: Settings,
    private readonly voices: VoiceRegistryService,
    private readonly catalogue: VoiceCatalogue,
  ) {}

  async available(language?: string): Promise<AvailableVoice[]> {
    const catalogue = await this.catalogue.load();
    const voices = catalogue.list({ language: language || undefined });
    return Promise.all(
      voices.map(async (voice) => ({
        name: voice.name,
        language: voice.language.code,
        quality: voice.quality,
        num_speakers: voice.numSpeakers,
        size_bytes: voice.downloadBytes,
        installed: await isVoiceInstalled(this.settings.modelDir, voice),
      })),
    );
  }

  download(name: string): Promise<{ voice: string; installed: boolean }> {
    const pending = this.downloads.get(name);
    if (pending) return pending;
    const download = (async () => {
      const catalogue = await this.catalogue.load();
      const result = await downloadVoice(catalogue, name, { modelDir: this.settings.modelDir });
      if (!result.alreadyInstalled) this.logger.log(`installed voice ${result.voice}`);
      await this.voices.scan();
      return { voice: result.voice, installed: !result.alreadyInstalled };
    })();
    this.downloads.set(name, download);
    return download.finally(() => this.downloads.delete(name));
  }

  async remove(name: string): Promise<{ voice: string; removed: string[] }> {
    const voice = this.voices.get(name);
    if (this.voices.defaultVoice()?.name === voice.name) throw new DefaultVoiceRemovalError(name);
    const modelDir = resolve(this.settings.modelDir);
    const files = [voice.modelPath, voice.configPath];
    // The directory layout keeps a voice (and its card) in a folder of its own.
    const folder = dirname(voice.modelPath);
    const ownFolder = voice.layout === 'directory' && isBelow(folder, modelDir);
    for (const path of files) {
      if (!isBelow(path, modelDir))
        throw new Error(`refusing to remove ${path}: outside MODEL_DIR`);
    }
    if (ownFolder) await rm(folder, { recursive: true, force: true });
    else for (const path of files) await rm(path, { force: true });
    this.logger.log(`removed voice ${voice.name}`);
    await this.voices.scan();
    return { voice: voice.name, removed: ownFolder ? [folder] : files };
  }
}

/** Whether `path` lies strictly below `dir`. */
function isBelow(path: string, dir: string): boolean {
  return isInside(path, dir) && resolve(path) !== resolve(dir);
}
