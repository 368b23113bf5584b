/**
 * Where and how the pool's next job runs: pure functions over a read-only view of the
 * workers and the requests, returning a decision that EnginePool carries out. No
 * processes, no timers, no state of their own, so every rule is specified with plain
 * objects (dispatch-policy.spec.ts). The round robin across requests (which request's
 * sentence comes next) is SentenceScheduler's; this file decides where it runs, on how
 * many threads, whom to pause for it, and which voices deserve another copy.
 *
 * Where voices are loaded (docs/ARCHITECTURE.md, "Voices in the pool"). The pinned voice
 * (the default one) is in every worker, with its all-cores session. Any other voice is
 * in one worker, loaded by the first job that needs it on the idle worker holding the
 * least of such voices. A job of that voice goes to an idle worker that has it; when
 * every worker that has it is busy it waits for one rather than load the voice again
 * (a load costs ~2 s, a sentence ~0.2 s: docs/PIPER.md §8), and the round robin goes on
 * with the requests that can run.
 */

/**
 * Sentences of a voice that must wait for a busy worker before another copy of it is
 * loaded on an idle one. Fewer is a request streaming on the worker that has its voice
 * (its next sentence waits for the one running, and one or two more queue behind when
 * it arrives): under light traffic that must not load the voice twice, and waiting
 * costs one sentence (~0.2 s) where a load costs ~2 s. Four waiting sentences are about
 * a second of that worker's work still ahead, and more keep coming with a burst: the
 * copy, loaded as a job of its own on a worker that is idle anyway, delays none of them
 * and takes the burst's next sentences from then on.
 */
export const SECOND_COPY_WAITING_SENTENCES = 4;

/**
 * Sentences of a request still waiting for a worker, at least, for its running ones to
 * be paused for another request's only sentence (see `preemptionFor`): a text with
 * this much work ahead is a long one, and one short sentence more hardly delays it.
 */
export const PREEMPTIBLE_WAITING_SENTENCES = 2;

/** A voice as the policy sees it. */
export interface VoiceView {
  readonly key: string;
  /** Loaded in every worker and never evicted (the default voice). */
  readonly pinned: boolean;
  /** Some worker has a session of it, or a load of it is on its way. */
  readonly placed: boolean;
  /** A load of its own (a preload, a second copy) is on its way to some worker. */
  readonly copyLoading: boolean;
  /** Its files were removed or replaced: it gets no new copy. */
  readonly retired: boolean;
}

/** A request holding a slot and not settled. */
export interface RunView {
  readonly id: number;
  readonly voice: VoiceView;
  /** Sentences not yet handed to a worker (its plan counts as one until it starts). */
  readonly pendingSentences: number;
  /** Its jobs running on workers now. */
  readonly sentencesInFlight: number;
}

/** The job a busy worker runs. */
export interface JobView {
  /** The request it plans or speaks a sentence of; absent for loads and phonemize calls. */
  readonly run?: RunView;
  /** It has been paused once for a preempting sentence. */
  readonly preempted: boolean;
}

/** A live worker. `starting`: its first load of the pinned voices has not ended. */
export interface WorkerView {
  readonly pid: number;
  readonly state: 'starting' | 'idle' | 'busy';
  readonly job?: JobView;
  /** Pinned voices it misses, or PRELOAD_VOICES voices queued for it. */
  readonly loadsPending: boolean;
  /** Keys of the voices it has a one-core session of. */
  readonly voices: ReadonlySet<string>;
  /** Keys of the voices it has an all-cores session of. */
  readonly wideVoices: ReadonlySet<string>;
  /** Estimated bytes of its sessions of voices other than the pinned ones. */
  readonly unpinnedBytes: number;
}

export interface PoolView {
  readonly workers: readonly WorkerView[];
  readonly runs: readonly RunView[];
  /** The voices of the phonemize calls waiting for a worker, first come first. */
  readonly waitingQuickJobs: readonly VoiceView[];
  /** Sentences waiting for a worker, over every request. */
  readonly queuedSentences: number;
  /** A preempting sentence runs now (the other workers are paused). */
  readonly preempting: boolean;
  /** Preemption is on (and the platform can pause a process). */
  readonly preemption: boolean;
}

/** How a request's plan or sentence runs on the worker it was placed on. */
export interface ThreadChoice {
  /** On the worker's all-cores session. */
  wide: boolean;
  /** Workers to pause until it ends (preemption); absent: none. */
  pause?: WorkerView[];
}

/** Another copy of a voice to load on an idle worker, for the sentences waiting for it. */
export interface CopyDecision {
  voice: VoiceView;
  worker: WorkerView;
  waitingSentences: number;
}

export function idleWorkers(view: PoolView): WorkerView[] {
  return view.workers.filter((worker) => worker.state === 'idle');
}

/** Pinned voices first (readiness), then PRELOAD_VOICES, before any request: the idle worker with loads to do. */
export function workerToLoad(view: PoolView): WorkerView | undefined {
  return idleWorkers(view).find((worker) => worker.loadsPending);
}

/**
 * The idle worker a job of this voice runs on, or undefined if it must wait: an idle
 * worker that has the voice; for a pinned voice, any (every worker has it or is about
 * to); for another voice that some worker has or loads, none (it waits for that worker
 * rather than load the voice again, see SECOND_COPY_WAITING_SENTENCES); for a voice no
 * worker has, the idle worker holding the least of the voices other than the pinned
 * ones, so the loaded voices spread over the workers.
 */
