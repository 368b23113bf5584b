/**
 * Carries out the pool's decision to start work on an idle worker: a request's plan or
 * next sentence, or a phonemize call. It builds the job's message, asks the dispatch
 * policy how many threads it runs on and whom to pause, loads the voice on demand, and
 * turns the job's end into what its request or call needs (audio, sentences, an error).
 */
import { SynthesisTimeoutError } from '../engine.errors';
import type { PhonemizedSentence } from '../piper-engine';
import { threadsFor } from './dispatch-policy';
import {
  replyError,
  type JobEnd,
  type JobMessage,
  type JobRunner,
  type WorkerJob,
} from './job-runner';
import type { Dispatch, EnginePoolLogger, JobOutcome, SettledJob } from './pool-api';
import type { PoolRun, PoolSnapshot } from './pool-view';
import type { Preemption } from './preemption';
import type { RunJobEnd } from './synthesis-run';
import type { PooledVoice } from './voice-budget';
import type { VoiceLoader } from './voice-loader';
import type { PoolWorker, WorkerSupervisor } from './worker-supervisor';

/** A phonemize call waiting for, or running on, a worker. */
export interface PhonemizeCall {
  readonly id: number;
  readonly voice: PooledVoice<PoolWorker>;
  readonly message: JobMessage;
  readonly resolve: (sentences: PhonemizedSentence[]) => void;
  readonly reject: (error: Error) => void;
}

export interface JobStarterOptions {
  /** Longest a request (from its plan) or a phonemize call may run. */
  timeoutMs: number;
  logger: EnginePoolLogger;
  onDispatch?: (dispatch: Dispatch) => void;
  onJobSettled?: (job: SettledJob) => void;
  /** A snapshot of the pool as it is now, for the policy. */
  snapshot: () => PoolSnapshot;
  /** A plan came back: the request's other sentences may go to the other workers. */
  onPlanned: () => void;
}

export class JobStarter {
  constructor(
    private readonly jobs: JobRunner,
    private readonly loader: VoiceLoader,
    private readonly supervisor: WorkerSupervisor,
    private readonly preemption: Preemption,
    private readonly options: JobStarterOptions,
  ) {}

  /**
   * Starts the run's plan (a new request) or its next sentence on `worker`, on as many
   * threads as the policy says, pausing the workers it says. They are paused right
   * after the job is sent, not before: the job carries their pids so that its worker
   * resumes them should the pool die (a stopped process never sees its channel close).
   */
  startRunJob(run: PoolRun, worker: PoolWorker): void {
    const planning = run.state === 'queued';
    // The run takes its plan or sentence first: the policy must see it as taken.
    const sentence = planning ? undefined : run.takeSentence();
    if (planning) {
      run.planStarted(this.options.timeoutMs, () => this.timeOut(run));
    }
    const pool = this.options.snapshot();
    const workerView = pool.view.workers.find((view) => pool.workerOf(view) === worker);
    const { wide, pause } = workerView
      ? threadsFor(pool.view, workerView, pool.runView(run))
      : { wide: false, pause: undefined };
    const pausedWorkerPids = pause?.map((view) => view.pid);
    const index = sentence?.index ?? 0;
    this.options.onDispatch?.({
      kind: planning ? 'plan' : 'sentence',
      requestId: run.id,
      ...(planning ? {} : { sentenceIndex: index, wide }),
      workerPid: worker.pid,
      pausedWorkerPids,
    });
    const { modelPath, configPath, revision, options } = run.request;
    const message: JobMessage = sentence
      ? {
          type: 'sentence',
          sentence: {
            modelPath,
            configPath,
            revision,
            options,
            phonemeIds: sentence.phonemeIds,
            wide,
          },
          pausedPids: pausedWorkerPids,
        }
      : { type: 'plan', request: run.request, wide, pausedPids: pausedWorkerPids };
    const demand = this.loader.forJob(worker, run.voice);
    const job = this.jobs.start(
      worker,
      message,
      (end) => {
        demand.ended(end);
        run.jobEnded(job.id, index, runJobEnd(end, worker.pid));
      },
      { loads: demand.loads, runId: run.id },
    );
    run.jobStarted(job.id, worker.pid);
    if (pause)
      this.preemption.begin(
        job,
        pause.map((view) => pool.workerOf(view)),
      );
    if (planning) {
      job.onPlanned = (sentences) => this.planned(run, job, sentences, wide, pausedWorkerPids);
    }
  }

