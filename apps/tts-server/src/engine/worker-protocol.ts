/**
 * Messages between EnginePool (parent) and synth-worker (child). They cross the IPC
 * channel with `serialization: 'advanced'` (V8's structured clone), so a sentence's
 * Int16Array PCM travels as binary: about 4 ms for 3.3 s of audio against about 50 ms
 * as JSON (../shared/PIPER_CONTRACT.md §8).
 *
 * The pool schedules sentences, not requests (see sentence-scheduler.ts): a request is
 * first planned by one worker (`plan`: options checked, text phonemized and cut into
 * the sentences Piper speaks), then each sentence is a job of its own (`sentence`) on
 * whichever worker is idle (the first one in the plan's own job). Every job message
 * carries a `jobId` chosen by the parent; every reply carries it back. A worker runs
 * one job at a time and ends each with exactly one of `done`, `phonemes`, `audio` or
 * `error`; a plan sends `planned` before its `audio`.
 */
import type {
  EngineSynthesisOptions,
  EngineSynthesisRequest,
  PhonemizedSentence,
} from './piper-engine';

/** A voice as the registry knows it: the network and its config. */
export interface VoicePaths {
  modelPath: string;
  configPath: string;
}

/** One sentence of a planned request, to be synthesized on any worker. */
export interface SentenceJob {
  modelPath: string;
  configPath: string;
  options: EngineSynthesisOptions;
  phonemeIds: number[];
  /**
   * Run it on the worker's session with every core (see EnginePoolOptions
   * `idleIntraOpThreads`): the pool is otherwise idle. Only for a preloaded voice.
   */
  wide: boolean;
}

/** Parent → worker. */
export type WorkerRequest =
  /** Load these voices now (a fresh worker, before it takes requests). */
  | { type: 'preload'; jobId: number; voices: VoicePaths[] }
  /**
   * Check the options and cut the text into sentences exactly as PiperVoice.synthesize
   * does, reply `planned`, then synthesize the first sentence (`audio`) in the same job:
   * it is next in order anyway, and this saves it a second wait for a worker. `wide`:
   * the pool is otherwise idle, so a text of one sentence may use the wide session.
   */
  | { type: 'plan'; jobId: number; request: EngineSynthesisRequest; wide: boolean }
  | { type: 'sentence'; jobId: number; sentence: SentenceJob }
  | { type: 'phonemize'; jobId: number; modelPath: string; configPath: string; text: string };

/** An engine error reduced to what crosses a process boundary. */
export interface ReportedError {
  /** Error class name in the worker, e.g. "SpeakerNotFoundError". */
  name: string;
  /** PiperError code, or INTERNAL_ERROR for anything else. */
  code: string;
  message: string;
}

/** Code of a worker-side error that is not a PiperError (a bug, not user input). */
export const INTERNAL_ERROR_CODE = 'INTERNAL_ERROR';

/** Worker → parent. */
export type WorkerReply =
  /** Sent once, when the worker listens for requests. */
  | { type: 'ready' }
  /** A warning from the engine (e.g. phonemes missing from a voice's map). */
  | { type: 'warning'; message: string }
  /** End of a preload. */
  | { type: 'done'; jobId: number }
  /** A request's sentences, in the order they are spoken (a plan job goes on with the first). */
  | { type: 'planned'; jobId: number; sentences: PhonemizedSentence[] }
  /** One sentence's audio: speech then the sentence silence, mono 16-bit. */
  | { type: 'audio'; jobId: number; pcm: Int16Array; sampleRate: number; inferenceMs: number }
  | { type: 'phonemes'; jobId: number; sentences: PhonemizedSentence[] }
  | { type: 'error'; jobId: number; error: ReportedError };
