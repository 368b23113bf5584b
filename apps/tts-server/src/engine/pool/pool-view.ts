/**
 * A snapshot of the pool for the dispatch policy: the live workers as WorkerViews, the
 * requests as RunViews, voices as VoiceViews, taken from the components that own them,
 * and the way back from a view to the worker, run or voice it stands for. Taken anew
 * for each decision: the policy never sees a half-changed pool.
 */
import type { EngineStats } from '../piper-engine';
import type { Admission } from './admission';
import type { PoolView, RunView, VoiceView, WorkerView } from './dispatch-policy';
import type { JobRunner } from './job-runner';
import type { Preemption } from './preemption';
import type { SynthesisRun } from './synthesis-run';
import type { VoiceLoader } from './voice-loader';
import type { PooledVoice, VoiceBudget } from './voice-budget';
import type { PoolWorker, WorkerSupervisor } from './worker-supervisor';

export type PoolRun = SynthesisRun<PooledVoice<PoolWorker>>;

export interface PoolSnapshot {
  readonly view: PoolView;
  voiceView(voice: PooledVoice<PoolWorker>): VoiceView;
  runView(run: PoolRun): RunView;
  workerOf(view: WorkerView): PoolWorker;
  voiceOf(view: VoiceView): PooledVoice<PoolWorker>;
}

export interface PoolParts {
  readonly workers: readonly PoolWorker[];
  readonly runs: Iterable<PoolRun>;
  readonly budget: VoiceBudget<PoolWorker>;
  readonly jobs: JobRunner;
  readonly loader: VoiceLoader;
  /** Voices of the phonemize calls waiting, first come first. */
  readonly waitingQuickJobs: readonly PooledVoice<PoolWorker>[];
  readonly queuedSentences: number;
  readonly preempting: boolean;
  readonly preemption: boolean;
}

/** starting: its first load has not ended; busy: a job, or being ended; idle: free for a job. */
export function workerState(worker: PoolWorker, jobs: JobRunner): WorkerView['state'] {
  if (worker.lifecycle === 'starting') return 'starting';
  return jobs.jobOf(worker) || !worker.available ? 'busy' : 'idle';
}

export function snapshot(parts: PoolParts): PoolSnapshot {
  const { budget, jobs, loader } = parts;
  const voices = new Map<PooledVoice<PoolWorker>, VoiceView>();
  const voicesByKey = new Map<string, PooledVoice<PoolWorker>>();
  const voiceView = (voice: PooledVoice<PoolWorker>): VoiceView => {
    let view = voices.get(voice);
    if (!view) {
      view = {
        key: voice.key,
        pinned: budget.isPinned(voice),
        placed: budget.isPlaced(voice),
        copyLoading: budget.isCopyLoading(voice),
        retired: voice.retired,
      };
      voices.set(voice, view);
      voicesByKey.set(voice.key, voice);
    }
    return view;
  };
  const runs = new Map<number, RunView>();
  const runView = (run: PoolRun): RunView => {
    let view = runs.get(run.id);
    if (!view) {
      view = {
        id: run.id,
        voice: voiceView(run.voice),
        pendingSentences: run.pendingSentences,
        sentencesInFlight: run.sentencesInFlight,
      };
      runs.set(run.id, view);
    }
    return view;
  };
  for (const run of parts.runs) runView(run);
  const workers = new Map<WorkerView, PoolWorker>();
  for (const worker of parts.workers) {
    const job = jobs.jobOf(worker);
    const sessions = budget.sessionKeysIn(worker);
    const jobRun = job?.runId === undefined ? undefined : runs.get(job.runId);
    workers.set(
      {
        pid: worker.pid,
        state: workerState(worker, jobs),
        job: job && { run: jobRun, preempted: job.preempted },
        loadsPending: loader.hasLoadsPending(worker),
        voices: sessions.narrow,
        wideVoices: sessions.wide,
        unpinnedBytes: budget.unpinnedBytesIn(worker),
      },
      worker,
    );
  }
  const view: PoolView = {
    workers: [...workers.keys()],
    runs: [...runs.values()],
    waitingQuickJobs: parts.waitingQuickJobs.map(voiceView),
    queuedSentences: parts.queuedSentences,
    preempting: parts.preempting,
    preemption: parts.preemption,
  };
  return {
    view,
    voiceView,
    runView,
    workerOf: (worker) => {
      const found = workers.get(worker);
      if (!found) throw new Error(`worker ${worker.pid} is not in this snapshot`);
      return found;
    },
    voiceOf: (voice) => {
      const found = voicesByKey.get(voice.key);
      if (!found) throw new Error(`voice ${voice.key} is not in this snapshot`);
      return found;
    },
  };
}

/** The pool's numbers for /health/detailed and /metrics. */
export function poolStats(parts: {
  workers: number;
  admission: Admission;
  supervisor: WorkerSupervisor;
  budget: VoiceBudget<PoolWorker>;
  jobs: JobRunner;
  loader: VoiceLoader;
  preemption: Preemption;
}): EngineStats {
  const { supervisor, budget, jobs, loader } = parts;
  const live = supervisor.live();
  const states = live.map((worker) => workerState(worker, jobs));
  return {
    workers: parts.workers,
    readyWorkers: live.filter((worker) => loader.isReady(worker)).length,
    busyWorkers: states.filter((state) => state === 'busy').length,
    idleWorkers: states.filter((state) => state === 'idle').length,
    replacedWorkers: supervisor.replacedWorkers,
    preemptions: parts.preemption.count,
    memoryReplacedWorkers: supervisor.memoryReplacedWorkers,
    loadedVoices: budget.loadedVoiceCopies(),
    loadedVoiceDetails: budget.details(),
    estimatedVoiceBytes: budget.estimatedBytes(),
    voiceEvictions: budget.evictions,
    maxLoadedVoices: budget.maxLoadedVoices,
    voiceMemoryBytes: budget.memoryBytes,
    ...parts.admission.counts,
  };
}
