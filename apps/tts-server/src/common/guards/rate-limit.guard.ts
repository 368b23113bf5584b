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
import type { Request, Response } from 'express';
import { ApiKeysService } from '../api-keys.service';
import { KeyRing } from '../key-ring';

/**
 * @nestjs/throttler's guard with two changes a client notices: a limit counts a
 * client's requests across all routes (the stock key is per route, which would give a
 * client one budget per endpoint), and a refused request carries the standard
 * `Retry-After` header, not only the throttler-specific `Retry-After-<name>`. A client
 * is its API key when it sends one (clients behind one NAT keep separate budgets),
 * else its IP address (the proxy's, unless TRUST_PROXY says to believe
 * X-Forwarded-For).
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    private readonly apiKeys: ApiKeysService,
  ) {
    super(options, storage, reflector);
  }

  protected override getTracker(request: Record<string, unknown>): Promise<string> {
    const { headers, ip } = request as unknown as Request;
    // Only a valid key names a client: a made-up one must not buy a fresh budget.
    const keyId = this.apiKeys.identify(KeyRing.bearerToken(headers.authorization));
    return Promise.resolve(keyId ? `key:${keyId}` : `ip:${ip ?? 'unknown'}`);
  }

  protected override generateKey(
    _context: ExecutionContext,
    tracker: string,
    throttlerName: string,
  ): string {
    return `${throttlerName}:${tracker}`;
  }

  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const response = context.switchToHttp().getResponse<Response>();
    response.setHeader('Retry-After', String(Math.max(1, Math.ceil(detail.timeToBlockExpire))));
    await super.throwThrottlingException(context, detail);
  }
}
