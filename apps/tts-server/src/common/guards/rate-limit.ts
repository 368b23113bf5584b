/**
 * Two budgets per client (@nestjs/throttler's storage, in memory or in Redis with
 * REDIS_URL), counted where each one's cost is:
 *
 * - general: RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW, every request to every
 *   endpoint (probes exempt), counted by RateLimitGuard before anything else runs;
 * - synthesis: TTS_RATE_LIMIT_REQUESTS per window, spent by SynthesisBudget only when a
 *   request is about to be synthesized, so a request refused before (a 400, an unknown
 *   voice) or answered from the cache, which cost next to nothing, does not spend it: a
 *   newcomer trying six formats of one text, or a page replaying its audio, is not
 *   refused for it.
 */
import { createParamDecorator, Injectable, type ExecutionContext } from '@nestjs/common';
import {
  InjectThrottlerStorage,
  type ThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import type { Request } from 'express';
import { Settings } from '../../config/settings';
import { FailOpenThrottlerStorage } from '../../redis/fail-open-throttler-storage';
import type { RedisConnection } from '../../redis/redis-connection';
import { RateLimitedError } from '../server-errors';

/** The general budget's throttler (the stock name: its headers carry no suffix). */
export const GENERAL_THROTTLER = 'default';
const SYNTHESIS_THROTTLER = 'synthesis';

/** A request as the rate limits see it: RateLimitGuard names its client. */
export type RateLimitedRequest = Request & { rateLimitClient?: string };

/**
 * The client the rate limits count this request against (its API key's id or its
 * address), for a synthesis budget spent later in the request.
 */
export const RateLimitClient = createParamDecorator(
  (_data: unknown, context: ExecutionContext): string | undefined =>
    context.switchToHttp().getRequest<RateLimitedRequest>().rateLimitClient,
);

export function rateLimitOptions(
  settings: Settings,
  redis: RedisConnection,
): ThrottlerModuleOptions {
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
      {
        name: GENERAL_THROTTLER,
        ttl: settings.RATE_LIMIT_WINDOW * 1000,
        limit: settings.RATE_LIMIT_REQUESTS,
      },
    ],
  };
}

/** The synthesis budget, spent once per request that reaches the engine. */
@Injectable()
export class SynthesisBudget {
  constructor(
    @InjectThrottlerStorage() private readonly storage: ThrottlerStorage,
    private readonly settings: Settings,
  ) {}

  /** Counts one synthesis for `client`; throws RATE_LIMITED once its budget is spent. */
  async spend(client: string | undefined): Promise<void> {
    // No client: the route is not rate limited (RateLimitGuard did not run).
    if (client === undefined) return;
    const windowMs = this.settings.RATE_LIMIT_WINDOW * 1000;
    const limit = this.settings.TTS_RATE_LIMIT_REQUESTS;
    const record = await this.storage.increment(
      `${SYNTHESIS_THROTTLER}:${client}`,
      windowMs,
      limit,
      windowMs,
      SYNTHESIS_THROTTLER,
    );
    if (record.isBlocked) {
      throw new RateLimitedError(
        'synthesis',
        limit,
        this.settings.RATE_LIMIT_WINDOW,
        Math.max(1, Math.ceil(record.timeToBlockExpire)),
      );
    }
  }
}
