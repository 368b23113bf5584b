import { SentenceScheduler, type SchedulableRequest } from './sentence-scheduler';

/** A request as EnginePool keeps it: sentences handed out in order, some running. */
class FakeRequest implements SchedulableRequest {
  nextToDispatch = 0;
  sentencesInFlight = 0;

  constructor(
    readonly id: number,
    readonly sentenceCount: number,
  ) {}

  get pendingSentences(): number {
    return this.sentenceCount - this.nextToDispatch;
  }
}

/**
 * Simulates `workers` workers that each take `sentence` jobs from the scheduler and
 * finish them in the order they were started; returns what was handed out, in order.
 */
function run(
  scheduler: SentenceScheduler<string, FakeRequest>,
  workers: number,
  steps: number,
  onStep?: (step: number) => void,
): string[] {
  const handedOut: string[] = [];
  const running: FakeRequest[] = [];
  for (let step = 0; step < steps; step++) {
    onStep?.(step);
    while (running.length < workers) {
      const work = scheduler.next();
      if (!work) break;
      if (work.kind === 'quick') {
        handedOut.push(work.job);
        continue;
      }
      const request = work.request;
      handedOut.push(`${request.id}:${request.nextToDispatch}`);
      request.nextToDispatch += 1;
      request.sentencesInFlight += 1;
      running.push(request);
    }
    const finished = running.shift();
    if (!finished) continue;
    finished.sentencesInFlight -= 1;
    if (finished.pendingSentences === 0 && finished.sentencesInFlight === 0) {
      scheduler.removeRequest(finished);
    }
  }
  return handedOut;
}

describe(SentenceScheduler.name, () => {
  it('hands out one request’s sentences in order', () => {
    const scheduler = new SentenceScheduler<string, FakeRequest>();
    scheduler.addRequest(new FakeRequest(1, 4));
    expect(run(scheduler, 2, 10)).toEqual(['1:0', '1:1', '1:2', '1:3']);
  });

  it('gives a short request that arrives behind a long one the next free worker', () => {
    const scheduler = new SentenceScheduler<string, FakeRequest>();
    const long = new FakeRequest(1, 50);
    const short = new FakeRequest(2, 1);
    scheduler.addRequest(long);
    const handedOut = run(scheduler, 1, 60, (step) => {
      if (step === 5) scheduler.addRequest(short);
    });
    // Five long sentences were out when the short one arrived; it goes next.
    expect(handedOut.slice(0, 7)).toEqual(['1:0', '1:1', '1:2', '1:3', '1:4', '2:0', '1:5']);
    expect(handedOut).toHaveLength(51);
  });

  it('keeps serving a long request while new short ones keep arriving', () => {
    const scheduler = new SentenceScheduler<string, FakeRequest>();
    scheduler.addRequest(new FakeRequest(1, 10));
    let nextId = 2;
    // A new one-sentence request at every step: more than the one worker can serve.
    const handedOut = run(scheduler, 1, 20, () =>
      scheduler.addRequest(new FakeRequest(nextId++, 1)),
    );
    const long = handedOut.filter((item) => item.startsWith('1:'));
    // Round robin among the waiting requests: the long one keeps getting turns (were
    // newcomers always first, it would get only its first sentence).
    expect(long.length).toBeGreaterThanOrEqual(4);
  });

  it('alternates between requests of equal length (round robin)', () => {
    const scheduler = new SentenceScheduler<string, FakeRequest>();
    scheduler.addRequest(new FakeRequest(1, 3));
    scheduler.addRequest(new FakeRequest(2, 3));
    scheduler.addRequest(new FakeRequest(3, 3));
    expect(run(scheduler, 1, 20)).toEqual([
      '1:0',
      '2:0',
      '3:0',
      '1:1',
      '2:1',
      '3:1',
      '1:2',
      '2:2',
      '3:2',
    ]);
  });

  it('on two workers, serves a newcomer before a request that already has a sentence running', () => {
    const scheduler = new SentenceScheduler<string, FakeRequest>();
    const long = new FakeRequest(1, 50);
    scheduler.addRequest(long);
    const handedOut = run(scheduler, 2, 60, (step) => {
      if (step === 3) scheduler.addRequest(new FakeRequest(2, 2));
    });
    const shortAt = handedOut.indexOf('2:0');
    const longBefore = handedOut.slice(0, shortAt).filter((item) => item.startsWith('1:'));
    // Two were running when it arrived (one per worker): it waits for one of them to end.
    expect(longBefore).toHaveLength(4);
    expect(handedOut[shortAt + 2]).toBe('2:1');
  });

  it('hands out quick jobs (phonemize calls) first, in order', () => {
    const scheduler = new SentenceScheduler<string, FakeRequest>();
    scheduler.addRequest(new FakeRequest(1, 2));
    scheduler.addQuickJob('phonemize A');
    scheduler.addQuickJob('phonemize B');
    expect(run(scheduler, 1, 10)).toEqual(['phonemize A', 'phonemize B', '1:0', '1:1']);
  });

  it('hands out nothing more of a removed (cancelled) request, and leaves the others', () => {
    const scheduler = new SentenceScheduler<string, FakeRequest>();
    const cancelled = new FakeRequest(1, 10);
    scheduler.addRequest(cancelled);
    scheduler.addRequest(new FakeRequest(2, 3));
    const handedOut = run(scheduler, 1, 20, (step) => {
      if (step === 2) scheduler.removeRequest(cancelled);
    });
    expect(handedOut).toEqual(['1:0', '2:0', '2:1', '2:2']);
    expect(scheduler.queuedSentences).toBe(0);
  });

  it('passes over work that cannot run now, which keeps its turn for later', () => {
    const scheduler = new SentenceScheduler<string, FakeRequest>();
    const waiting = new FakeRequest(1, 2);
    const other = new FakeRequest(2, 2);
    scheduler.addRequest(waiting);
    scheduler.addRequest(other);
    scheduler.addQuickJob('phonemize on a busy voice');
    scheduler.addQuickJob('phonemize');
    const notWaiting = (request: FakeRequest): boolean => request !== waiting;
    const notBusy = (job: string): boolean => job === 'phonemize';

    expect(scheduler.next(notBusy, notWaiting)).toEqual({ kind: 'quick', job: 'phonemize' });
    expect(scheduler.next(notBusy, notWaiting)).toEqual({ kind: 'sentence', request: other });
    other.nextToDispatch += 1;
    expect(scheduler.quickJobs()).toEqual(['phonemize on a busy voice']);
    // Once it can run, the request passed over comes first: it was served least recently.
    expect(scheduler.next(notBusy)).toEqual({ kind: 'sentence', request: waiting });
    expect(scheduler.next()).toEqual({ kind: 'quick', job: 'phonemize on a busy voice' });
  });

  it('takes back quick jobs not handed out yet and clears at shutdown', () => {
    const scheduler = new SentenceScheduler<string, FakeRequest>();
    scheduler.addQuickJob('plan A');
    scheduler.addQuickJob('plan B');
    scheduler.addQuickJob('plan C');
    expect(scheduler.removeQuickJobs((job) => job === 'plan B')).toBe(1);
    scheduler.addRequest(new FakeRequest(1, 5));
    expect(scheduler.queuedSentences).toBe(5);
    expect(scheduler.clear()).toEqual(['plan A', 'plan C']);
    expect(scheduler.next()).toBeUndefined();
  });
});
