/**
 * The audio cache: finished WAV responses keyed by a hash of everything that shapes
 * them, behind cache-manager (in memory by default), with single flight so identical
 * requests that arrive during one synthesis share it instead of repeating it.
 */
import { CACHE_MANAGER } from '@nestjs/cache-manager';
import { Inject, Injectable } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import { createHash } from 'node:crypto';
import { Settings } from '../config/settings';

export interface CachedAudio {
  /** The whole response body (e.g. a WAV file). */
  body: Buffer;
  contentType: string;
  sampleRate: number;
  durationSeconds: number;
}

export type CacheStatus = 'HIT' | 'MISS';

@Injectable()
export class AudioCache {
  private readonly inFlight = new Map<string, Promise<CachedAudio>>();
  private readonly ttlMs: number;
  readonly enabled: boolean;

  constructor(
    @Inject(CACHE_MANAGER) private readonly cache: Cache,
    settings: Settings,
  ) {
    this.enabled = settings.ENABLE_CACHING && settings.CACHE_MAX_BYTES > 0;
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
   * The cached audio for `key`, or what `produce` makes (stored afterwards). Concurrent
   * calls with one key run `produce` once; a failure is not cached.
   */
  async getOrProduce(
    key: string,
    produce: () => Promise<CachedAudio>,
  ): Promise<{ audio: CachedAudio; cache: CacheStatus }> {
    if (!this.enabled) return { audio: await produce(), cache: 'MISS' };
    const cached = await this.cache.get<CachedAudio>(key);
    if (cached) return { audio: cached, cache: 'HIT' };

    const pending = this.inFlight.get(key);
    if (pending) return { audio: await pending, cache: 'HIT' };

    const production = produce();
    this.inFlight.set(key, production);
    try {
      const audio = await production;
      await this.cache.set(key, audio, this.ttlMs);
      return { audio, cache: 'MISS' };
    } finally {
      this.inFlight.delete(key);
    }
  }

  async get(key: string): Promise<CachedAudio | undefined> {
    if (!this.enabled) return undefined;
    return (await this.cache.get<CachedAudio>(key)) ?? undefined;
  }

  async set(key: string, audio: CachedAudio): Promise<void> {
    if (this.enabled) await this.cache.set(key, audio, this.ttlMs);
  }
}
