/**
 * What the rest of the server needs from the engine. The provider behind this token
 * runs @app/piper in long-lived worker subprocesses under a concurrency limiter
 * (EnginePool); controllers and services depend only on this contract.
 */
import type { SynthesisOptions } from '@app/piper';

export type EngineSynthesisOptions = Omit<SynthesisOptions, 'signal'>;

export interface EngineSynthesisRequest {
  /** Absolute path of `<voice>.onnx`, from the voice registry only. */
  modelPath: string;
  /** Absolute path of its `.onnx.json`. */
  configPath: string;
  text: string;
  options: EngineSynthesisOptions;
}

export interface EngineSentence {
  index: number;
  phonemes: string[];
  phonemeIds: number[];
  /** Speech then sentence silence, mono 16-bit. */
  pcm: Int16Array;
  sampleRate: number;
  inferenceMs: number;
}

export interface EngineAudio {
  pcm: Int16Array;
  sampleRate: number;
  sentenceCount: number;
  /** Wall time from the start on a worker to the last sample. */
  synthesisMs: number;
}

export interface PhonemizedSentence {
  phonemes: string[];
  phonemeIds: number[];
}

export interface EngineStats {
  workers: number;
  /** Workers that are started and have the preloaded voices loaded. */
  readyWorkers: number;
  /** Running a job or handed to a request. */
  busyWorkers: number;
  /** Started and waiting for work. */
  idleWorkers: number;
  /** Workers started to replace one that died or was killed, since the start. */
  replacedWorkers: number;
  /** Voice instances held by the workers (a voice loaded in two workers counts twice). */
  loadedVoices: number;
  activeRequests: number;
  queuedRequests: number;
  maxConcurrentRequests: number;
  maxQueue: number;
}

export abstract class PiperEngine {
  /** Sentence by sentence; stops (and frees the worker) when `signal` aborts. */
  abstract synthesize(
    request: EngineSynthesisRequest,
    signal?: AbortSignal,
  ): AsyncIterable<EngineSentence>;

  /** The whole text as one PCM buffer. */
  abstract synthesizeAll(
    request: EngineSynthesisRequest,
    signal?: AbortSignal,
  ): Promise<EngineAudio>;

  abstract phonemize(
    modelPath: string,
    configPath: string,
    text: string,
  ): Promise<PhonemizedSentence[]>;

  /**
   * True once every worker is up and has the preloaded voices loaded, until shutdown;
   * a worker being replaced after a crash or timeout does not flip it while another
   * worker is ready.
   */
  abstract isReady(): boolean;

  abstract stats(): EngineStats;
}
