import { idleWorkerThreads } from './pool-piper-engine';

describe(idleWorkerThreads.name, () => {
  it('gives the all-cores session the cores the pool was given, not more', () => {
    // A container limited to two CPUs on a 16-core host, WORKERS=2 × WORKER_THREADS=1.
    expect(idleWorkerThreads(2, 1, 16)).toBe(2);
    expect(idleWorkerThreads(16, 1, 16)).toBe(16);
    expect(idleWorkerThreads(4, 2, 16)).toBe(8);
    // Never more threads than the machine has.
    expect(idleWorkerThreads(64, 1, 16)).toBe(16);
  });

  it('gives none when each worker already has every core it may use', () => {
    expect(idleWorkerThreads(1, 1, 2)).toBe(0);
    expect(idleWorkerThreads(1, 2, 2)).toBe(0);
    expect(idleWorkerThreads(2, 2, 2)).toBe(0);
  });
});
