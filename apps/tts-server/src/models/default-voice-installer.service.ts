/**
 * Installs DEFAULT_MODEL from Piper's catalogue when the server starts without it, so a
 * fresh clone goes from `npm start` to a real voice with nothing else to do.
 *
 * The download runs in the background: the HTTP server (and /health/live) answers at
 * once, /health/ready says not ready while the default voice is being downloaded, and
 * the voices already installed keep being served. Progress goes to the log. When the
 * download is verified and renamed into MODEL_DIR (by @app/voice-catalogue, which never
 * leaves a half-written voice there) the registry is rescanned, the voice becomes the
 * default, and the workers load it. When it cannot be downloaded (offline, not in the
 * catalogue, disk full) one log line says why and what to do, and the server goes on
 * with what it has.
 */
import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  NetworkError,
  VoiceCatalogue,
  downloadVoice,
  type DownloadProgress,
} from '@app/voice-catalogue';
import { Settings } from '../config/settings';
import { VoiceRegistryService } from './voice-registry.service';

export type DefaultVoiceInstallState =
  /** DEFAULT_MODEL unset, installed at start, or AUTO_DOWNLOAD off. */
  | { state: 'not-needed' }
  | {
      state: 'downloading';
      voice: string;
      file?: string;
      bytes: number;
      totalBytes: number;
    }
  | { state: 'installed'; voice: string }
  | { state: 'failed'; voice: string; reason: string };

/** Progress lines at most this often: a log line per chunk would drown the log. */
const PROGRESS_LOG_INTERVAL_MS = 5000;

@Injectable()
export class DefaultVoiceInstallerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DefaultVoiceInstallerService.name);
  private current: DefaultVoiceInstallState = { state: 'not-needed' };
  private readonly abort = new AbortController();
  private install: Promise<void> = Promise.resolve();

  constructor(
    private readonly settings: Settings,
    private readonly voices: VoiceRegistryService,
    private readonly catalogue: VoiceCatalogue,
  ) {}

  onApplicationBootstrap(): void {
    const name = this.settings.DEFAULT_MODEL;
    if (name === undefined || this.voices.has(name)) return;
    if (!this.settings.AUTO_DOWNLOAD) {
      this.logger.warn(
        `DEFAULT_MODEL "${name}" is not installed and AUTO_DOWNLOAD is off: ` +
          `install it with \`npx piper-server voices download ${name}\``,
      );
      return;
    }
    this.current = { state: 'downloading', voice: name, bytes: 0, totalBytes: 0 };
    this.install = this.download(name);
  }

  onApplicationShutdown(): void {
    this.abort.abort();
  }

  /** What the installer is doing, for readiness and /health/detailed. */
  status(): DefaultVoiceInstallState {
    return { ...this.current };
  }

  /** Settles when the download has ended one way or the other (tests). */
  whenSettled(): Promise<void> {
    return this.install;
  }

  private async download(name: string): Promise<void> {
    const source = this.catalogue.baseUrl;
    this.logger.log(`DEFAULT_MODEL "${name}" is not installed: downloading it from ${source}`);
    let lastLog = 0;
    try {
      const catalogue = await this.catalogue.load({ signal: this.abort.signal });
      const result = await downloadVoice(catalogue, name, {
        modelDir: this.settings.modelDir,
        signal: this.abort.signal,
        progressIntervalMs: 500,
        onFileStart: ({ file, totalBytes }) => {
          this.current = { state: 'downloading', voice: name, file, bytes: 0, totalBytes };
          this.logger.log(`downloading ${file} (${megabytes(totalBytes)})`);
        },
        onProgress: (progress) => {
          const { file, bytes, totalBytes } = progress;
          this.current = { state: 'downloading', voice: name, file, bytes, totalBytes };
          const now = Date.now();
          if (now - lastLog >= PROGRESS_LOG_INTERVAL_MS && progress.bytes < progress.totalBytes) {
            lastLog = now;
            this.logger.log(describeProgress(progress));
          }
        },
        onRetry: ({ file, attempt, attempts, delayMs, reason }) =>
          this.logger.warn(
            `downloading ${file} failed (${reason}); attempt ${attempt + 1} of ${attempts} in ${delayMs} ms`,
          ),
      });
      this.logger.log(`installed DEFAULT_MODEL "${name}" in ${result.dir}`);
      await this.voices.scan();
      this.current = { state: 'installed', voice: name };
    } catch (error) {
      if (this.abort.signal.aborted) return;
      const reason = (error as Error).message;
      this.current = { state: 'failed', voice: name, reason };
      const advice =
        error instanceof NetworkError
          ? `run \`npx piper-server voices download ${name}\` where there is network and copy ` +
            `it into MODEL_DIR, or point VOICES_BASE_URL at a reachable mirror`
          : `install it with \`npx piper-server voices download ${name}\``;
      this.logger.error(
        `could not download DEFAULT_MODEL "${name}": ${reason}. Serving the ` +
          `${this.voices.list().length} installed voice(s); ${advice} (AUTO_DOWNLOAD=false skips this)`,
      );
    }
  }
}

/** Whole percent of a download done; 0 until its size is known. */
export function percentOf(bytes: number, totalBytes: number): number {
  return totalBytes > 0 ? Math.floor((bytes / totalBytes) * 100) : 0;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function describeProgress({
  file,
  bytes,
  totalBytes,
  bytesPerSecond,
  etaSeconds,
}: DownloadProgress): string {
  const percent = percentOf(bytes, totalBytes);
  const rate = bytesPerSecond > 0 ? `, ${megabytes(bytesPerSecond)}/s` : '';
  const eta = etaSeconds === undefined ? '' : `, ${Math.ceil(etaSeconds)} s left`;
  return `downloading ${file}: ${percent}% of ${megabytes(totalBytes)}${rate}${eta}`;
}
