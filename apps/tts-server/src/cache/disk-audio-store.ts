/**
 * The disk tier of the audio cache (CACHE_DIR): finished audio that outlives the
 * process, shared by every server process that points at the same directory.
 *
 * One file per entry, named by a hash of the cache key (`<sha256(key)>.audio`), so a
 * request never contributes a path component. An entry is:
 *
 *     offset 0   8 bytes   magic "PIPERAC1"
 *            8   4 bytes   header length H, unsigned big-endian
 *            12  32 bytes  SHA-256 of the header bytes
 *            44  H bytes   header, UTF-8 JSON: key, contentType, sampleRate,
 *                          durationSeconds, bodyBytes, bodySha256
 *            44+H          the body, bodyBytes bytes
 *
 * Reading checks the magic, both lengths (the file must be exactly 44 + H + bodyBytes
 * long), the header's checksum, the key, and the body's SHA-256; an entry failing any
 * check is deleted and reported as a miss, never served. The body's SHA-256 is also
 * the response's ETag.
 *
 * Writes go to a temporary file in the same directory (unique per process and write)
 * that is renamed into place: rename is atomic, so a reader, in this process or
 * another, opens either a complete old entry or a complete new one, and a crash leaves
 * at most a temporary file, swept later. No fsync: after a power loss an entry may be
 * empty or short, which the length and checksum checks turn into a miss.
 *
 * Time lives in the files, so that every process and every restart sees the same:
 * mtime is when the entry was written (the TTL counts from it, as in the memory tier),
 * atime is when it was last used (set explicitly on each hit, as mounts often use
 * noatime or relatime). The in-process index (size and recency of every entry) is
 * rebuilt from the directory at start, least recently used first, and reconciled with
 * it periodically to learn about entries other processes wrote or removed; the byte
 * bound is enforced on that view. Files are only removed after checking that the inode
 * is still the one this process looked at, so a process never deletes an entry another
 * one has just replaced.
 *
 * Failures of the disk (full, permission denied, directory gone or replaced) never fail
 * a request: the operation is skipped, counted, and logged once per condition.
 *
 * Hand-written rather than write-file-atomic or lru-cache: the temporary files must
 * follow a naming scheme the sweep recognises, the index's order comes from file times
 * after a rebuild, and evictions unlink files only after an inode check; neither
 * package leaves room for those, and each part here is a few lines.
 */
import { Logger } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { HashedAudio } from './cached-audio';

const MAGIC = Buffer.from('PIPERAC1', 'ascii');
const PREAMBLE_BYTES = 44;
const MAX_HEADER_BYTES = 64 * 1024;
const ENTRY_NAME = /^[0-9a-f]{64}\.audio$/;
const TEMP_NAME = /^\.tmp-[0-9a-f]{64}-\d+-[0-9a-f]{12}$/;
/** A temporary file older than this belongs to a writer that died; it is removed. */
const STALE_TEMP_MS = 10 * 60_000;
const SCAN_CONCURRENCY = 32;

/** Conditions counted (and logged once each) by the disk tier. */
export const DISK_FAILURES = [
  'disk_full',
  'permission_denied',
  'directory_unavailable',
  'io_error',
  'corrupt_entry',
] as const;
export type DiskFailure = (typeof DISK_FAILURES)[number];

const FAILURE_TEXT: Record<DiskFailure, string> = {
  disk_full: 'is full',
  permission_denied: 'is not writable (permission denied)',
  directory_unavailable: 'directory is missing or not a directory',
  io_error: 'failed',
  corrupt_entry: 'held a corrupt or truncated entry (deleted)',
};

export interface DiskAudioStoreOptions {
  dir: string;
  /** Bound on the bytes of all entries (headers included). */
  maxBytes: number;
  /** An entry expires this long after it was written. */
  ttlMs: number;
  /** How often the index is reconciled with the directory; 0: only at open. */
  rescanIntervalMs?: number;
  logger?: { warn(message: string): void };
}

/** A verified entry and when it expires (epoch ms). */
export interface DiskHit {
  audio: HashedAudio;
  expiresAtMs: number;
}

