import { StreamableFile } from '@nestjs/common';
import type { CacheStatus } from '../cache/audio-cache.service';

/**
 * What TtsService returns: the audio file and whether it came from the cache. The
 * X-Cache interceptor turns the status into a header and hands Nest the file.
 */
export class CachedAudioResponse {
  constructor(
    readonly file: StreamableFile,
    readonly cache: CacheStatus,
  ) {}
}
