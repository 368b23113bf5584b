import { Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Settings } from '../../config/settings';
import { ApiKeyError } from '../http-errors';

const API_KEY_PROTECTED = 'piper:api-key-protected';

/** Marks routes that need an API key when API_KEYS is set (synthesis); others stay open. */
export const ApiKeyProtected = (): MethodDecorator & ClassDecorator =>
  SetMetadata(API_KEY_PROTECTED, true);

/**
 * With API_KEYS set, protected routes require `Authorization: Bearer <key>`, which is
 * what OpenAI clients send. Health, info, voices, docs and metrics stay open for
 * probes and browsers. Keys are compared as SHA-256 digests in constant time, so
 * neither the length nor the content of a key leaks through timing.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keyDigests: Buffer[];

  constructor(
    settings: Settings,
    private readonly reflector: Reflector,
  ) {
    this.keyDigests = settings.API_KEYS.map(digest);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.keyDigests.length === 0) return true;
    const isProtected = this.reflector.getAllAndOverride<boolean | undefined>(API_KEY_PROTECTED, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!isProtected) return true;
    const header = context.switchToHttp().getRequest<Request>().headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ApiKeyError(true);
    const offered = digest(match[1]);
    // Every key is compared, so the time taken does not say which one came close.
    let valid = false;
    for (const key of this.keyDigests) valid = timingSafeEqual(offered, key) || valid;
    if (!valid) throw new ApiKeyError(false);
    return true;
  }
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