interface IndexEntry {
  bytes: number;
  ino: number;
  /** When the entry was written (file mtime), epoch ms. */
  writtenAtMs: number;
  /** When it was last used (file atime, or this process's own use), epoch ms. */
  usedAtMs: number;
}

interface EntryHeader {
  key: string;
  contentType: string;
  sampleRate: number;
  durationSeconds: number;
  bodyBytes: number;
  bodySha256: string;
}

export class DiskAudioStore {
  readonly dir: string;
  private readonly maxBytes: number;
  private readonly ttlMs: number;
  private readonly logger: { warn(message: string): void };
  /** Entries by file name, least recently used first (a Map keeps insertion order). */
  private index = new Map<string, IndexEntry>();
  private totalBytes = 0;
  private readonly failureCounts = Object.fromEntries(
    DISK_FAILURES.map((failure) => [failure, 0]),
  ) as Record<DiskFailure, number>;
  private readonly warned = new Set<DiskFailure>();
  private readonly pending = new Set<Promise<unknown>>();
  private scanning: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(options: DiskAudioStoreOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    this.ttlMs = options.ttlMs;
    this.logger = options.logger ?? new Logger(DiskAudioStore.name);
  }

  /**
   * Creates the directory if needed and rebuilds the index from it. Never throws for
   * a directory it cannot use: the store then misses and counts until it can.
   */
  static async open(options: DiskAudioStoreOptions): Promise<DiskAudioStore> {
    const store = new DiskAudioStore(options);
    try {
      await mkdir(store.dir, { recursive: true });
    } catch (error) {
      store.fail('create', error);
    }
    await store.rescan();
    const interval = options.rescanIntervalMs ?? 60_000;
    if (interval > 0) {
      store.timer = setInterval(() => void store.rescan(), interval);
      store.timer.unref();
    }
    return store;
  }

  /** Entries and bytes this process knows of. */
  get stats(): { entries: number; bytes: number } {
    return { entries: this.index.size, bytes: this.totalBytes };
  }

  /** How often each failure condition happened since start. */
  failures(): Record<DiskFailure, number> {
    return { ...this.failureCounts };
  }

