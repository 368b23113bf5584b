/**
 * Work accepted before a shutdown that will ask the pool for more (PiperEngine.holdDrain):
 * while a hold is open, the drain admits the requests that carry it, and waits for its
 * release before it waits for the requests in flight.
 */
import type { DrainHold } from '../piper-engine';

export class DrainHolds {
  private readonly open = new Set<DrainHold>();
  private onReleased: (() => void) | undefined;

  take(): DrainHold {
    const hold: DrainHold = {
      release: () => {
        if (this.open.delete(hold) && this.open.size === 0) this.onReleased?.();
      },
    };
    this.open.add(hold);
    return hold;
  }

  /** `hold` is one of these and not released. */
  has(hold: DrainHold | undefined): boolean {
    return hold !== undefined && this.open.has(hold);
  }

  /** Resolves once every hold is released, or after `timeoutMs`. */
  async released(timeoutMs: number): Promise<void> {
    if (this.open.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => (this.onReleased = resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  /** The drain is over: no hold admits anything any more. */
  clear(): void {
    this.open.clear();
  }
}