  startPhonemize(call: PhonemizeCall, worker: PoolWorker): void {
    const startedAt = performance.now();
    const { timeoutMs } = this.options;
    this.options.onDispatch?.({ kind: 'phonemize', requestId: call.id, workerPid: worker.pid });
    const demand = this.loader.forJob(worker, call.voice);
    const job = this.jobs.start(
      worker,
      call.message,
      (end) => {
        demand.ended(end);
        clearTimeout(timer);
        let outcome: JobOutcome = 'done';
        if ('error' in end) {
          outcome = end.outcome;
          call.reject(end.error);
        } else if (end.reply.type === 'phonemes') {
          call.resolve(end.reply.sentences);
        } else {
          outcome = 'error';
          call.reject(replyError(end.reply));
        }
        this.options.onJobSettled?.({
          kind: 'phonemize',
          workerPid: worker.pid,
          outcome,
          sentenceCount: 0,
          durationMs: performance.now() - startedAt,
        });
      },
      { loads: demand.loads },
    );
    const timer = setTimeout(() => {
      if (job.ended) return;
      this.options.logger.warn(
        `synthesis worker ${worker.pid}: phonemize ran past ${timeoutMs} ms; killing and replacing it`,
      );
      this.supervisor.killForTimeout(worker);
      this.jobs.end(job, { outcome: 'timeout', error: new SynthesisTimeoutError(timeoutMs) });
    }, timeoutMs);
  }

  /** The request ran past its time: it fails, and the workers running its jobs are killed and replaced. */
  private timeOut(run: PoolRun): void {
    const { timeoutMs, logger } = this.options;
    const pids = run.runningWorkerPids();
    const workers = this.supervisor.live().filter((worker) => pids.includes(worker.pid));
    logger.warn(
      `synthesis request ${run.id} ran past ${timeoutMs} ms` +
        (workers.length > 0 ? `; killing and replacing worker(s) ${pids.join(', ')}` : ''),
    );
    run.timeOut(new SynthesisTimeoutError(timeoutMs), pids[0]);
    for (const worker of workers) this.supervisor.killForTimeout(worker);
  }

  private planned(
    run: PoolRun,
    job: WorkerJob,
    sentences: PhonemizedSentence[],
    wide: boolean,
    pausedWorkerPids: number[] | undefined,
  ): void {
    // Only a lone sentence runs wide (the worker decides the same): the paused
    // sentences go on with the others.
    if (sentences.length > 1 && this.preemption.isPreempting(job)) this.preemption.end();
    if (!run.planned(sentences)) return;
    const lone = sentences.length === 1;
    this.options.onDispatch?.({
      kind: 'sentence',
      requestId: run.id,
      sentenceIndex: 0,
      workerPid: job.worker.pid,
      wide: wide && lone,
      pausedWorkerPids: lone ? pausedWorkerPids : undefined,
    });
    this.options.onPlanned();
  }
}

/** A job's end as its run sees it: the audio, or why there is none. */
function runJobEnd(end: JobEnd, workerPid: number): RunJobEnd {
  if ('error' in end) return { outcome: end.outcome, error: end.error, workerPid };
  if (end.reply.type === 'audio') {
    const { pcm, sampleRate, inferenceMs, speechSamples, phonemeIdSamples } = end.reply;
    return {
      audio: { pcm, sampleRate, inferenceMs, speechSamples, phonemeIdSamples },
      workerPid,
    };
  }
  return { outcome: 'error', error: replyError(end.reply), workerPid };
}
