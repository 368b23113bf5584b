import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { ServerError } from '../common/server-errors';
import { Settings } from '../config/settings';
import { KeyRing } from '../common/key-ring';

/** ADMIN_API_KEY is not set: the admin routes are off (403). */
export class AdminDisabledError extends ServerError {
  readonly code = 'ADMIN_DISABLED';

  constructor() {
    super('the admin endpoints are disabled: set ADMIN_API_KEY to enable them');
  }
}

/**
 * Admin routes (installing and removing voices) need `Authorization: Bearer
 * <ADMIN_API_KEY>`, a key of its own: a synthesis key from API_KEYS is not enough.
 * Without ADMIN_API_KEY they are off.
 */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  private readonly adminKey: KeyRing;

  constructor(settings: Settings) {
    this.adminKey = new KeyRing(settings.ADMIN_API_KEY ? [settings.ADMIN_API_KEY] : []);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.adminKey.isEmpty) throw new AdminDisabledError();
    this.adminKey.authorize(context.switchToHttp().getRequest<Request>().headers.authorization);
    return true;
  }
}
