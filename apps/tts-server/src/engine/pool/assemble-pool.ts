/**
 * Builds the pool's parts and connects what each reports to the part that acts on it:
 * a worker's replies go to the job runner, its exit to the budget, the loader and the
 * runner; a job's end resumes a preemption, checks the worker's memory and lets the
 * pool dispatch again; a worker's first load tells the supervisor it serves. Read this
 * file to see who tells whom.
 */
import { JobRunner } from './job-runner';
import { JobStarter } from './job-starter';
import type { EnginePoolLogger, EnginePoolOptions } from './pool-api';
import type { PoolSnapshot } from './pool-view';
import { Preemption } from './preemption';
import { VoiceBudget } from './voice-budget';
import { VoiceLoader } from './voice-loader';
import { WorkerSupervisor, type PoolWorker } from './worker-supervisor';

export interface AssembledPool {
  supervisor: WorkerSupervisor;
  budget: VoiceBudget<PoolWorker>;
  jobs: JobRunner;
  loader: VoiceLoader;
  preemption: Preemption;
  starter: JobStarter;
}

export interface PoolLoop {
  /** Hands waiting work to idle workers. */
  dispatch(): void;
  /** The pool as it is now, for the policy. */
  snapshot(): PoolSnapshot;
}

export function assemblePool(
  options: EnginePoolOptions,
  logger: EnginePoolLogger,
  loop: PoolLoop,
): AssembledPool {
  const supervisor: WorkerSupervisor = new WorkerSupervisor(
    {
      intraOpThreads: options.intraOpThreads,
      idleIntraOpThreads: options.idleIntraOpThreads ?? 0,
      maxWorkerRssBytes: options.maxWorkerRssBytes ?? 0,
      logger,
    },
    {
      listening: (worker) => loader.startNextLoad(worker, true),
      reply: (worker, reply) => {
        if (reply.type === 'unloaded') {
          const { voices, sessions } = reply;
          options.onVoiceUnloaded?.({ workerPid: worker.pid, voices, sessions });
        } else if (reply.type === 'warning') {
          logger.warn(`synthesis worker ${worker.pid}: ${reply.message}`);
        } else {
          jobs.onReply(worker, reply);
        }
      },
      exited: (worker, error) => {
        budget.dropWorker(worker);
        loader.forget(worker);
        jobs.fail(worker, { outcome: 'crashed', error });
      },
    },
  );
  const budget = new VoiceBudget<PoolWorker>({
    maxLoadedVoices: options.maxLoadedVoices ?? 0,
    memoryBytes: options.voiceMemoryBytes ?? 0,
    estimateBytes: options.estimateVoiceBytes,
    logger,
    onEvict: options.onVoiceEvicted,
    unload: (worker, voices) => supervisor.send(worker, { type: 'unload', voices }),
  });
  budget.pin(options.preload ?? []);
  const jobs: JobRunner = new JobRunner(supervisor, budget, {
    ending: (job, end) => {
      if (preemption.isPreempting(job)) preemption.end();
      if ('reply' in end && end.reply.type === 'audio') {
        supervisor.replaceIfOutgrown(job.worker, end.reply.rssBytes);
      }
    },
    ended: () => loop.dispatch(),
  });
  const loader = new VoiceLoader(
    budget,
    jobs,
    { wide: (options.idleIntraOpThreads ?? 0) > 0, logger },
    { startupEnded: (worker, result) => supervisor.startupEnded(worker, result) },
  );
  const preemption = new Preemption(supervisor, jobs);
  const starter = new JobStarter(jobs, loader, supervisor, preemption, {
    timeoutMs: options.timeoutMs,
    logger,
    onDispatch: options.onDispatch,
    onJobSettled: options.onJobSettled,
    snapshot: () => loop.snapshot(),
    onPlanned: () => loop.dispatch(),
  });
  return { supervisor, budget, jobs, loader, preemption, starter };
}
