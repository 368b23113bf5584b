/**
 * Admission control for synthesis requests: at most `maxConcurrent` holders of a slot,
 * then a FIFO queue of at most `maxQueue` waiters, then immediate refusal.
 *
 * Written here rather than taken from npm: p-limit and p-queue are ESM-only (this
 * project is CommonJS) and, like async-sema, queue without bound; refusing when the
 * queue is full (so the server answers 503 with Retry-After instead of piling up
 * requests) is the point of this class. Bottleneck has a bounded queue but is
 * unmaintained since 2019. This small class is cheaper than either trade.
 */

/** Gives the slot back; calling it again does nothing. */
export type ReleaseSlot = () => void;

interface Waiter {
  resolve: (release: ReleaseSlot) => void;
  reject: (reason: unknown) => void;
  detach: () => void;
}

export class ConcurrencyLimiter {
  private holders = 0;
  private readonly waiters: Waiter[] = [];
  private closedWith: Error | undefined;
  private idleListeners: (() => void)[] = [];

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueue: number,
    /** The error a request gets when every slot and queue place is taken. */
    private readonly fullError: () => Error,
  ) {
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new RangeError(`maxConcurrent must be a positive integer, got ${maxConcurrent}`);
    }
    if (!Number.isInteger(maxQueue) || maxQueue < 0) {
      throw new RangeError(`maxQueue must be a non-negative integer, got ${maxQueue}`);
    }
  }

  /** Requests holding a slot. */
  get active(): number {
    return this.holders;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiters.length;
  }

  /**
   * A slot now, or a place in the queue, or a rejection: `fullError()` when the queue
   * is full, the close error after `close()`, the signal's reason when it aborts
   * while waiting (the place is then given up). `evenIfClosed`: queued as if not closed
   * (work a drain still lets finish).
   */
  acquire(signal?: AbortSignal, evenIfClosed = false): Promise<ReleaseSlot> {
    if (this.closedWith && !evenIfClosed) return Promise.reject(this.closedWith);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.holders < this.maxConcurrent) {
      this.holders += 1;
      return Promise.resolve(this.releaser());
    }
    if (this.waiters.length >= this.maxQueue) return Promise.reject(this.fullError());
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const onAbort = (): void => {
        this.remove(waiter);
        if (signal) reject(abortReason(signal));
      };
      const waiter: Waiter = {
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Refuses every later acquire with `error` and rejects every waiter with it; holders keep their slots. */
  close(error: Error): void {
    this.closedWith ??= error;
    for (const waiter of this.waiters.splice(0)) {
      waiter.detach();
      waiter.reject(error);
    }
  }

  /** Resolves when no slot is held. */
  whenIdle(): Promise<void> {
    if (this.holders === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleListeners.push(resolve));
  }

  private releaser(): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) {
        // The slot passes straight to the oldest waiter: `holders` is unchanged.
        next.detach();
        next.resolve(this.releaser());
        return;
      }
      this.holders -= 1;
      if (this.holders === 0) {
        for (const listener of this.idleListeners.splice(0)) listener();
      }
    };
  }

  private remove(waiter: Waiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index >= 0) this.waiters.splice(index, 1);
  }
}

/** The signal's reason when it is an Error (it is, unless someone aborted with a non-Error). */
function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError');
}
