import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { PiperError } from '@app/piper';
import { Settings } from '../config/settings';
import { ApiKeyError } from '../common/http-errors';
import { ApiKeys } from '../common/guards/api-key.guard';

/** ADMIN_API_KEY is not set: the admin routes are off (403). */
export class AdminDisabledError extends PiperError {
  readonly code = 'ADMIN_DISABLED';

  constructor() {
    super('the admin endpoints are disabled: set ADMIN_API_KEY to enable them');
  }
}

/**
 * Admin routes (installing and removing voices) need `Authorization: Bearer
 * <ADMIN_API_KEY>`, a key of its own: a synthesis key from API_KEYS is not enough.
 * Without ADMIN_API_KEY they are off. The comparison is of digests, in constant time.
 */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  private readonly adminDigest: Buffer | undefined;

  constructor(settings: Settings) {
    this.adminDigest = settings.ADMIN_API_KEY
      ? createHash('sha256').update(settings.ADMIN_API_KEY).digest()
      : undefined;
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.adminDigest) throw new AdminDisabledError();
    const header = context.switchToHttp().getRequest<Request>().headers.authorization;
    const key = ApiKeys.bearerToken(header);
    if (key === undefined) throw new ApiKeyError(true);
    const offered = createHash('sha256').update(key).digest();
    if (!timingSafeEqual(offered, this.adminDigest)) throw new ApiKeyError(false);
    return true;
  }
}
