/**
 * Admission at request level: at most `maxConcurrent` requests hold a slot for their
 * whole synthesis, at most `maxQueue` wait for one, the next is refused at once with
 * EngineBusyError and a Retry-After estimated from how long requests have been taking.
 * At shutdown it drains: nothing new is admitted but the requests of work accepted
 * before (a DrainHold), which it waits for, then for the requests holding slots.
 */
import { EngineBusyError } from '../engine.errors';
import type {
  DrainHold,
  EngineSentence,
  EngineSlot,
  EngineSynthesisRequest,
} from '../piper-engine';
import { ConcurrencyLimiter, type ReleaseSlot } from './concurrency-limiter';
import { DrainHolds } from './drain-holds';

/** Longest Retry-After given with EngineBusyError. */
export const MAX_RETRY_AFTER_SECONDS = 60;
/** Weight of the latest request in the moving average of a request's time. */
const AVERAGE_WEIGHT = 0.2;

export class Admission {
  private readonly limiter: ConcurrencyLimiter;
  /** Moving average of a request's time from its plan to its end, for Retry-After. */
  private averageRequestMs = 1_000;
  /** Work accepted before the drain (holdDrain) and not yet released. */
  private readonly holds = new DrainHolds();

  constructor(
    maxConcurrent: number,
    maxQueue: number,
    /** Workers sharing the requests' sentences. */
    private readonly workers: number,
  ) {
    this.limiter = new ConcurrencyLimiter(
      maxConcurrent,
      maxQueue,
      () => new EngineBusyError(this.retryAfterSeconds()),
    );
  }

  get counts(): {
    activeRequests: number;
    queuedRequests: number;
    maxConcurrentRequests: number;
    maxQueue: number;
  } {
    const { active, queued, maxConcurrent, maxQueue } = this.limiter;
    return {
      activeRequests: active,
      queuedRequests: queued,
      maxConcurrentRequests: maxConcurrent,
      maxQueue,
    };
  }

  /** A slot, or a queue place; while draining only for the requests of an open `hold`. */
  acquire(signal?: AbortSignal, hold?: DrainHold): Promise<ReleaseSlot> {
    return this.limiter.acquire(signal, this.holds.has(hold));
  }

  /** A hold on the drain for work that will ask for more slots (PiperEngine.holdDrain). */
  holdDrain(): DrainHold {
    return this.holds.take();
  }

  /** `hold` is open: its requests are admitted while the pool drains. */
  isHeld(hold: DrainHold | undefined): boolean {
    return this.holds.has(hold);
  }

  /**
   * Refuses new requests with `error` (but those of open holds), waits for the holds to
   * be released and then for the slots to be given back, all within `timeoutMs`; after
   * that no hold admits anything.
   */
  async drain(timeoutMs: number, error: Error): Promise<void> {
    this.limiter.close(error);
    const started = performance.now();
    await this.holds.released(timeoutMs);
    await this.whenIdle(Math.max(0, timeoutMs - (performance.now() - started)));
    this.holds.clear();
    // Held requests that queued for a slot after the first close.
    this.limiter.close(error);
  }

  /** A request that holds a slot finished well after `durationMs`. */
  requestDone(durationMs: number): void {
    this.averageRequestMs =
      (1 - AVERAGE_WEIGHT) * this.averageRequestMs + AVERAGE_WEIGHT * durationMs;
  }

  /** Resolves once no request holds a slot, or after `timeoutMs`, whichever comes first. */
  private async whenIdle(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([this.limiter.whenIdle(), timeout]);
    clearTimeout(timer);
  }

  private retryAfterSeconds(): number {
    // Requests share the workers sentence by sentence: the queue ahead drains at
    // about `workers` requests' worth of work per average request time.
    const { active, queued, maxConcurrent } = this.limiter;
    const aheadMs =
      (this.averageRequestMs * (active + queued)) / Math.min(maxConcurrent, this.workers);
    return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(aheadMs / 1000)));
  }
}

/**
 * An admission slot held across several syntheses (PiperEngine.acquireSlot): each runs
 * through `synthesize` within it until `release`, after which none may start.
 */
export function heldSlot(
  release: ReleaseSlot,
  synthesize: (
    request: EngineSynthesisRequest,
    signal?: AbortSignal,
  ) => AsyncIterable<EngineSentence>,
): EngineSlot {
  let released = false;
  return {
    synthesize: (request, signal) => {
      if (released) throw new Error('the slot was released');
      return synthesize(request, signal);
    },
    release: () => {
      released = true;
      release();
    },
  };
}
