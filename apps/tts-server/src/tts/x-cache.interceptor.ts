import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { Response } from 'express';
import { map, type Observable } from 'rxjs';
import { CachedAudioResponse } from './cached-audio-response';

/** Sets `X-Cache: HIT|MISS` on responses whose handler reports a cache status. */
@Injectable()
export class XCacheInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      map((result: unknown) => {
        if (!(result instanceof CachedAudioResponse)) return result;
        context.switchToHttp().getResponse<Response>().setHeader('X-Cache', result.cache);
        return result.file;
      }),
    );
  }
}
