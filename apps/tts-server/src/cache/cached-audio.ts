import { createHash } from 'node:crypto';

/** A finished audio response as the cache keeps it. */
export interface CachedAudio {
  /** The whole response body (e.g. a WAV file). */
  body: Buffer;
  contentType: string;
  sampleRate: number;
  durationSeconds: number;
}

/**
 * Audio as the cache hands it out: with the SHA-256 of its body (hex), which is both
 * the disk tier's checksum and the response's strong ETag, so every tier and every
 * replica gives the same audio the same ETag.
 */
export interface HashedAudio extends CachedAudio {
  contentHash: string;
}

export type CacheStatus = 'HIT' | 'MISS';

/** Where a cache hit came from: this process's memory or Redis (REDIS_URL), or disk. */
export type CacheTier = 'memory' | 'redis' | 'disk';

export function contentHashOf(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

export function withContentHash(audio: CachedAudio | HashedAudio): HashedAudio {
  return 'contentHash' in audio ? audio : { ...audio, contentHash: contentHashOf(audio.body) };
}
