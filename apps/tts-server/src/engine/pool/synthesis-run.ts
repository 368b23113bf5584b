/**
 * One request being synthesized, from the moment it holds a slot to the moment it
 * gives it back: its plan, which of its jobs run on workers, the audio back from them
 * and not yet consumed (kept until every sentence before it is back), and how it ended.
 * No processes: EnginePool starts its jobs and reports how each ended; the run decides
 * what that means for the request and tells its owner once, through `onSettled`.
 *
 *   queued ──plan sent──▶ planning ──planned──▶ running ──every sentence back──▶ done
 *     │                      │                     │
 *     ├──cancel─────────────┴─────────────────────┴──▶ cancelled ──its jobs end──▶ (settled)
 *     ├──a job failed, the pool stopped──────────────▶ failed     (settled at once)
 *     └──past timeoutMs from the plan────────────────▶ timedOut   (settled at once)
 *
 * A cancelled request hands out no more sentences and drops its audio; it settles (and
 * gives its slot back) once its jobs still running end, at most one per worker. A
 * failed or timed-out one settles at once: the consumer's next `next()` throws why.
 */
import { concatPcm } from '@app/piper';
import type { ReleaseSlot } from './concurrency-limiter';
import type {
  EngineAudio,
  EngineSentence,
  EngineSynthesisRequest,
  PhonemizedSentence,
} from '../piper-engine';
import type { JobOutcome } from './pool-api';
import type { SchedulableRequest } from './sentence-scheduler';

export type RunState =
  'queued' | 'planning' | 'running' | 'cancelled' | 'failed' | 'timedOut' | 'done';

/** A sentence's audio as a worker returned it. */
export interface SentenceAudio {
  pcm: Int16Array;
  sampleRate: number;
  inferenceMs: number;
  speechSamples: number;
  /** With timestamps: the network's samples per phoneme id. */
  phonemeIdSamples?: number[];
}

/** How one of the run's jobs (its plan, or a sentence) ended. */
export type RunJobEnd =
  | { audio: SentenceAudio; workerPid: number }
  | { outcome: Exclude<JobOutcome, 'done' | 'cancelled'>; error: Error; workerPid: number };

export interface RunSettled {
  outcome: JobOutcome;
  /** Sentences synthesized for it, cancelled ones' stragglers included. */
  sentenceCount: number;
  /** From its plan's start to its end (0 if it never started). */
  durationMs: number;
  /** The worker that ran its last job (for a failure: the one that failed it). */
  workerPid: number;
}

export class SynthesisRun<V = unknown> implements SchedulableRequest {
  private stateNow: RunState = 'queued';
  private startedAtMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sentences: PhonemizedSentence[] | undefined;
  private nextToDispatch = 0;
  private sentenceCount = 0;
  private lastWorkerPid = -1;
  /** Its jobs on workers now: job id → worker pid. */
  private readonly running = new Map<number, number>();
  private error: Error | undefined;
  private settledOnce = false;
  private readonly audio = new Map<number, EngineSentence>();
  private nextToYield = 0;
  private wake: (() => void) | undefined;

  constructor(
    readonly id: number,
    readonly request: EngineSynthesisRequest,
    /** Its voice, in use (not evictable) until the request settles. */
    readonly voice: V,
    private readonly releaseSlot: ReleaseSlot,
    private readonly onSettled: (run: SynthesisRun<V>, settled: RunSettled) => void,
  ) {}

  get state(): RunState {
    return this.stateNow;
  }

  /** It has ended and given its slot back. */
  get settled(): boolean {
    return this.settledOnce;
  }

  /** performance.now() when its plan was sent, if it was. */
  get startedAt(): number | undefined {
    return this.startedAtMs;
  }

  /** Its plan (with its first sentence) counts as one until it starts. */
  get pendingSentences(): number {
    if (this.stateNow === 'queued') return 1;
    if (this.stateNow !== 'running') return 0;
    return (this.sentences?.length ?? 0) - this.nextToDispatch;
  }

  get sentencesInFlight(): number {
    return this.running.size;
  }

  /** Workers running one of its jobs now. */
  runningWorkerPids(): number[] {
    return [...new Set(this.running.values())];
  }

  /**
   * Its plan is being sent: from now it has `timeoutMs` to end, past which `onTimeout`
   * is called, unless it has settled by then.
   */
  planStarted(timeoutMs: number, onTimeout: () => void): void {
    if (this.stateNow !== 'queued') throw new Error(`run ${this.id} planned twice`);
    this.stateNow = 'planning';
    this.startedAtMs = performance.now();
    this.timer = setTimeout(() => {
      if (!this.settledOnce) onTimeout();
    }, timeoutMs);
  }

