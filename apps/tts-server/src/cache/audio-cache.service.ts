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
import type { Counter } from 'prom-client';
import { Settings } from '../config/settings';
import { MetricsService } from '../metrics/metrics.service';
import { RedisConnection } from '../redis/redis-connection';
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
export class AudioCacheService implements OnApplicationShutdown {
  private readonly inFlight = new Map<string, Promise<CacheLookup>>();
  private readonly ttlMs: number;
  private readonly memoryEnabled: boolean;
  /** The hot tier: this process's memory, or Redis shared by every replica. */
  private readonly hotTier: 'memory' | 'redis';
  /** Longest a call to Redis may take before the request goes on without it. */
  private readonly redisTimeoutMs: number;
  private readonly lookups: Counter<'result' | 'tier'>;
  readonly enabled: boolean;

  constructor(
    @Inject(CACHE_MANAGER) private readonly cache: Cache,
    @Inject(DISK_AUDIO_STORE) private readonly disk: DiskAudioStore | null,
    settings: Settings,
    private readonly redis: RedisConnection,
    metrics: MetricsService,
  ) {
    this.hotTier = settings.REDIS_URL ? 'redis' : 'memory';
    // With Redis the hot tier is bounded by Redis, not by CACHE_MAX_BYTES.
    this.memoryEnabled =
      settings.ENABLE_CACHING && (this.hotTier === 'redis' || settings.CACHE_MAX_BYTES > 0);
    this.enabled = settings.ENABLE_CACHING && (this.memoryEnabled || disk !== null);
    this.ttlMs = settings.CACHE_TTL * 1000;
    this.redisTimeoutMs = settings.REDIS_TIMEOUT_MS;
    this.lookups = metrics.counter(
      'piper_cache_requests_total',
      'Audio cache lookups: hits by tier (memory, redis, disk), misses',
      ['result', 'tier'],
    );
    if (disk) {
      metrics.gauge('piper_cache_disk_bytes', 'Bytes in the disk tier', () => disk.stats.bytes);
      metrics.gauge(
        'piper_cache_disk_entries',
        'Entries in the disk tier',
        () => disk.stats.entries,
      );
      metrics.labelledCountedTotal(
        'piper_cache_disk_failures_total',
        'Disk tier failures since start, by condition (the request was served without the disk)',
        'condition',
        () => disk.failures(),
      );
    }
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
    if (inMemory) return this.counted({ audio: inMemory, cache: 'HIT', tier: this.hotTier });

    const pending = this.inFlight.get(key);
    // Sharing a synthesis that another request started: served from this process's memory.
    if (pending) {
      const { audio, tier } = await pending;
      return this.counted({ audio, cache: 'HIT', tier: tier ?? 'memory' });
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
      return this.counted(await lookup);
    } finally {
      this.inFlight.delete(key);
    }
  }

  /** The audio for `key` from memory, else from disk (then promoted), else undefined. */
  async get(key: string): Promise<CacheHit | undefined> {
    if (!this.enabled) return undefined;
    const inMemory = await this.fromMemory(key);
    const fromDisk = inMemory ? undefined : await this.fromDisk(key);
    const hit: CacheHit | undefined = inMemory
      ? { audio: inMemory, tier: this.hotTier }
      : fromDisk && { audio: fromDisk, tier: 'disk' };
    this.lookups.inc(hit ? { result: 'hit', tier: hit.tier } : { result: 'miss', tier: 'none' });
    return hit;
  }

  /**
   * Stores `audio` in memory and, in the background, on disk (the response does not
   * wait for the disk; shutdown does). Returns the audio with its content hash.
   */
  async set(key: string, audio: CachedAudio): Promise<HashedAudio> {
    const hashed = withContentHash(audio);
    if (!this.enabled) return hashed;
    if (this.memoryEnabled) await this.hot('set', () => this.cache.set(key, hashed, this.ttlMs));
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
    // Closes the Redis client of the hot tier (in memory there is nothing to close).
    if (this.hotTier === 'redis') {
      await this.cache
        .disconnect()
        .catch((error: unknown) => this.redis.failed('cache_close', error));
    }
  }

  private async fromMemory(key: string): Promise<HashedAudio | undefined> {
    if (!this.memoryEnabled) return undefined;
    const audio = await this.hot('get', () => this.cache.get<HashedAudio>(key));
    if (!audio) return undefined;
    // Through Redis the body comes back deserialized: make sure it is a Buffer again.
    return Buffer.isBuffer(audio.body) ? audio : { ...audio, body: Buffer.from(audio.body) };
  }

  /**
   * A call to the hot tier. In memory it cannot fail; in Redis it fails open: an error
   * or a call slower than REDIS_TIMEOUT_MS counts in piper_redis_errors_total and the
   * request goes on as a miss (or without storing), never waiting longer.
   */
  private async hot<T>(operation: 'get' | 'set', call: () => Promise<T>): Promise<T | undefined> {
    if (this.hotTier === 'memory') return call();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.redisTimeoutMs} ms`)),
        this.redisTimeoutMs,
      );
    });
    try {
      return await Promise.race([call(), timeout]);
    } catch (error) {
      this.redis.failed(`cache_${operation}`, error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private counted(lookup: CacheLookup): CacheLookup {
    this.lookups.inc(
      lookup.cache === 'HIT'
        ? { result: 'hit', tier: lookup.tier ?? this.hotTier }
        : { result: 'miss', tier: 'none' },
    );
    return lookup;
  }

  private async fromDisk(key: string): Promise<HashedAudio | undefined> {
    const hit = await this.disk?.get(key);
    if (!hit) return undefined;
    // Promoted for what is left of its TTL, so both tiers expire it at the same time.
    const remainingMs = hit.expiresAtMs - Date.now();
    if (this.memoryEnabled && remainingMs > 0) {
      await this.hot('set', () => this.cache.set(key, hit.audio, remainingMs));
    }
    return hit.audio;
  }
}
