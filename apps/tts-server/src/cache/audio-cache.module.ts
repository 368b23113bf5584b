import { CacheModule } from '@nestjs/cache-manager';
import { Module } from '@nestjs/common';
import Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import { Settings } from '../config/settings';
import { AudioCache, type CachedAudio } from './audio-cache.service';

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
 * cache-manager over a Keyv store backed by lru-cache bounded in bytes
 * (CACHE_MAX_BYTES): the least recently used audio is evicted first, so the cache can
 * never exhaust memory, and an entry larger than the whole bound is simply not kept.
 * Keyv's JSON serialization is turned off: the audio stays a Buffer, not a string
 * several times its size.
 */
@Module({
  imports: [
    CacheModule.registerAsync({
      inject: [Settings],
      useFactory: (settings: Settings) => {
        const lru = new LRUCache<string, KeyvEntry>({
          maxSize: Math.max(1, settings.CACHE_MAX_BYTES),
          sizeCalculation: (entry) => entry.value.body.length + ENTRY_OVERHEAD_BYTES,
          ttl: settings.CACHE_TTL * 1000,
        });
        const keyv = new Keyv({
          store: new LruStore(lru),
          serialize: undefined,
          deserialize: undefined,
        });
        return { stores: [keyv], ttl: settings.CACHE_TTL * 1000 };
      },
    }),
  ],
  providers: [AudioCache],
  exports: [AudioCache],
})
export class AudioCacheModule {}
