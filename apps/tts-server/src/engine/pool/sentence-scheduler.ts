/**
 * Which job an idle worker takes next. Plain logic, no processes: EnginePool asks it
 * each time a worker frees up.
 *
 * Two kinds of work wait here:
 *   - quick jobs (`phonemize` calls), first come first served and ahead of any sentence;
 *   - the requests being synthesized, each asking for its next piece of work (a new
 *     request: its plan, which goes on with its first sentence). The next one goes to
 *     the request with the fewest sentences running on workers, then to the one served
 *     least recently, a new request counting as served just before its arrival, then
 *     to the oldest. That is round robin across requests: a one-sentence request that
 *     arrives behind a 50-sentence one waits for at most about one sentence of it per
 *     worker, not for all fifty; a long request still gets its turn however many new
 *     ones keep arriving; and a request alone on an idle pool gets every worker, one
 *     sentence each, so its sentences are synthesized in parallel.
 */

/** What the scheduler needs to know about a request being synthesized. */
export interface SchedulableRequest {
  /** Unique and increasing in order of arrival. */
  readonly id: number;
  /** Sentences not yet handed to a worker (0 while it is being planned, or once cancelled). */
  readonly pendingSentences: number;
  /** Sentences of it running on workers now. */
  readonly sentencesInFlight: number;
}

export type ScheduledWork<Q, R> = { kind: 'quick'; job: Q } | { kind: 'sentence'; request: R };

export class SentenceScheduler<Q, R extends SchedulableRequest> {
  private readonly waitingQuickJobs: Q[] = [];
  private readonly requests = new Set<R>();
  /** Sequence number of each request's last sentence handed out. */
  private readonly lastServed = new Map<R, number>();
  private served = 0;

  /** Quick jobs waiting (plans, phonemize calls). */
  get queuedQuickJobs(): number {
    return this.waitingQuickJobs.length;
  }

  /** Sentences waiting for a worker, over every request. */
  get queuedSentences(): number {
    let count = 0;
    for (const request of this.requests) count += request.pendingSentences;
    return count;
  }

  /** The quick jobs waiting, first come first. */
  quickJobs(): readonly Q[] {
    return this.waitingQuickJobs;
  }

  addQuickJob(job: Q): void {
    this.waitingQuickJobs.push(job);
  }

  /** Takes back the quick jobs not handed out yet that `matches` picks; returns how many. */
  removeQuickJobs(matches: (job: Q) => boolean): number {
    const before = this.waitingQuickJobs.length;
    const kept = this.waitingQuickJobs.filter((job) => !matches(job));
    this.waitingQuickJobs.splice(0, before, ...kept);
    return before - kept.length;
  }

  /** Forgets every request and returns the quick jobs that were waiting (shutdown). */
  clear(): Q[] {
    this.requests.clear();
    this.lastServed.clear();
    return this.waitingQuickJobs.splice(0);
  }

  /** A request whose work may now be handed out, in turn after those served before it arrived. */
  addRequest(request: R): void {
    this.requests.add(request);
    this.lastServed.set(request, this.served - 0.5);
  }

  /** The request is done, failed or cancelled: none of its sentences is handed out any more. */
  removeRequest(request: R): void {
    this.requests.delete(request);
    this.lastServed.delete(request);
  }

  /**
   * The next work for an idle worker, or undefined when nothing waits. For a sentence
   * the caller hands out the request's next sentence in order (and so lowers its
   * `pendingSentences`, raises its `sentencesInFlight`). Work the predicates turn down
   * (it has no worker to run on now: its voice is loaded only in busy ones) is passed
   * over and keeps its place: the order among the rest is unchanged.
   */
  next(
    canRunQuick: (job: Q) => boolean = () => true,
    canRun: (request: R) => boolean = () => true,
  ): ScheduledWork<Q, R> | undefined {
    const index = this.waitingQuickJobs.findIndex((job) => canRunQuick(job));
    if (index >= 0) return { kind: 'quick', job: this.waitingQuickJobs.splice(index, 1)[0] };
    let best: R | undefined;
    for (const request of this.requests) {
      if (request.pendingSentences <= 0) continue;
      if (best && !this.before(request, best)) continue;
      if (!canRun(request)) continue;
      best = request;
    }
    if (!best) return undefined;
    this.lastServed.set(best, ++this.served);
    return { kind: 'sentence', request: best };
  }

  private before(a: R, b: R): boolean {
    if (a.sentencesInFlight !== b.sentencesInFlight) {
      return a.sentencesInFlight < b.sentencesInFlight;
    }
    const servedA = this.lastServed.get(a) ?? 0;
    const servedB = this.lastServed.get(b) ?? 0;
    if (servedA !== servedB) return servedA < servedB;
    return a.id < b.id;
  }
}
