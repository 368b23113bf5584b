import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiKeyError } from './server-errors';

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

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
