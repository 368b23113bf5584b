/**
 * Messages between EnginePool (parent) and synth-worker (child). They cross the IPC
 * channel with `serialization: 'advanced'` (V8's structured clone), so a sentence's
 * Int16Array PCM travels as binary: about 4 ms for 3.3 s of audio against about 50 ms
 * as JSON (docs/PIPER.md §8).
 *
 * The pool schedules sentences, not requests (see pool/sentence-scheduler.ts): a request is
 * first planned by one worker (`plan`: options checked, text phonemized and cut into
 * the sentences Piper speaks), then each sentence is a job of its own (`sentence`) on
 * whichever worker is idle (the first one in the plan's own job). Every job message
 * carries a `jobId` chosen by the parent; every reply carries it back. A worker runs
 * one job at a time and ends each with exactly one of `done`, `phonemes`, `audio` or
 * `error`; a plan sends `planned` before its `audio`. `unload` is not a job: it has no
 * `jobId`, may be sent to a busy worker (it runs after the job in progress, in order
 * with every other message) and is answered by `unloaded`, which ends nothing.
 */
import type {
  EngineSynthesisOptions,
  EngineSynthesisRequest,
  PhonemizedSentence,
  VoiceIdentity,
  VoicePaths,
} from './piper-engine';

export type { VoiceIdentity, VoicePaths } from './piper-engine';

/** A voice to load ahead of requests; `wide`: its all-cores session too, if the worker has one. */
export interface PreloadVoice extends VoicePaths {
  wide: boolean;
}

/** One sentence of a planned request, to be synthesized on any worker. */
export interface SentenceJob {
  modelPath: string;
  configPath: string;
  revision?: string;
  options: EngineSynthesisOptions;
  phonemeIds: number[];
  /**
   * Run it on the worker's session with every core (see EnginePoolOptions
   * `idleIntraOpThreads`): the pool is otherwise idle. Only for a pinned voice.
   */
  wide: boolean;
}

/** Parent → worker. */
export type WorkerRequest =
  /**
   * Load these voices now: a fresh worker's pinned voices before it takes requests, a
   * voice pinned later, a PRELOAD_VOICES voice, or a second copy of a busy voice.
   */
  | { type: 'preload'; jobId: number; voices: PreloadVoice[] }
  /**
   * Release every session of these voices (all thread counts). The pool sends it only
   * for a voice no request uses, so nothing in this worker's queue still needs it; a
   * later job of the voice loads it again.
   */
  | { type: 'unload'; voices: VoiceIdentity[] }
  /**
   * Check the options and cut the text into sentences exactly as PiperVoice.synthesize
   * does, reply `planned`, then synthesize the first sentence (`audio`) in the same job:
   * it is next in order anyway, and this saves it a second wait for a worker. `wide`:
   * the pool is otherwise idle, so a text of one sentence may use the wide session.
   */
  | {
      type: 'plan';
      jobId: number;
      request: EngineSynthesisRequest;
      wide: boolean;
      pausedPids?: number[];
    }
  /**
   * `pausedPids` (plan and sentence): the workers the pool paused (SIGSTOP) while this
   * job runs wide. Should the pool die meanwhile, this worker, the only one running,
   * resumes them as it exits, so that they see their channel close and exit too
   * instead of staying stopped without a parent.
   */
  | { type: 'sentence'; jobId: number; sentence: SentenceJob; pausedPids?: number[] }
  | {
      type: 'phonemize';
      jobId: number;
      modelPath: string;
      configPath: string;
      revision?: string;
      text: string;
    };

/** An engine error reduced to what crosses a process boundary. */
export interface ReportedError {
  /** Error class name in the worker, e.g. "SpeakerNotFoundError". */
  name: string;
  /** PiperError code, or INTERNAL_ERROR for anything else. */
  code: string;
  message: string;
}

/** A voice of a preload that did not load (the others did). */
export interface PreloadFailure {
  voice: VoiceIdentity;
  error: ReportedError;
}

/** Code of a worker-side error that is not a PiperError (a bug, not user input). */
export const INTERNAL_ERROR_CODE = 'INTERNAL_ERROR';

/** Code of a voice load that found the voice's files gone (removed while the server ran). */
export const VOICE_FILES_MISSING_CODE = 'VOICE_FILES_MISSING';

/** Worker → parent. */
export type WorkerReply =
  /** Sent once, when the worker listens for requests. */
  | { type: 'ready' }
  /** A warning from the engine (e.g. phonemes missing from a voice's map). */
  | { type: 'warning'; message: string }
  /**
   * End of a preload: every voice was tried; those that failed to load are listed.
   * `rssBytes`: the worker's resident memory then (its size with these voices).
   */
  | { type: 'done'; jobId: number; failures: PreloadFailure[]; rssBytes: number }
  /** An `unload` ran: how many sessions it released (0: none was loaded). */
  | { type: 'unloaded'; voices: VoiceIdentity[]; sessions: number }
  /** A request's sentences, in the order they are spoken (a plan job goes on with the first). */
  | { type: 'planned'; jobId: number; sentences: PhonemizedSentence[] }
  /**
   * One sentence's audio: speech then the sentence silence, mono 16-bit. `rssBytes`:
   * the worker's resident memory after it (see WORKER_MAX_RSS_MB).
   */
  | {
      type: 'audio';
      jobId: number;
      pcm: Int16Array;
      sampleRate: number;
      inferenceMs: number;
      /** Samples of speech in `pcm`, before the sentence silence. */
      speechSamples: number;
      /** With `options.timestamps`: the network's samples per phoneme id. */
      phonemeIdSamples?: number[];
      rssBytes: number;
    }
  | { type: 'phonemes'; jobId: number; sentences: PhonemizedSentence[] }
  | { type: 'error'; jobId: number; error: ReportedError };
