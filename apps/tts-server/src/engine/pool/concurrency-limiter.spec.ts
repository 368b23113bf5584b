import { ConcurrencyLimiter, type ReleaseSlot } from './concurrency-limiter';

class FullError extends Error {}

/** Lets every settled promise's callbacks run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe(ConcurrencyLimiter.name, () => {
  const limiter = (maxConcurrent: number, maxQueue: number): ConcurrencyLimiter =>
    new ConcurrencyLimiter(maxConcurrent, maxQueue, () => new FullError('full'));

  it('admits maxConcurrent at once, queues maxQueue, refuses the next', async () => {
    const slots = limiter(2, 1);
    const first = await slots.acquire();
    await slots.acquire();
    const queued = slots.acquire();
    await expect(slots.acquire()).rejects.toBeInstanceOf(FullError);
    expect({ active: slots.active, queued: slots.queued }).toEqual({ active: 2, queued: 1 });

    first();
    await expect(queued).resolves.toBeInstanceOf(Function);
    expect({ active: slots.active, queued: slots.queued }).toEqual({ active: 2, queued: 0 });
  });

  it('hands released slots to waiters in arrival order', async () => {
    const slots = limiter(1, 3);
    const holder = await slots.acquire();
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) =>
      slots.acquire().then((release) => {
        order.push(n);
        return release;
      }),
    );
    let release: ReleaseSlot = holder;
    for (const waiter of waiters) {
      release();
      release = await waiter;
    }
    expect(order).toEqual([1, 2, 3]);
    release();
    expect(slots.active).toBe(0);
  });

  it('ignores a second release of the same slot', async () => {
    const slots = limiter(1, 1);
    const release = await slots.acquire();
    const waiter = slots.acquire();
    release();
    release();
    await waiter;
    expect(slots.active).toBe(1);
  });

  it('gives up the queue place of a waiter whose signal aborts', async () => {
    const slots = limiter(1, 1);
    const holder = await slots.acquire();
    const controller = new AbortController();
    const waiter = slots.acquire(controller.signal);
    controller.abort();
    await expect(waiter).rejects.toMatchObject({ name: 'AbortError' });
    expect(slots.queued).toBe(0);
    const next = slots.acquire();
    holder();
    await expect(next).resolves.toBeInstanceOf(Function);
  });

  it('after close, rejects waiters and new requests but lets holders finish', async () => {
    const slots = limiter(1, 2);
    const holder = await slots.acquire();
    const waiter = slots.acquire();
    const stopped = new Error('stopped');
    slots.close(stopped);
    await expect(waiter).rejects.toBe(stopped);
    await expect(slots.acquire()).rejects.toBe(stopped);

    let idle = false;
    void slots.whenIdle().then(() => (idle = true));
    await settle();
    expect(idle).toBe(false);
    holder();
    await settle();
    expect(idle).toBe(true);
  });

  it('with maxQueue 0, refuses as soon as every slot is held', async () => {
    const slots = limiter(1, 0);
    await slots.acquire();
    await expect(slots.acquire()).rejects.toBeInstanceOf(FullError);
  });
});
