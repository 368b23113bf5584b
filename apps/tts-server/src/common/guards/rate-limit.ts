import { SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { ThrottlerModuleOptions } from '@nestjs/throttler';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import type { Settings } from '../../config/settings';
import { FailOpenThrottlerStorage } from '../../redis/fail-open-throttler-storage';
import type { RedisConnection } from '../../redis/redis-connection';

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
 * Two limits per client (@nestjs/throttler, in memory or in Redis with REDIS_URL): RATE_LIMIT_REQUESTS per
 * RATE_LIMIT_WINDOW on every endpoint, and TTS_RATE_LIMIT_REQUESTS on synthesis routes,
 * where one request costs real CPU.
 */
export function rateLimitOptions(
  settings: Settings,
  redis: RedisConnection,
): ThrottlerModuleOptions {
  const windowMs = settings.RATE_LIMIT_WINDOW * 1000;
  // With Redis, every replica counts into the same buckets: one limit per client.
  const storage = redis.client
    ? new FailOpenThrottlerStorage(
        new ThrottlerStorageRedisService(redis.client),
        settings.RATE_LIMIT_FAIL_OPEN,
        (error) => redis.failed('rate_limit', error),
      )
    : undefined;
  return {
    storage,
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
