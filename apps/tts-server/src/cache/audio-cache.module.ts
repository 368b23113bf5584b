import { CacheModule } from '@nestjs/cache-manager';
import { Module } from '@nestjs/common';
import KeyvRedis from '@keyv/redis';
import Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import { realpath } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { isInside } from '../common/paths';
import { Settings } from '../config/settings';
import { MetricsService } from '../metrics/metrics.service';
import { RedisConnection } from '../redis/redis-connection';
import { AudioCacheService, DISK_AUDIO_STORE, type CachedAudio } from './audio-cache.service';
import { DiskAudioStore } from './disk-audio-store';

/** What Keyv hands its store when serialization is off: the value and its expiry. */
interface KeyvEntry {
  value: CachedAudio;
  expires?: number;
}

/**
 * The Map-like store Keyv expects, over lru-cache. Keyv calls `set(key, value, ttlMs)`
 * with a number where lru-cache wants an options object, hence this adapter.
 */
class LruStore {
  constructor(private readonly lru: LRUCache<string, KeyvEntry>) {}

  get(key: string): KeyvEntry | undefined {
    return this.lru.get(key);
  }

  set(key: string, value: KeyvEntry, ttlMs?: number): boolean {
    this.lru.set(key, value, ttlMs ? { ttl: ttlMs } : undefined);
    return this.lru.has(key);
  }

  delete(key: string): boolean {
    return this.lru.delete(key);
  }

  has(key: string): boolean {
    return this.lru.has(key);
  }

  clear(): void {
    this.lru.clear();
  }
}

/** Per-entry bookkeeping counted against CACHE_MAX_BYTES besides the audio itself. */
const ENTRY_OVERHEAD_BYTES = 256;

/**
 * The disk tier when CACHE_DIR is set (and caching is on): the index is rebuilt from
 * the directory before the server answers. A CACHE_DIR that is, or is inside, MODEL_DIR
 * (also through symbolic links) stops the boot: voices stay read-only.
 */
async function openDiskStore(settings: Settings): Promise<DiskAudioStore | null> {
  const dir = settings.cacheDir;
  if (!dir || !settings.ENABLE_CACHING || settings.CACHE_DISK_MAX_BYTES === 0) return null;
  const [realDir, realModelDir] = await Promise.all([
    realpathOr(dir),
    realpathOr(settings.modelDir),
  ]);
  if (isInside(realDir, realModelDir)) {
    throw new Error(
      `CACHE_DIR=${dir} is inside MODEL_DIR=${settings.modelDir}; the cache never writes into the voices' directory, choose another CACHE_DIR`,
    );
  }
  return DiskAudioStore.open({
    dir,
    maxBytes: settings.CACHE_DISK_MAX_BYTES,
    ttlMs: settings.CACHE_TTL * 1000,
  });
}

/** The real path of `path`, or of its nearest existing ancestor with the rest appended. */
async function realpathOr(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = resolve(path, '..');
    return parent === path ? path : join(await realpathOr(parent), basename(path));
  }
}

/**
 * The hot tier in Redis (cache-manager's Keyv Redis store, on node-redis), shared by
 * every replica. Keyv serializes the audio (Buffers as base64). Bounded by Redis's own
 * `maxmemory` policy, not CACHE_MAX_BYTES. Commands fail at once while Redis is away
 * (no offline queue) and the client reconnects in the background; AudioCacheService bounds
 * each call by REDIS_TIMEOUT_MS and goes on without Redis when one fails.
 */
function redisKeyv(settings: Settings, redis: RedisConnection): Keyv {
  const store = new KeyvRedis(
    {
      url: settings.REDIS_URL,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: Math.max(1_000, settings.REDIS_TIMEOUT_MS),
        reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000),
      },
    },
    {
      throwOnConnectError: false,
      throwOnErrors: true,
      connectionTimeout: settings.REDIS_TIMEOUT_MS,
    },
  );
  const keyv = new Keyv({ store, namespace: 'piper-tts', throwOnErrors: true });
  // Connection errors surface here (commands fail in AudioCacheService and are counted there).
  keyv.on('error', (error: unknown) => redis.failed('cache_connection', error));
  return keyv;
}

/**
 * cache-manager over a Keyv store backed by lru-cache bounded in bytes
 * (CACHE_MAX_BYTES): the least recently used audio is evicted first, so the cache can
 * never exhaust memory, and an entry larger than the whole bound is simply not kept.
 * Keyv's JSON serialization is turned off: the audio stays a Buffer, not a string
 * several times its size.
 */
@Module({
  imports: [
    CacheModule.registerAsync({
      inject: [Settings, RedisConnection, MetricsService],
      useFactory: (settings: Settings, redis: RedisConnection, metrics: MetricsService) => {
        if (settings.REDIS_URL) {
          return { stores: [redisKeyv(settings, redis)], ttl: settings.CACHE_TTL * 1000 };
        }
        const evictions = metrics.counter(
          'piper_cache_evictions_total',
          'Audio evicted from the memory tier to stay within CACHE_MAX_BYTES',
        );
        const lru = new LRUCache<string, KeyvEntry>({
          maxSize: Math.max(1, settings.CACHE_MAX_BYTES),
          sizeCalculation: (entry) => entry.value.body.length + ENTRY_OVERHEAD_BYTES,
          ttl: settings.CACHE_TTL * 1000,
          dispose: (_entry, _key, reason) => {
            if (reason === 'evict') evictions.inc();
          },
        });
        metrics.gauge(
          'piper_cache_memory_bytes',
          'Bytes held by the memory tier',
          () => lru.calculatedSize,
        );
        metrics.gauge('piper_cache_memory_entries', 'Entries in the memory tier', () => lru.size);
        const keyv = new Keyv({
          store: new LruStore(lru),
          serialize: undefined,
          deserialize: undefined,
        });
        return { stores: [keyv], ttl: settings.CACHE_TTL * 1000 };
      },
    }),
  ],
  providers: [
    AudioCacheService,
    { provide: DISK_AUDIO_STORE, inject: [Settings], useFactory: openDiskStore },
  ],
  exports: [AudioCacheService],
})
export class AudioCacheModule {}
