/**
 * Installs a catalogue voice into MODEL_DIR as `<MODEL_DIR>/<voice>/` (the directory
 * layout the server's registry reads: `<voice>.onnx`, `<voice>.onnx.json`, MODEL_CARD).
 *
 * Never a half-written voice:
 * 1. every file streams into a temporary file in the destination directory,
 *    `.<file>.<random>.part` (a dot-name: the registry skips it; `.part`: never `*.onnx`);
 * 2. each is checked as it arrives (a Content-Length or a byte count beyond the
 *    catalogue's size stops it early) and at its end, size first, then md5 (docs/PIPER.md §1);
 * 3. only when every file of the voice is verified are they renamed into place, in the
 *    order MODEL_CARD, `.onnx`, `.onnx.json`: the config is what makes a directory a
 *    voice (the registry skips a network without one), so it lands last;
 * 4. on any failure every temporary file is removed, and so is the voice directory if
 *    this download created it.
 *
 * Network failures are retried with exponential backoff (see retry.ts); a retry asks
 * for the rest of the file (`Range`) and goes on hashing where it stopped, or starts
 * over when the server ignores the range.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { mkdir, open, rename, rm, rmdir, stat, statfs, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  ChecksumMismatchError,
  DiskFullError,
  HttpStatusError,
  SizeMismatchError,
  VoiceCatalogueError,
} from './errors';
import { exhaustedError, getOnce } from './http';
import { classifyNetworkError, TransientFailure, withRetry, type RetryPolicy } from './retry';
import {
  installedFiles,
  type Catalogue,
  type CatalogueFile,
  type CatalogueVoice,
} from './catalogue';

export interface DownloadProgress {
  voice: string;
  /** File name as installed, e.g. `en_US-lessac-medium.onnx`. */
  file: string;
  bytes: number;
  totalBytes: number;
  /** Average over this attempt; 0 until measurable. */
  bytesPerSecond: number;
  /** Seconds left at that rate; undefined until measurable. */
  etaSeconds: number | undefined;
}

export interface DownloadRetry {
  voice: string;
  file: string;
  attempt: number;
  attempts: number;
  delayMs: number;
  reason: string;
}

export interface DownloadOptions {
  modelDir: string;
  /** Download even when the voice is installed with the catalogue's sizes. */
  force?: boolean;
  /** Overrides the catalogue's retry policy. */
  retry?: Partial<RetryPolicy>;
  signal?: AbortSignal;
  onFileStart?: (file: { voice: string; file: string; totalBytes: number }) => void;
  /** At most every `progressIntervalMs`, and once at the end of each file. */
  onProgress?: (progress: DownloadProgress) => void;
  onFileVerified?: (file: { voice: string; file: string; bytes: number; md5: string }) => void;
  onRetry?: (retry: DownloadRetry) => void;
  progressIntervalMs?: number;
}

export interface DownloadResult {
  voice: string;
  /** `<MODEL_DIR>/<voice>`. */
  dir: string;
  /** Installed file paths, in the order they were renamed into place. */
  files: string[];
  /** True when the voice was already installed and nothing was downloaded. */
  alreadyInstalled: boolean;
}

/** Free bytes kept beyond the voice itself, so a download never fills a disk to the brim. */
const FREE_SPACE_MARGIN_BYTES = 16 * 1024 * 1024;

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

async function isFileOfSize(path: string, sizeBytes: number): Promise<boolean> {
  try {
    const stats = await stat(path);
    return stats.isFile() && stats.size === sizeBytes;
  } catch {
    return false;
  }
}

/** The nearest existing directory at or above `dir` (statfs needs one). */
async function existingAncestor(dir: string): Promise<string> {
  for (let current = dir; ; current = dirname(current)) {
    try {
      if ((await stat(current)).isDirectory()) return current;
    } catch {
      // go up
    }
    if (dirname(current) === current) return current;
  }
}

async function assertFreeSpace(dir: string, neededBytes: number): Promise<void> {
  let freeBytes: number;
  try {
    const stats = await statfs(await existingAncestor(dir));
    freeBytes = Number(stats.bavail) * Number(stats.bsize);
  } catch {
    return; // statfs unsupported here: ENOSPC while writing still reports it
  }
  if (freeBytes < neededBytes + FREE_SPACE_MARGIN_BYTES) {
    throw new DiskFullError(
      dir,
      `${formatMegabytes(neededBytes)} needed, ${formatMegabytes(freeBytes)} free`,
    );
  }
}

function formatMegabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function isDiskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Maps a file system error of a write to DiskFullError when it is one. */
export function toDiskError(error: unknown, dir: string): unknown {
  return isDiskFull(error)
    ? new DiskFullError(dir, 'no space left on device', { cause: error })
    : error;
}

async function removeIfEmpty(dir: string): Promise<boolean> {
  try {
    await rmdir(dir);
    return true;
  } catch {
    return false;
  }
}

/** A file of the voice on its way in: the temporary file, how far it got, its running md5. */
class PendingFile {
  written = 0;
  hash: Hash = createHash('md5');

  constructor(
    readonly entry: CatalogueFile,
    readonly targetPath: string,
    readonly tempPath: string,
    readonly handle: FileHandle,
  ) {}

  get name(): string {
    return baseName(this.entry.path);
  }

  async restart(): Promise<void> {
    await this.handle.truncate(0);
    this.written = 0;
    this.hash = createHash('md5');
  }
}

/**
 * Downloads and installs one catalogue voice (by name or alias). Throws a
 * VoiceCatalogueError subclass for every failure a user can act on.
 */
export async function downloadVoice(
  catalogue: Catalogue,
  name: string,
  options: DownloadOptions,
): Promise<DownloadResult> {
  const retry: RetryPolicy = { ...catalogue.retry, ...options.retry };
  const voice = catalogue.get(name);
  const { model, config, card } = installedFiles(voice);
  const dir = join(options.modelDir, voice.name);
  // Rename order: the card, the network, and the config last (see the file header).
  const entries = [card, model, config].filter((file): file is CatalogueFile => !!file);
  const targets = entries.map((entry) => join(dir, baseName(entry.path)));

  if (!options.force && (await isVoiceInstalled(options.modelDir, voice))) {
    return { voice: voice.name, dir, files: [], alreadyInstalled: true };
  }
  await assertFreeSpace(dir, voice.downloadBytes);

  let createdDir: string | undefined;
  try {
    createdDir = await mkdir(dir, { recursive: true });
  } catch (error) {
    throw toDiskError(error, dir);
  }

  const pending: PendingFile[] = [];
  try {
    for (const [index, entry] of entries.entries()) {
      const tempPath = join(dir, `.${baseName(entry.path)}.${randomBytes(6).toString('hex')}.part`);
      const handle = await open(tempPath, 'wx', 0o644).catch((error: unknown) => {
        throw toDiskError(error, dir);
      });
      const file = new PendingFile(entry, targets[index], tempPath, handle);
      pending.push(file);
      await fetchFile(catalogue, voice, file, dir, options, retry);
    }
    for (const file of pending) {
      // On disk before the rename, so a crash cannot leave a renamed but empty file.
      await file.handle.sync();
      await file.handle.close();
    }
    for (const file of pending) {
      await rename(file.tempPath, file.targetPath);
    }
    return { voice: voice.name, dir, files: targets, alreadyInstalled: false };
  } catch (error) {
    await Promise.all(
      pending.map(async (file) => {
        await file.handle.close().catch(() => undefined);
        await rm(file.tempPath, { force: true });
      }),
    );
    if (createdDir !== undefined) {
      // Only directories this call made, only when empty: never someone's files.
      for (let current = dir; current.startsWith(createdDir); current = dirname(current)) {
        if (!(await removeIfEmpty(current))) break;
      }
    }
    throw error;
  }
}

/** True when the voice's network and config are in place with the catalogue's sizes. */
export async function isVoiceInstalled(modelDir: string, voice: CatalogueVoice): Promise<boolean> {
  const { model, config } = installedFiles(voice);
  const dir = join(modelDir, voice.name);
  const inDir = await Promise.all([
    isFileOfSize(join(dir, baseName(model.path)), model.sizeBytes),
    isFileOfSize(join(dir, baseName(config.path)), config.sizeBytes),
  ]);
  if (inDir.every(Boolean)) return true;
  const flat = await Promise.all([
    isFileOfSize(join(modelDir, baseName(model.path)), model.sizeBytes),
    isFileOfSize(join(modelDir, baseName(config.path)), config.sizeBytes),
  ]);
  return flat.every(Boolean);
}

