/**
 * The audio cache: finished responses keyed by a hash of everything that shapes them,
 * in two tiers: memory (cache-manager, hot) and, with CACHE_DIR set, disk (warm,
 * survives restarts, shared by processes). A lookup tries memory, then disk (a disk
 * hit is promoted to memory for the rest of its TTL), then produces the audio; single
 * flight makes identical requests that arrive meanwhile share one disk read or one
 * synthesis instead of repeating it.
 */
import { CACHE_MANAGER } from '@nestjs/cache-manager';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import { createHash } from 'node:crypto';
import { Settings } from '../config/settings';
import {
  withContentHash,
  type CachedAudio,
  type CacheStatus,
  type CacheTier,
  type HashedAudio,
} from './cached-audio';
import type { DiskAudioStore, DiskFailure } from './disk-audio-store';

export type { CachedAudio, CacheStatus, CacheTier, HashedAudio } from './cached-audio';

/** The disk tier, or null when CACHE_DIR is unset. */
export const DISK_AUDIO_STORE = Symbol('DISK_AUDIO_STORE');

/** Audio found in a tier. */
export interface CacheHit {
  audio: HashedAudio;
  tier: CacheTier;
}

/** What a lookup that may produce returns: the audio, HIT or MISS, and a HIT's tier. */
export interface CacheLookup {
  audio: HashedAudio;
  cache: CacheStatus;
  tier?: CacheTier;
}

@Injectable()
export class AudioCache implements OnApplicationShutdown {
  private readonly inFlight = new Map<string, Promise<CacheLookup>>();
  private readonly ttlMs: number;
  private readonly memoryEnabled: boolean;
  readonly enabled: boolean;

  constructor(
    @Inject(CACHE_MANAGER) private readonly cache: Cache,
    @Inject(DISK_AUDIO_STORE) private readonly disk: DiskAudioStore | null,
    settings: Settings,
  ) {
    this.memoryEnabled = settings.ENABLE_CACHING && settings.CACHE_MAX_BYTES > 0;
    this.enabled = settings.ENABLE_CACHING && (this.memoryEnabled || disk !== null);
    this.ttlMs = settings.CACHE_TTL * 1000;
  }

  /**
   * A stable key for a request: SHA-256 of its canonical JSON (sorted keys), so the
   * same text, voice, speaker, parameters and format always meet, and nothing about
   * the text is readable from the key.
   */
  static keyOf(parts: Record<string, unknown>): string {
    const canonical = JSON.stringify(
      Object.keys(parts)
        .sort()
        .map((name) => [name, parts[name] ?? null]),
    );
    return `audio:${createHash('sha256').update(canonical).digest('hex')}`;
  }

  /**
   * The cached audio for `key`, or what `produce` makes (stored afterwards in both
   * tiers). Concurrent calls with one key run the disk read or `produce` once; a
   * failure is not cached.
   */
  async getOrProduce(key: string, produce: () => Promise<CachedAudio>): Promise<CacheLookup> {
    if (!this.enabled) return { audio: withContentHash(await produce()), cache: 'MISS' };
    const inMemory = await this.fromMemory(key);
    if (inMemory) return { audio: inMemory, cache: 'HIT', tier: 'memory' };

    const pending = this.inFlight.get(key);
    // Sharing a synthesis that another request started: served from this process's memory.
    if (pending) {
      const { audio, tier } = await pending;
      return { audio, cache: 'HIT', tier: tier ?? 'memory' };
    }

    const lookup = (async (): Promise<CacheLookup> => {
      const fromDisk = await this.fromDisk(key);
      if (fromDisk) return { audio: fromDisk, cache: 'HIT', tier: 'disk' };
      const audio = withContentHash(await produce());
      await this.set(key, audio);
      return { audio, cache: 'MISS' };
    })();
    this.inFlight.set(key, lookup);
    try {
      return await lookup;
    } finally {
      this.inFlight.delete(key);
    }
  }

  /** The audio for `key` from memory, else from disk (then promoted), else undefined. */
  async get(key: string): Promise<CacheHit | undefined> {
    if (!this.enabled) return undefined;
    const inMemory = await this.fromMemory(key);
    if (inMemory) return { audio: inMemory, tier: 'memory' };
    const fromDisk = await this.fromDisk(key);
    return fromDisk ? { audio: fromDisk, tier: 'disk' } : undefined;
  }

  /**
   * Stores `audio` in memory and, in the background, on disk (the response does not
   * wait for the disk; shutdown does). Returns the audio with its content hash.
   */
  async set(key: string, audio: CachedAudio): Promise<HashedAudio> {
    const hashed = withContentHash(audio);
    if (!this.enabled) return hashed;
    if (this.memoryEnabled) await this.cache.set(key, hashed, this.ttlMs);
    void this.disk?.set(key, hashed);
    return hashed;
  }

  /** Disk tier failures by condition since start (all zero without a disk tier). */
  diskFailures(): Partial<Record<DiskFailure, number>> {
    return this.disk?.failures() ?? {};
  }

  /** Lets disk writes in progress finish, so entries survive the restart that follows. */
  async onApplicationShutdown(): Promise<void> {
    await this.disk?.close();
  }

  private async fromMemory(key: string): Promise<HashedAudio | undefined> {
    if (!this.memoryEnabled) return undefined;
    return (await this.cache.get<HashedAudio>(key)) ?? undefined;
  }

  private async fromDisk(key: string): Promise<HashedAudio | undefined> {
    const hit = await this.disk?.get(key);
    if (!hit) return undefined;
    // Promoted for what is left of its TTL, so both tiers expire it at the same time.
    const remainingMs = hit.expiresAtMs - Date.now();
    if (this.memoryEnabled && remainingMs > 0) await this.cache.set(key, hit.audio, remainingMs);
    return hit.audio;
  }
}
