/**
 * One HTTP attempt with Node's fetch (undici): a watchdog aborts it when no byte has
 * arrived for the policy's stall timeout, statuses become typed errors (404 final,
 * 5xx/408/429 transient), and network failures become TransientFailure for withRetry.
 */
import {
  classifyNetworkError,
  errorCode,
  TransientFailure,
  isTransientStatus,
  type RetryPolicy,
} from './retry';
import { HttpStatusError, NetworkError, RemoteFileNotFoundError } from './errors';

/** Aborts a request once nothing has arrived for `timeoutMs`; `touch()` on every chunk. */
export class StallWatchdog {
  readonly controller = new AbortController();
  stalled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    outer?: AbortSignal,
  ) {
    if (outer) {
      if (outer.aborted) this.controller.abort(outer.reason);
      else
        outer.addEventListener('abort', () => this.controller.abort(outer.reason), { once: true });
    }
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.stalled = true;
      this.controller.abort(new Error('stalled'));
    }, this.timeoutMs);
    this.timer.unref();
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

/**
 * Sends one GET and returns the response when its status is 200 or 206. The caller
 * reads the body (touching the watchdog) and disposes the watchdog.
 */
export async function getOnce(
  url: string,
  policy: RetryPolicy,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<{ response: Response; watchdog: StallWatchdog }> {
  const watchdog = new StallWatchdog(policy.stallTimeoutMs, signal);
  let response: Response;
  try {
    response = await fetch(url, { headers, signal: watchdog.signal, redirect: 'follow' });
  } catch (error) {
    watchdog.dispose();
    if (signal?.aborted) throw error;
    const classified = classifyNetworkError(error, watchdog.stalled);
    if (classified instanceof TransientFailure) throw classified;
    // fetch refused the request itself (a "bad port", an unsupported scheme): final.
    throw new NetworkError(url, innermostMessage(error), 1, { cause: error });
  }
  if (response.status === 200 || response.status === 206) return { response, watchdog };
  watchdog.dispose();
  await response.body?.cancel().catch(() => undefined);
  if (response.status === 404 || response.status === 410) {
    throw new RemoteFileNotFoundError(url, response.status);
  }
  if (isTransientStatus(response.status)) {
    throw new TransientFailure(`HTTP ${response.status}`, response.status);
  }
  throw new HttpStatusError(url, response.status, 1);
}

/** The code or message at the bottom of an error's cause chain. */
function innermostMessage(error: unknown): string {
  let current: unknown = error;
  while (current instanceof Error && current.cause !== undefined) current = current.cause;
  const code = errorCode(error);
  return code ?? (current instanceof Error ? current.message : String(current));
}

/** The error to report once withRetry has given up on a TransientFailure. */
export function exhaustedError(url: string, error: unknown, attempts: number): unknown {
  if (!(error instanceof TransientFailure)) return error;
  if (error.status !== undefined) return new HttpStatusError(url, error.status, attempts);
  return new NetworkError(url, error.reason, attempts, { cause: error.cause });
}
