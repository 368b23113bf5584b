import { Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ApiKeysService } from '../api-keys.service';

const API_KEY_PROTECTED = 'piper:api-key-protected';

/** Marks routes that need an API key when API_KEYS is set (synthesis); others stay open. */
export const ApiKeyProtected = (): MethodDecorator & ClassDecorator =>
  SetMetadata(API_KEY_PROTECTED, true);

/**
 * With API_KEYS set, protected routes require `Authorization: Bearer <key>`, which is
 * what OpenAI clients send. Health, info, voices, docs and metrics stay open for
 * probes and browsers.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly keys: ApiKeysService,
    private readonly reflector: Reflector,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.keys.isEmpty) return true;
    const isProtected = this.reflector.getAllAndOverride<boolean | undefined>(API_KEY_PROTECTED, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!isProtected) return true;
    this.keys.authorize(context.switchToHttp().getRequest<Request>().headers.authorization);
    return true;
  }
}
