import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import { ServerError } from '../common/server-errors';

/** Redis is needed to count requests and RATE_LIMIT_FAIL_OPEN is false (503). */
export class RateLimiterUnavailableError extends ServerError {
  readonly code = 'RATE_LIMITER_UNAVAILABLE';
  readonly retryAfterSeconds = 1;

  constructor() {
    super('the rate limiter (Redis) is unavailable; try again shortly');
  }
}

/**
 * Counts in the shared (Redis) storage; when that fails, either lets the request
 * through uncounted (fail open, the default: a cache outage should not become an API
 * outage) or refuses it with 503 (fail closed, for operators whose limits protect
 * something that must not be flooded).
 */
export class FailOpenThrottlerStorage implements ThrottlerStorage {
  constructor(
    private readonly shared: ThrottlerStorage,
    private readonly failOpen: boolean,
    private readonly onFailure: (error: unknown) => void,
  ) {}

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    try {
      return await this.shared.increment(key, ttl, limit, blockDuration, throttlerName);
    } catch (error) {
      this.onFailure(error);
      if (!this.failOpen) throw new RateLimiterUnavailableError();
      return { totalHits: 0, timeToExpire: 0, isBlocked: false, timeToBlockExpire: 0 };
    }
  }
}
