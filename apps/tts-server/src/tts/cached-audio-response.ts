import { StreamableFile } from '@nestjs/common';
import type { Readable } from 'node:stream';
import type { CacheStatus, CacheTier, HashedAudio } from '../cache/audio-cache.service';

/** A complete audio body and its content hash (SHA-256, hex): what ETag and Range need. */
export interface WholeAudio {
  body: Buffer;
  contentHash: string;
}

/**
 * What TtsService returns: the audio file, whether it came from the cache and from
 * which tier, and, when the audio is complete rather than streamed as it is
 * synthesized, the whole body. The X-Cache interceptor turns the status into headers;
 * the conditional-audio interceptor answers ETag and Range requests from the body.
 */
export class CachedAudioResponse {
  constructor(
    readonly file: StreamableFile,
    readonly cache: CacheStatus,
    readonly tier?: CacheTier,
    readonly whole?: WholeAudio,
    /** What an SSML request asked for and did not get (X-SSML-Warnings). */
    readonly warnings: readonly string[] = [],
  ) {}

  /** Complete audio (cached, or just synthesized whole), with its length. */
  static whole(
    audio: HashedAudio,
    disposition: string,
    cache: CacheStatus,
    tier?: CacheTier,
    warnings?: readonly string[],
  ): CachedAudioResponse {
    const file = new StreamableFile(audio.body, {
      type: audio.contentType,
      length: audio.body.length,
      disposition,
    });
    return new CachedAudioResponse(file, cache, tier, audio, warnings);
  }

  /** Audio sent as it is synthesized: no length, never from the cache. */
  static streamed(
    body: Readable,
    contentType: string,
    disposition: string,
    warnings?: readonly string[],
  ): CachedAudioResponse {
    return new CachedAudioResponse(
      new StreamableFile(body, { type: contentType, disposition }),
      'MISS',
      undefined,
      undefined,
      warnings,
    );
  }

  /** The same response with another file (e.g. a byte range of this one). */
  withFile(file: StreamableFile): CachedAudioResponse {
    return new CachedAudioResponse(file, this.cache, this.tier, this.whole, this.warnings);
  }
}
