import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { Response } from 'express';
import { map, type Observable } from 'rxjs';
import { CachedAudioResponse } from './cached-audio-response';

/**
 * Sets `X-Cache: HIT|MISS` (and, on a hit, `X-Cache-Tier: memory|disk`) on responses
 * whose handler reports a cache status.
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
        return result.file;
      }),
    );
  }
}
