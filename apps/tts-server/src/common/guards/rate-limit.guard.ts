import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import type { Request } from 'express';
import { Settings } from '../../config/settings';
import { ApiKeysService } from '../api-keys.service';
import { KeyRing } from '../key-ring';
import { RateLimitedError } from '../server-errors';
import type { RateLimitedRequest } from './rate-limit';

/**
 * @nestjs/throttler's guard for the general budget (see rate-limit.ts), with three
 * changes a client notices: the limit counts a client's requests across all routes (the
 * stock key is per route, which would give a client one budget per endpoint); a refused
 * request is the domain error RATE_LIMITED, whose message says which limit it hit and
 * when it resets, with the standard `Retry-After` header; and the client it counted is
 * left on the request for the synthesis budget. A client is its API key when it sends
 * a valid one (clients behind one NAT keep separate budgets), else its IP address (the
 * proxy's, unless TRUST_PROXY says to believe X-Forwarded-For).
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    private readonly apiKeys: ApiKeysService,
    private readonly settings: Settings,
  ) {
    super(options, storage, reflector);
  }

  protected override getTracker(request: Record<string, unknown>): Promise<string> {
    const { headers, ip } = request as unknown as Request;
    // Only a valid key names a client: a made-up one must not buy a fresh budget.
    const keyId = this.apiKeys.identify(KeyRing.bearerToken(headers.authorization));
    const client = keyId ? `key:${keyId}` : `ip:${ip ?? 'unknown'}`;
    (request as unknown as RateLimitedRequest).rateLimitClient = client;
    return Promise.resolve(client);
  }

  protected override generateKey(
    _context: ExecutionContext,
    tracker: string,
    throttlerName: string,
  ): string {
    return `${throttlerName}:${tracker}`;
  }

  protected override throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    return Promise.reject(
      new RateLimitedError(
        'general',
        detail.limit,
        this.settings.RATE_LIMIT_WINDOW,
        Math.max(1, Math.ceil(detail.timeToBlockExpire)),
      ),
    );
  }
}
