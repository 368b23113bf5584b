import { Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Settings } from '../../config/settings';
import { ApiKeyError } from '../server-errors';

const API_KEY_PROTECTED = 'piper:api-key-protected';

/** Marks routes that need an API key when API_KEYS is set (synthesis); others stay open. */
export const ApiKeyProtected = (): MethodDecorator & ClassDecorator =>
  SetMetadata(API_KEY_PROTECTED, true);

/**
 * A set of secret keys, kept as SHA-256 digests and compared in constant time, so
 * neither the length nor the content of a key leaks through timing.
 */
export class KeyRing {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  get isEmpty(): boolean {
    return this.digests.length === 0;
  }

  /** The Bearer token of an Authorization header, if it has one. */
  static bearerToken(authorization: string | undefined): string | undefined {
    return /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  }

  /** A stable, non-secret id (hex digest) for a key of the ring; undefined for anything else. */
  identify(key: string | undefined): string | undefined {
    if (key === undefined || this.isEmpty) return undefined;
    const offered = digest(key);
    // Every key is compared, so the time taken does not say which one came close.
    let valid = false;
    for (const known of this.digests) valid = timingSafeEqual(offered, known) || valid;
    return valid ? offered.toString('hex') : undefined;
  }

  /** Throws the 401 for a missing or unknown Bearer key in `authorization`. */
  authorize(authorization: string | undefined): void {
    const key = KeyRing.bearerToken(authorization);
    if (key === undefined) throw new ApiKeyError(true);
    if (this.identify(key) === undefined) throw new ApiKeyError(false);
  }
}

/** The synthesis keys (API_KEYS); empty means the API is open. */
@Injectable()
export class ApiKeys extends KeyRing {
  constructor(settings: Settings) {
    super(settings.API_KEYS);
  }
}

/**
 * With API_KEYS set, protected routes require `Authorization: Bearer <key>`, which is
 * what OpenAI clients send. Health, info, voices, docs and metrics stay open for
 * probes and browsers.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly keys: ApiKeys,
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

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