async function fetchFile(
  catalogue: Catalogue,
  voice: CatalogueVoice,
  file: PendingFile,
  dir: string,
  options: DownloadOptions,
  retry: RetryPolicy,
): Promise<void> {
  const url = catalogue.urlOf(file.entry.path);
  const expected = file.entry.sizeBytes;
  options.onFileStart?.({ voice: voice.name, file: file.name, totalBytes: expected });
  try {
    await withRetry(
      retry,
      () => fetchAttempt(url, voice, file, dir, options, retry),
      (notice) => options.onRetry?.({ voice: voice.name, file: file.name, ...notice }),
      options.signal,
    );
  } catch (error) {
    throw exhaustedError(url, error, retry.attempts);
  }
  if (file.written !== expected) throw new SizeMismatchError(file.name, expected, file.written);
  const md5 = file.hash.digest('hex');
  if (md5 !== file.entry.md5) throw new ChecksumMismatchError(file.name, file.entry.md5, md5);
  options.onFileVerified?.({ voice: voice.name, file: file.name, bytes: file.written, md5 });
}

/** One request for the rest of the file (all of it the first time). */
async function fetchAttempt(
  url: string,
  voice: CatalogueVoice,
  file: PendingFile,
  dir: string,
  options: DownloadOptions,
  retry: RetryPolicy,
): Promise<void> {
  const expected = file.entry.sizeBytes;
  const resumeFrom = file.written;
  const headers: Record<string, string> = resumeFrom > 0 ? { range: `bytes=${resumeFrom}-` } : {};
  const { response, watchdog } = await getOnce(url, retry, headers, options.signal).catch(
    async (error: unknown) => {
      if (error instanceof HttpStatusError && error.status === 416 && resumeFrom > 0) {
        // The server will not resume here: start the file over on the next attempt.
        await file.restart();
        throw new TransientFailure('HTTP 416 on resume');
      }
      throw error;
    },
  );
  try {
    const contentRange = response.headers.get('content-range');
    if (response.status === 206 && contentRange?.startsWith(`bytes ${resumeFrom}-`)) {
      // Resumed: keep what we have and its running hash.
    } else {
      if (file.written > 0) await file.restart();
      const length = response.headers.get('content-length');
      if (response.status === 200 && length !== null && Number(length) !== expected) {
        throw new SizeMismatchError(file.name, expected, Number(length));
      }
    }
    if (!response.body) throw new SizeMismatchError(file.name, expected, 0);

    const intervalMs = options.progressIntervalMs ?? 100;
    const startedAt = Date.now();
    const startBytes = file.written;
    let reportedAt = 0;
    const report = (force: boolean): void => {
      if (!options.onProgress) return;
      const now = Date.now();
      if (!force && now - reportedAt < intervalMs) return;
      reportedAt = now;
      const seconds = (now - startedAt) / 1000;
      // Too early a rate is noise; the final report always has one.
      const bytesPerSecond =
        seconds > (force ? 0 : 0.25) ? (file.written - startBytes) / seconds : 0;
      const left = expected - file.written;
      options.onProgress({
        voice: voice.name,
        file: file.name,
        bytes: file.written,
        totalBytes: expected,
        bytesPerSecond,
        etaSeconds: left <= 0 ? 0 : bytesPerSecond > 0 ? left / bytesPerSecond : undefined,
      });
    };

    try {
      // Node's web ReadableStream is async-iterable; its typings here are not.
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        watchdog.touch();
        if (file.written + chunk.byteLength > expected) {
          throw new SizeMismatchError(file.name, expected, file.written + chunk.byteLength);
        }
        await writeChunk(file, chunk, dir);
        report(false);
      }
    } catch (error) {
      if (error instanceof VoiceCatalogueError) throw error;
      if (options.signal?.aborted) throw error;
      throw classifyNetworkError(error, watchdog.stalled);
    }
    report(true);
  } finally {
    watchdog.dispose();
  }
}

async function writeChunk(file: PendingFile, chunk: Uint8Array, dir: string): Promise<void> {
  try {
    let offset = 0;
    while (offset < chunk.byteLength) {
      const { bytesWritten } = await file.handle.write(
        chunk,
        offset,
        chunk.byteLength - offset,
        file.written + offset,
      );
      offset += bytesWritten;
    }
  } catch (error) {
    throw toDiskError(error, dir);
  }
  file.hash.update(chunk);
  file.written += chunk.byteLength;
}
