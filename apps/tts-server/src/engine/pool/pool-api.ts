/**
 * The worker pool's options, the logger it writes to and the events its options
 * subscribe to (metrics, tests, tracing): types (and the options' check), so that
 * every part of the pool can name them without importing another part.
 */
import type { VoiceIdentity, VoicePaths } from '../piper-engine';

export interface EnginePoolLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export type JobOutcome = 'done' | 'cancelled' | 'error' | 'timeout' | 'crashed' | 'stopped';

/** A request (a synthesis, all its sentences, or a phonemize call) that ended. */
export interface SettledJob {
  kind: 'synthesize' | 'phonemize';
  /** The worker that ran its last job (for a crash or a timeout: the one that failed it). */
  workerPid: number;
  outcome: JobOutcome;
  /** Sentences synthesized for it, cancelled ones' stragglers included. */
  sentenceCount: number;
  /** From its first job's start on a worker to its end. */
  durationMs: number;
}

/** A job handed to a worker. */
export interface Dispatch {
  kind: 'plan' | 'sentence' | 'phonemize';
  /** Numbered in order of arrival at the pool, from 1. */
  requestId: number;
  /** The sentence's index in its request (sentences only). */
  sentenceIndex?: number;
  /** It runs on the worker's session with every core (`idleIntraOpThreads`). */
  wide?: boolean;
  /** Workers paused (their sentences preempted) while it runs; absent: none. */
  pausedWorkerPids?: number[];
  workerPid: number;
}

/** A worker released the sessions of voices (evicted or retired). */
export interface VoiceUnloaded {
  workerPid: number;
  voices: VoiceIdentity[];
  /** Sessions it released (a voice may have two in a worker). */
  sessions: number;
}

export interface EnginePoolOptions {
  workers: number;
  /** onnxruntime intra-op threads in each worker. */
  intraOpThreads: number;
  /**
   * Threads of a second session of each pinned voice in every worker, used for a
   * sentence that starts while every other worker is idle and nothing else waits (a
   * short request on an idle server), so it runs at the speed of one worker using
   * every core. 0 or absent: none. Costs the voice's memory once more per worker.
   */
  idleIntraOpThreads?: number;
  /**
   * A request's only sentence that would otherwise wait while every busy worker runs a
   * sentence of a request with more sentences waiting (a long text) runs on its
   * worker's all-cores session, and those workers are paused (SIGSTOP) until it ends
   * (SIGCONT): see dispatch-policy.ts `preemptionFor`. Needs `idleIntraOpThreads`; off on Windows, which
   * cannot pause a process.
   */
  preemption?: boolean;
  maxConcurrent: number;
  maxQueue: number;
  /** Longest a request may run, from its plan on a worker to its last sentence. */
  timeoutMs: number;
  /**
   * Pinned voices: every worker loads them before it takes requests (also given to
   * `start`, or later to `setPinnedVoices`), and they are never evicted.
   */
  preload?: VoicePaths[];
  /**
   * A worker whose resident memory passes this after a sentence is replaced by a fresh
   * one (WORKER_MAX_RSS_MB): onnxruntime keeps the buffers of the longest sentence a
   * session has spoken. 0 or absent: never. Not applied to a worker that starts above it.
   */
  maxWorkerRssBytes?: number;
  /** Distinct voices loaded at once in the whole pool (MAX_LOADED_VOICES); 0 or absent: no bound. */
  maxLoadedVoices?: number;
  /**
   * Estimated memory of every voice session in every worker (VOICE_MEMORY_MB), in
   * bytes; 0 or absent: no bound.
   */
  voiceMemoryBytes?: number;
  /** Memory of one session of a voice (tests); default: its file size times a measured factor. */
  estimateVoiceBytes?: (modelPath: string) => number;
  /** Called for each voice evicted to stay within the bounds (metrics). */
  onVoiceEvicted?: (voice: VoiceIdentity) => void;
  /** Called when a worker has released a voice's sessions (tests, tracing). */
  onVoiceUnloaded?: (unloaded: VoiceUnloaded) => void;
  logger?: EnginePoolLogger;
  /** Called when a request ends, however it ends (metrics, tests). */
  onJobSettled?: (job: SettledJob) => void;
  /** Called each time a job is handed to a worker (tests, tracing). */
  onDispatch?: (dispatch: Dispatch) => void;
}

/** Refuses options no pool can run with (a programming error, not user input). */
export function checkPoolOptions(options: EnginePoolOptions): void {
  if (!Number.isInteger(options.workers) || options.workers < 1) {
    throw new RangeError(`workers must be a positive integer, got ${options.workers}`);
  }
  if (!(options.timeoutMs > 0)) {
    throw new RangeError(`timeoutMs must be positive, got ${options.timeoutMs}`);
  }
}
