/**
 * Retries with exponential backoff for the catalogue's HTTP requests. Only failures
 * that a later attempt can fix are retried: the connection refused, reset or dropped
 * mid-body, DNS lookups failing, stalls (no byte for `stallTimeoutMs`), and the
 * statuses 408, 429 and 5xx. A 404, any other 4xx and a size or checksum mismatch are
 * final at once: asking again returns the same answer.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Delay before the first retry; doubled each time, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A request that receives no byte for this long is abandoned (and retried). */
  stallTimeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  attempts: 5,
  baseDelayMs: 1000,
  maxDelayMs: 16_000,
  stallTimeoutMs: 30_000,
});

/** Node error codes of a connection that a later attempt may well get. */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** HTTP statuses worth asking again for. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * A failure of one attempt that another attempt may not have: thrown inside an attempt,
 * caught by {@link withRetry}. `reason` is short ("ECONNRESET", "HTTP 503", "stalled 30 s").
 */
export class TransientFailure extends Error {
  constructor(
    readonly reason: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
    this.name = 'TransientFailure';
  }
}

/**
 * The most specific code in an undici/Node error chain (fetch wraps the socket error
 * in `cause`, sometimes twice), or undefined.
 */
export function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  let found: string | undefined;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') found = code;
    current = (current as { cause?: unknown }).cause;
  }
  return found;
}

/**
 * Turns an error thrown by fetch or by reading its body into a TransientFailure when
 * it is a network failure; anything else (a bug, a file system error) is returned as is.
 */
export function classifyNetworkError(error: unknown, stalled: boolean): unknown {
  if (error instanceof TransientFailure) return error;
  if (stalled)
    return new TransientFailure('stalled, no data received', undefined, { cause: error });
  const code = errorCode(error);
  if (code && TRANSIENT_CODES.has(code))
    return new TransientFailure(code, undefined, { cause: error });
  // undici reports a body cut short as TypeError("terminated") and a failed connect as
  // TypeError("fetch failed"), sometimes without a code on the chain.
  if (
    error instanceof TypeError &&
    /terminated|fetch failed|other side closed/i.test(error.message)
  ) {
    return new TransientFailure(code ?? error.message, undefined, { cause: error });
  }
  return error;
}

/** Delay before retry number `retry` (1 for the first retry): base·2^(retry-1), capped, ×[0.5, 1). */
export function backoffDelayMs(
  retry: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.round(exponential * (0.5 + random() / 2));
}

export interface RetryNotice {
  /** The attempt about to start (2 for the first retry). */
  attempt: number;
  attempts: number;
  delayMs: number;
  reason: string;
}

/**
 * Runs `attempt` until it succeeds, throws something other than a TransientFailure, or
 * has failed `policy.attempts` times; then the last TransientFailure is thrown for the
 * caller to turn into a NetworkError or HttpStatusError.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  attempt: (attemptNumber: number) => Promise<T>,
  onRetry?: (notice: RetryNotice) => void,
  signal?: AbortSignal,
): Promise<T> {
  for (let attemptNumber = 1; ; attemptNumber++) {
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      if (!(error instanceof TransientFailure) || attemptNumber >= policy.attempts) throw error;
      const delayMs = backoffDelayMs(attemptNumber, policy);
      onRetry?.({
        attempt: attemptNumber + 1,
        attempts: policy.attempts,
        delayMs,
        reason: error.reason,
      });
      await sleep(delayMs, undefined, { signal });
    }
  }
}