  /** It ran past its time: it fails with `error` at once (the pool kills the workers running its jobs). */
  timeOut(error: Error, workerPid?: number): void {
    if (this.settledOnce) return;
    this.end('timedOut', 'timeout', error, workerPid);
  }

  /**
   * The plan's sentences are known; the plan's job goes on with the first. False when
   * the run no longer wants them (cancelled or ended meanwhile).
   */
  planned(sentences: PhonemizedSentence[]): boolean {
    if (this.stateNow !== 'planning') return false;
    this.stateNow = 'running';
    this.sentences = sentences;
    this.nextToDispatch = 1;
    if (sentences.length === 0) this.finishIfComplete();
    return true;
  }

  /** Hands out its next sentence (the scheduler chose this run). */
  takeSentence(): { index: number; phonemeIds: number[] } {
    const sentences = this.sentences;
    if (this.stateNow !== 'running' || !sentences || this.nextToDispatch >= sentences.length) {
      throw new Error(`run ${this.id} has no sentence to hand out`);
    }
    const index = this.nextToDispatch++;
    return { index, phonemeIds: sentences[index].phonemeIds };
  }

  /** Its plan or a sentence it handed out was sent as job `jobId` to `workerPid`. */
  jobStarted(jobId: number, workerPid: number): void {
    this.running.set(jobId, workerPid);
  }

  /** Its job `jobId` (the plan's first sentence when `index` is 0, or sentence `index`) ended. */
  jobEnded(jobId: number, index: number, end: RunJobEnd): void {
    this.running.delete(jobId);
    if ('audio' in end) {
      this.sentenceCount += 1;
      this.lastWorkerPid = end.workerPid;
      const sentence = this.sentences?.[index];
      if (sentence && (this.stateNow === 'running' || this.stateNow === 'planning')) {
        this.audio.set(index, { index, ...sentence, ...end.audio });
        if (index === this.nextToYield) this.notify();
        this.finishIfComplete();
      }
    } else if (!this.settledOnce) {
      this.end('failed', end.outcome, end.error, end.workerPid);
    }
    if (this.stateNow === 'cancelled' && this.running.size === 0) this.settle('cancelled');
  }

  /**
   * The consumer stopped early (or its signal aborted): no more of its sentences are
   * handed out and its audio is dropped. False when it had ended already.
   */
  cancel(): boolean {
    if (this.stateNow === 'cancelled' || this.stateNow === 'done' || this.settledOnce) return false;
    this.stateNow = 'cancelled';
    this.audio.clear();
    this.notify();
    if (this.running.size === 0) this.settle('cancelled');
    return true;
  }

  /** Fails it at once (the pool stopped, a job could not be sent); its running jobs end on their own. */
  fail(outcome: Exclude<JobOutcome, 'done' | 'cancelled'>, error: Error, workerPid?: number): void {
    if (this.settledOnce) return;
    this.end('failed', outcome, error, workerPid);
  }

  /** The next sentence in order; undefined at the end or after cancel; throws how the request failed. */
  async next(): Promise<EngineSentence | undefined> {
    for (;;) {
      const sentence = this.audio.get(this.nextToYield);
      if (sentence) {
        this.audio.delete(this.nextToYield);
        this.nextToYield += 1;
        return sentence;
      }
      if (this.error) throw this.error;
      if (this.stateNow === 'cancelled') return undefined;
      if (this.sentences && this.nextToYield >= this.sentences.length) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private finishIfComplete(): void {
    if (this.sentences && this.sentenceCount >= this.sentences.length) {
      this.stateNow = 'done';
      this.settle('done');
    }
  }

  private end(
    state: 'failed' | 'timedOut',
    outcome: Exclude<JobOutcome, 'done' | 'cancelled'>,
    error: Error,
    workerPid?: number,
  ): void {
    this.stateNow = state;
    this.error = error;
    if (workerPid !== undefined) this.lastWorkerPid = workerPid;
    this.audio.clear();
    this.settle(outcome);
  }

  private settle(outcome: JobOutcome): void {
    if (this.settledOnce) return;
    this.settledOnce = true;
    clearTimeout(this.timer);
    this.notify();
    this.onSettled(this, {
      outcome,
      sentenceCount: this.sentenceCount,
      durationMs: this.startedAtMs === undefined ? 0 : performance.now() - this.startedAtMs,
      workerPid: this.lastWorkerPid,
    });
    this.releaseSlot();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** A run's sentences as one buffer; `startedAt`: when its plan was sent, if it was. */
export function wholeAudio(
  sentences: EngineSentence[],
  startedAt: number | undefined,
): EngineAudio {
  return {
    pcm: concatPcm(sentences.map((sentence) => sentence.pcm)),
    sampleRate: sentences[0]?.sampleRate ?? 0,
    sentenceCount: sentences.length,
    synthesisMs: startedAt === undefined ? 0 : performance.now() - startedAt,
  };
}