export function placement(view: PoolView, voice: VoiceView): WorkerView | undefined {
  const idle = idleWorkers(view);
  const holder = idle.find((worker) => worker.voices.has(voice.key));
  if (holder) return holder;
  if (voice.pinned) return idle[0];
  if (voice.placed) return undefined;
  return leastLoaded(idle);
}

/** The worker holding the least of the voices other than the pinned ones (the first of equals). */
export function leastLoaded(workers: readonly WorkerView[]): WorkerView | undefined {
  let best: WorkerView | undefined;
  for (const worker of workers) {
    if (!best || worker.unpinnedBytes < best.unpinnedBytes) best = worker;
  }
  return best;
}

/**
 * Whether a request's plan or sentence about to start on `worker` runs on its
 * all-cores session: when the rest of the pool is idle and nothing waits (a sentence
 * started now would otherwise leave cores idle), or when it may preempt, and then which
 * workers to pause.
 */
export function threadsFor(view: PoolView, worker: WorkerView, run: RunView): ThreadChoice {
  if (!worker.wideVoices.has(run.voice.key)) return { wide: false };
  if (aloneOnPool(view, worker)) return { wide: true };
  const pause = preemptionFor(view, worker, run);
  return pause ? { wide: true, pause } : { wide: false };
}

/** No other worker is busy and nothing waits. */
export function aloneOnPool(view: PoolView, worker: WorkerView): boolean {
  return (
    view.queuedSentences === 0 &&
    view.waitingQuickJobs.length === 0 &&
    view.workers.every((other) => other === worker || other.state !== 'busy')
  );
}

/**
 * The busy workers to pause so that this request's only sentence runs on every core,
 * or undefined if it must not. It may when the request has nothing else running or
 * waiting, nothing waits but the sentences of the requests it pauses, and every other
 * busy worker speaks a sentence of a long text (PREEMPTIBLE_WAITING_SENTENCES or more
 * of its sentences still waiting) that has not been paused before. The long text
 * loses the time of one short sentence (~0.2 s) per sentence at most, and not a byte
 * of its audio (a paused process resumes where it stopped); the short request waits
 * for one worker to free up, at most one sentence, and then runs at the speed of an
 * idle server instead of narrow beside a long sentence. Under load (other requests
 * waiting) nothing is paused: a wide run costs more core time than a narrow one. A
 * plan is paused for too; when its text turns out to have more sentences, the others
 * resume at once.
 */
export function preemptionFor(
  view: PoolView,
  worker: WorkerView,
  run: RunView,
): WorkerView[] | undefined {
  if (!view.preemption || view.preempting || view.waitingQuickJobs.length > 0) return undefined;
  if (run.sentencesInFlight > 0 || run.pendingSentences > 0) return undefined;
  const paused: WorkerView[] = [];
  const preempted = new Set<number>();
  for (const other of view.workers) {
    if (other === worker || other.state === 'idle') continue;
    const job = other.job;
    // A plan counts once it is planned: it speaks the text's first sentence.
    if (other.state !== 'busy' || !job?.run || job.preempted) return undefined;
    if (job.run.id === run.id || job.run.pendingSentences < PREEMPTIBLE_WAITING_SENTENCES) {
      return undefined;
    }
    paused.push(other);
    preempted.add(job.run.id);
  }
  if (paused.length === 0) return undefined;
  for (const other of view.runs) {
    if (other.id !== run.id && other.pendingSentences > 0 && !preempted.has(other.id)) {
      return undefined;
    }
  }
  return paused;
}

/**
 * Nothing waiting can run on the idle workers: each voice with at least
 * SECOND_COPY_WAITING_SENTENCES sentences (a phonemize call counts as one) waiting for
 * its busy worker(s) gets another copy on an idle worker that lacks it, unless it is
 * pinned, retired or already loading a copy, and only if `fits` says it fits the
 * bounds without evicting anything: a copy for a burst is worth less than a voice
 * someone else will ask for. Each idle worker takes one copy at most.
 */
export function secondCopies(view: PoolView, fits: (voice: VoiceView) => boolean): CopyDecision[] {
  const waiting = new Map<string, { voice: VoiceView; count: number }>();
  const add = (voice: VoiceView, count: number): void => {
    if (count <= 0) return;
    const entry = waiting.get(voice.key) ?? { voice, count: 0 };
    entry.count += count;
    waiting.set(voice.key, entry);
  };
  for (const run of view.runs) add(run.voice, run.pendingSentences);
  for (const voice of view.waitingQuickJobs) add(voice, 1);
  const free = idleWorkers(view);
  const decisions: CopyDecision[] = [];
  for (const { voice, count } of waiting.values()) {
    if (count < SECOND_COPY_WAITING_SENTENCES || voice.copyLoading) continue;
    if (voice.pinned || voice.retired) continue;
    const worker = leastLoaded(free.filter((candidate) => !candidate.voices.has(voice.key)));
    if (!worker || !fits(voice)) continue;
    free.splice(free.indexOf(worker), 1);
    decisions.push({ voice, worker, waitingSentences: count });
  }
  return decisions;
}
