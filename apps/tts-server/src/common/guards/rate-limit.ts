import { SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { ThrottlerModuleOptions } from '@nestjs/throttler';
import type { Settings } from '../../config/settings';

const TTS_RATE_LIMIT = 'piper:tts-rate-limit';

/** Marks a synthesis route: it also counts against the stricter TTS limit. */
export const TtsRateLimit = (): MethodDecorator & ClassDecorator =>
  SetMetadata(TTS_RATE_LIMIT, true);

function isSynthesisRoute(context: ExecutionContext): boolean {
  return (
    Reflect.getMetadata(TTS_RATE_LIMIT, context.getHandler()) === true ||
    Reflect.getMetadata(TTS_RATE_LIMIT, context.getClass()) === true
  );
}

/**
 * Two limits per client (@nestjs/throttler, in memory): RATE_LIMIT_REQUESTS per
 * RATE_LIMIT_WINDOW on every endpoint, and TTS_RATE_LIMIT_REQUESTS on synthesis routes,
 * where one request costs real CPU.
 */
export function rateLimitOptions(settings: Settings): ThrottlerModuleOptions {
  const windowMs = settings.RATE_LIMIT_WINDOW * 1000;
  return {
    throttlers: [
      { name: 'default', ttl: windowMs, limit: settings.RATE_LIMIT_REQUESTS },
      {
        name: 'tts',
        ttl: windowMs,
        limit: settings.TTS_RATE_LIMIT_REQUESTS,
        skipIf: (context) => !isSynthesisRoute(context),
      },
    ],
  };
}
