/**
 * The worker pool's parts, wired together by EnginePool (../engine-pool.ts). Each owns
 * its state and reports upward by events or return values; docs/ARCHITECTURE.md shows
 * how a request passes through them.
 */
export { Admission, MAX_RETRY_AFTER_SECONDS, heldSlot } from './admission';
export { assemblePool, type AssembledPool, type PoolLoop } from './assemble-pool';
export { ConcurrencyLimiter, type ReleaseSlot } from './concurrency-limiter';
export { DrainHolds } from './drain-holds';
export {
  PREEMPTIBLE_WAITING_SENTENCES,
  SECOND_COPY_WAITING_SENTENCES,
  aloneOnPool,
  idleWorkers,
  leastLoaded,
  placement,
  preemptionFor,
  secondCopies,
  threadsFor,
  workerToLoad,
  type CopyDecision,
  type JobView,
  type PoolView,
  type RunView,
  type ThreadChoice,
  type VoiceView,
  type WorkerView,
} from './dispatch-policy';
export {
  JobRunner,
  replyError,
  type JobEnd,
  type JobMessage,
  type JobReply,
  type WorkerJob,
} from './job-runner';
export { JobStarter, type PhonemizeCall } from './job-starter';
export {
  checkPoolOptions,
  type Dispatch,
  type EnginePoolLogger,
  type EnginePoolOptions,
  type JobOutcome,
  type SettledJob,
  type VoiceUnloaded,
} from './pool-api';
export { poolStats, snapshot, workerState, type PoolRun, type PoolSnapshot } from './pool-view';
export { Preemption } from './preemption';
export { SentenceScheduler, type SchedulableRequest } from './sentence-scheduler';
export {
  SynthesisRun,
  wholeAudio,
  type RunJobEnd,
  type RunSettled,
  type RunState,
} from './synthesis-run';
export {
  PooledVoice,
  VoiceBudget,
  estimateSessionBytes,
  SESSION_BYTES_PER_MODEL_BYTE,
} from './voice-budget';
export { VoiceLoader } from './voice-loader';
export { PoolWorker, WorkerSupervisor } from './worker-supervisor';
