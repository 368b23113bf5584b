/**
 * Messages between EnginePool (parent) and synth-worker (child). They cross the IPC
 * channel with `serialization: 'advanced'` (V8's structured clone), so a sentence's
 * Int16Array PCM travels as binary: about 4 ms for 3.3 s of audio against about 50 ms
 * as JSON (../shared/PIPER_CONTRACT.md §8).
 *
 * Every job message carries a `jobId` chosen by the parent; every reply to a job
 * carries it back. A worker runs one job at a time and ends each with exactly one of
 * `done`, `phonemes` or `error`.
 */
import type { EngineSentence, EngineSynthesisRequest, PhonemizedSentence } from './piper-engine';

/** A voice as the registry knows it: the network and its config. */
export interface VoicePaths {
  modelPath: string;
  configPath: string;
}

/** Parent → worker. */
export type WorkerRequest =
  /** Load these voices now (a fresh worker, before it takes requests). */
  | { type: 'preload'; jobId: number; voices: VoicePaths[] }
  | { type: 'synthesize'; jobId: number; request: EngineSynthesisRequest }
  | { type: 'phonemize'; jobId: number; modelPath: string; configPath: string; text: string }
  /** Stop the job between sentences; the worker still ends it with `done`. */
  | { type: 'cancel'; jobId: number };

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
  | { type: 'sentence'; jobId: number; sentence: EngineSentence }
  /** End of a preload or synthesis; `sentenceCount` sentences were synthesized. */
  | { type: 'done'; jobId: number; sentenceCount: number; cancelled: boolean }
  | { type: 'phonemes'; jobId: number; sentences: PhonemizedSentence[] }
  | { type: 'error'; jobId: number; error: ReportedError };
