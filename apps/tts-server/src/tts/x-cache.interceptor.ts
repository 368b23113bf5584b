import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { Response } from 'express';
import { map, type Observable } from 'rxjs';
import { CachedAudioResponse } from './cached-audio-response';

/** Longest X-SSML-Warnings value: the warnings quote element names a client chose. */
const MAX_WARNINGS_HEADER_LENGTH = 1000;

/**
 * Sets `X-Cache: HIT|MISS` (and, on a hit, `X-Cache-Tier: memory|disk`) on responses
 * whose handler reports a cache status, and `X-SSML-Warnings` (what an SSML request
 * asked for and did not get, "; " between them) when there are any.
 */
@Injectable()
export class XCacheInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      map((result: unknown) => {
        if (!(result instanceof CachedAudioResponse)) return result;
        const response = context.switchToHttp().getResponse<Response>();
        response.setHeader('X-Cache', result.cache);
        if (result.cache === 'HIT' && result.tier) response.setHeader('X-Cache-Tier', result.tier);
        if (result.warnings.length > 0) {
          // Printable ASCII only: a header may carry nothing else.
          const value = result.warnings.join('; ').replace(/[^\x20-\x7e]/g, '?');
          response.setHeader('X-SSML-Warnings', value.slice(0, MAX_WARNINGS_HEADER_LENGTH));
        }
        return result.file;
      }),
    );
  }
}