  /** The verified entry for `key`, or undefined (absent, expired, corrupt, disk trouble). */
  async get(key: string): Promise<DiskHit | undefined> {
    const name = entryNameOf(key);
    let handle: FileHandle;
    try {
      handle = await open(join(this.dir, name), 'r');
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') this.fail('read', error);
      this.forget(name);
      return undefined;
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile())
        throw Object.assign(new Error(`${name} is not a file`), { code: 'EISDIR' });
      const now = Date.now();
      if (this.isExpired(stat.mtimeMs, now)) {
        this.forget(name);
        await this.removeIfSame(name, stat.ino);
        return undefined;
      }
      const bytes = await handle.readFile();
      const audio = decodeEntry(bytes, key);
      if (typeof audio === 'string') {
        this.fail('read', new Error(`${name}: ${audio}`), 'corrupt_entry');
        this.forget(name);
        await this.removeIfSame(name, stat.ino);
        return undefined;
      }
      // The use is recorded in the file so other processes and the next start see it.
      await handle.utimes(new Date(now), stat.mtime).catch(() => undefined);
      this.remember(name, {
        bytes: stat.size,
        ino: stat.ino,
        writtenAtMs: stat.mtimeMs,
        usedAtMs: now,
      });
      return { audio, expiresAtMs: stat.mtimeMs + this.ttlMs };
    } catch (error) {
      this.fail('read', error);
      return undefined;
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  /**
   * Writes `audio` under `key` (temporary file, then rename). Never rejects; an entry
   * larger than the whole bound is not written.
   */
  set(key: string, audio: HashedAudio): Promise<void> {
    return this.track(this.write(key, audio));
  }

  /**
   * Reconciles the index with the directory: adds entries other processes wrote,
   * drops those that are gone, deletes expired entries and stale temporary files,
   * orders by last use and evicts down to the bound. Files it does not recognise are
   * never touched.
   */
  rescan(): Promise<void> {
    this.scanning ??= this.scan().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  /** Stops the periodic rescan and waits for writes and removals in progress. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    while (this.pending.size > 0 || this.scanning) {
      await Promise.allSettled([...this.pending, this.scanning]);
    }
  }

  private async write(key: string, audio: HashedAudio): Promise<void> {
    const name = entryNameOf(key);
    const data = encodeEntry(key, audio);
    if (data.length > this.maxBytes) return;
    let written: { ino: number; mtimeMs: number };
    try {
      written = await this.writeAtomically(name, data);
    } catch (error) {
      this.fail('write', error);
      if (errorCode(error) !== 'ENOENT') return;
      // The directory vanished (deleted, volume remounted): make it again, once.
      try {
        await mkdir(this.dir, { recursive: true });
        written = await this.writeAtomically(name, data);
      } catch (retryError) {
        this.fail('write', retryError);
        return;
      }
    }
    this.remember(name, {
      bytes: data.length,
      ino: written.ino,
      writtenAtMs: written.mtimeMs,
      usedAtMs: Date.now(),
    });
  }

  private async writeAtomically(
    name: string,
    data: Buffer,
  ): Promise<{ ino: number; mtimeMs: number }> {
    const temp = join(
      this.dir,
      `.tmp-${name.slice(0, 64)}-${process.pid}-${randomBytes(6).toString('hex')}`,
    );
    let handle: FileHandle | undefined;
    try {
      handle = await open(temp, 'wx', 0o644);
      await handle.writeFile(data);
      const stat = await handle.stat();
      await handle.close();
      handle = undefined;
      await rename(temp, join(this.dir, name));
      return { ino: stat.ino, mtimeMs: stat.mtimeMs };
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  }

  private async scan(): Promise<void> {
    const startedAtMs = Date.now();
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      this.fail('scan', error);
      return;
    }
    const found = new Map<string, IndexEntry>();
    await forEachLimited(names, SCAN_CONCURRENCY, async (name) => {
      const isEntry = ENTRY_NAME.test(name);
      if (!isEntry && !TEMP_NAME.test(name)) return;
      const stat = await lstat(join(this.dir, name)).catch(() => undefined);
      if (!stat?.isFile()) return;
      if (!isEntry) {
        if (startedAtMs - stat.mtimeMs > STALE_TEMP_MS) {
          await unlink(join(this.dir, name)).catch(() => undefined);
        }
        return;
      }
      if (this.isExpired(stat.mtimeMs, startedAtMs)) {
        await this.removeIfSame(name, stat.ino);
        return;
      }
      found.set(name, {
        bytes: stat.size,
        ino: stat.ino,
        writtenAtMs: stat.mtimeMs,
        usedAtMs: Math.max(stat.atimeMs, stat.mtimeMs),
      });
    });
    for (const [name, known] of this.index) {
      const onDisk = found.get(name);
      if (onDisk) onDisk.usedAtMs = Math.max(onDisk.usedAtMs, known.usedAtMs);
      // Written or read while the scan ran: keep. Otherwise someone else removed it.
      else if (known.usedAtMs >= startedAtMs) found.set(name, known);
    }
    const ordered = [...found].sort(
      ([nameA, a], [nameB, b]) =>
        a.usedAtMs - b.usedAtMs || a.writtenAtMs - b.writtenAtMs || nameA.localeCompare(nameB),
    );
    this.index = new Map(ordered);
    this.totalBytes = ordered.reduce((sum, [, entry]) => sum + entry.bytes, 0);
    this.evictOverflow();
  }

  /** Records an entry as the most recently used, then evicts down to the bound. */
  private remember(name: string, entry: IndexEntry): void {
    this.forget(name);
    this.index.set(name, entry);
    this.totalBytes += entry.bytes;
    this.evictOverflow();
  }

  private forget(name: string): void {
    const known = this.index.get(name);
    if (!known) return;
    this.index.delete(name);
    this.totalBytes -= known.bytes;
  }

  private evictOverflow(): void {
    for (const [name, entry] of this.index) {
      if (this.totalBytes <= this.maxBytes) return;
      this.forget(name);
      void this.track(this.removeIfSame(name, entry.ino));
    }
  }

  /** Deletes an entry file unless another process has replaced it meanwhile. */
  private async removeIfSame(name: string, ino: number): Promise<void> {
    const path = join(this.dir, name);
    try {
      const stat = await lstat(path);
      if (stat.ino === ino) await unlink(path);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') this.fail('remove', error);
    }
  }

  private isExpired(writtenAtMs: number, now: number): boolean {
    return now - writtenAtMs >= this.ttlMs;
  }

  private track(work: Promise<void>): Promise<void> {
    const tracked = work.catch((error: unknown) => this.fail('write', error));
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
    return tracked;
  }

  private fail(operation: string, error: unknown, condition = classify(error)): void {
    this.failureCounts[condition]++;
    if (this.warned.has(condition)) return;
    this.warned.add(condition);
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(
      `disk cache ${this.dir} ${FAILURE_TEXT[condition]} (${operation}: ${reason}); ` +
        `requests are still answered, from memory or by synthesis; further "${condition}" ` +
        'events are counted, not logged',
    );
  }
}

/** The file name of a key's entry: its SHA-256, so nothing from a request reaches a path. */
export function entryNameOf(key: string): string {
  return `${createHash('sha256').update(key).digest('hex')}.audio`;
}

function encodeEntry(key: string, audio: HashedAudio): Buffer {
  const header: EntryHeader = {
    key,
    contentType: audio.contentType,
    sampleRate: audio.sampleRate,
    durationSeconds: audio.durationSeconds,
    bodyBytes: audio.body.length,
    bodySha256: audio.contentHash,
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const preamble = Buffer.alloc(PREAMBLE_BYTES);
  MAGIC.copy(preamble, 0);
  preamble.writeUInt32BE(headerBytes.length, 8);
  createHash('sha256').update(headerBytes).digest().copy(preamble, 12);
  return Buffer.concat([preamble, headerBytes, audio.body]);
}

/** The entry's audio, or why the bytes are not a valid entry for `key`. */
function decodeEntry(bytes: Buffer, key: string): HashedAudio | string {
  if (bytes.length < PREAMBLE_BYTES) return `truncated (${bytes.length} bytes)`;
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) return 'not a cache entry';
  const headerBytes = bytes.readUInt32BE(8);
  if (headerBytes > MAX_HEADER_BYTES || PREAMBLE_BYTES + headerBytes > bytes.length) {
    return 'truncated header';
  }
  const header = bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerBytes);
  if (!createHash('sha256').update(header).digest().equals(bytes.subarray(12, PREAMBLE_BYTES))) {
    return 'header checksum mismatch';
  }
  let meta: EntryHeader;
  try {
    meta = JSON.parse(header.toString('utf8')) as EntryHeader;
  } catch {
    return 'unreadable header';
  }
  if (
    typeof meta.contentType !== 'string' ||
    typeof meta.sampleRate !== 'number' ||
    typeof meta.durationSeconds !== 'number' ||
    typeof meta.bodyBytes !== 'number' ||
    typeof meta.bodySha256 !== 'string'
  ) {
    return 'incomplete header';
  }
  if (meta.key !== key) return 'entry of another key';
  const expectedLength = PREAMBLE_BYTES + headerBytes + meta.bodyBytes;
  if (bytes.length !== expectedLength) {
    return `length ${bytes.length} bytes, expected ${expectedLength}`;
  }
  const body = bytes.subarray(PREAMBLE_BYTES + headerBytes);
  if (createHash('sha256').update(body).digest('hex') !== meta.bodySha256) {
    return 'body checksum mismatch';
  }
  return {
    body,
    contentType: meta.contentType,
    sampleRate: meta.sampleRate,
    durationSeconds: meta.durationSeconds,
    contentHash: meta.bodySha256,
  };
}

function classify(error: unknown): DiskFailure {
  switch (errorCode(error)) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return 'disk_full';
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return 'permission_denied';
    case 'ENOENT':
    case 'ENOTDIR':
    case 'EEXIST': // mkdir where a file stands
      return 'directory_unavailable';
    default:
      return 'io_error';
  }
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

async function forEachLimited<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
}
