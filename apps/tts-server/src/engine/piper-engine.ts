/**
 * What the rest of the server needs from the engine. The provider behind this token
 * runs @app/piper in long-lived worker subprocesses under a concurrency limiter
 * (EnginePool); controllers and services depend only on this contract.
 */
import type { SentenceWords, SynthesisOptions } from '@app/piper';

/** A voice as the registry knows it: the network and its config. */
export interface VoicePaths {
  modelPath: string;
  configPath: string;
  /**
   * Opaque version of the files (the registry's, e.g. their mtimes and sizes). A voice
   * is its model path and revision: a request of a new revision never runs on a session
   * loaded from the files it replaced. Absent: one unnamed revision.
   */
  revision?: string;
}

/** Which loaded voice: its model path and revision (every session of it, whatever its threads). */
export interface VoiceIdentity {
  modelPath: string;
  revision?: string;
}

export type EngineSynthesisOptions = Omit<SynthesisOptions, 'signal'>;

export interface EngineSynthesisRequest {
  /** Absolute path of `<voice>.onnx`, from the voice registry only. */
  modelPath: string;
  /** Absolute path of its `.onnx.json`. */
  configPath: string;
  /** Version of the files (VoicePaths.revision): a new one never runs on an old session. */
  revision?: string;
  text: string;
  options: EngineSynthesisOptions;
  /**
   * Work accepted before shutdown began that this request belongs to (PiperEngine.holdDrain):
   * admitted while the engine drains. Never crosses to a worker.
   */
  drainHold?: DrainHold;
}

/**
 * Work accepted before a shutdown that will ask the engine for more later: a Wyoming
 * stream's next sentences, a connection's synthesize queued behind another. While it is
 * held, a drain admits the requests that carry it and waits for it to be released
 * (within SHUTDOWN_TIMEOUT_MS) before it waits for the requests in flight.
 */
export interface DrainHold {
  /** Ends the hold; calling it again does nothing. */
  release(): void;
}

export interface EngineSentence {
  index: number;
  phonemes: string[];
  phonemeIds: number[];
  /** Speech then sentence silence, mono 16-bit. */
  pcm: Int16Array;
  sampleRate: number;
  inferenceMs: number;
  /** Samples of speech at the start of `pcm` (the rest is the sentence silence). */
  speechSamples: number;
  /** With `options.timestamps`: the network's samples per id (PiperVoice.speakSentence). */
  phonemeIdSamples?: number[];
  /** With `options.timestamps`: the sentence's words, from the plan. */
  words?: SentenceWords;
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
  /** A plan with `options.timestamps`: the words of the text this sentence speaks. */
  words?: SentenceWords;
}

/** A voice loaded in the workers (stats, /health/detailed). */
export interface LoadedVoiceDetail {
  modelPath: string;
  /** VoicePaths.revision it was loaded with (absent when none was given). */
  revision?: string;
  /** Workers holding a session of it. */
  workers: number;
  /** Its sessions over every worker, all-cores ones included, loading ones too. */
  sessions: number;
  /** Of those, sessions still loading: sent to their worker, which has not finished. */
  loadingSessions: number;
  /** Estimated memory of those sessions (file size times a measured factor). */
  estimatedBytes: number;
  /** The default voice: loaded in every worker, never evicted. */
  pinned: boolean;
  /** Requests using it now (it is not evicted while any does). */
  activeRequests: number;
  /** Last request on it (or its load), epoch ms. */
  lastUsed: number;
}

export interface EngineStats {
  workers: number;
  /** Workers that are started and have the pinned voices loaded. */
  readyWorkers: number;
  /** Running a job or handed to a request. */
  busyWorkers: number;
  /** Started and waiting for work. */
  idleWorkers: number;
  /** Workers started to replace one that died or was killed, since the start. */
  replacedWorkers: number;
  /**
   * Sentences that paused other workers' sentences (of long requests) to run on every
   * core, since the start (see SENTENCE_PREEMPTION).
   */
  preemptions: number;
  /** Workers replaced because a sentence left them above WORKER_MAX_RSS_MB (in `replacedWorkers` too). */
  memoryReplacedWorkers: number;
  /** Voice instances held by the workers (a voice loaded in two workers counts twice). */
  loadedVoices: number;
  /** Each distinct voice loaded, most recently used first. */
  loadedVoiceDetails: LoadedVoiceDetail[];
  /** Estimated memory of every voice session in every worker. */
  estimatedVoiceBytes: number;
  /** Voices unloaded to stay within the bounds below, since the start. */
  voiceEvictions: number;
  /** MAX_LOADED_VOICES: distinct voices loaded at once (0: no bound). */
  maxLoadedVoices: number;
  /** VOICE_MEMORY_MB in bytes (0: no bound). */
  voiceMemoryBytes: number;
  activeRequests: number;
  queuedRequests: number;
  maxConcurrentRequests: number;
  maxQueue: number;
}

/**
 * One admission slot held across several syntheses, so that a request made of several
 * engine requests (an SSML document's parts) is admitted or refused once, at its start,
 * and never refused midway by a busy server. Release it when the last one is done.
 */
export interface EngineSlot {
  /** As PiperEngine.synthesize, within this slot (one at a time). */
  synthesize(request: EngineSynthesisRequest, signal?: AbortSignal): AsyncIterable<EngineSentence>;
  /** Gives the slot back; calling it again does nothing. */
  release(): void;
}

export abstract class PiperEngine {
  /** Sentence by sentence; stops (and frees the worker) when `signal` aborts. */
  abstract synthesize(
    request: EngineSynthesisRequest,
    signal?: AbortSignal,
  ): AsyncIterable<EngineSentence>;

  /**
   * A slot now, or after waiting in the queue; EngineBusyError when the queue is full
   * (EngineStoppedError after shutdown). An engine without admission control may keep
   * this default, whose syntheses are admitted each on its own. `drainHold`: the slot
   * is for work accepted before shutdown began (holdDrain), admitted while draining.
   */
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  acquireSlot(signal?: AbortSignal, drainHold?: DrainHold): Promise<EngineSlot> {
    signal?.throwIfAborted();
    return Promise.resolve({
      synthesize: (request, partSignal) => this.synthesize(request, partSignal),
      release: () => undefined,
    });
  }

  /** The whole text as one PCM buffer. */
  abstract synthesizeAll(
    request: EngineSynthesisRequest,
    signal?: AbortSignal,
  ): Promise<EngineAudio>;

  abstract phonemize(
    modelPath: string,
    configPath: string,
    text: string,
    revision?: string,
  ): Promise<PhonemizedSentence[]>;

  /**
   * The default voice: loaded in every worker (with its all-cores session), never
   * evicted. Voices pinned before become ordinary, evictable ones. Resolves when every
   * worker has loaded it; rejects if one fails to.
   */
  abstract setPinnedVoices(voices: VoicePaths[]): Promise<void>;

  /**
   * A hold on a drain not yet begun (DrainHold): requests carrying it as `drainHold` are
   * admitted while the engine drains, and the drain waits for its release. Throws
   * EngineStoppedError once shutdown has begun. An engine that never drains may keep
   * this default, which holds nothing.
   */
  holdDrain(): DrainHold {
    return { release: () => undefined };
  }

  /**
   * Voices to have loaded ahead of requests (PRELOAD_VOICES): each once, spread over the
   * workers, as far as the bounds allow without evicting anything. Resolves when they
   * are loaded (or skipped); never rejects (a voice that fails is logged, and loads on
   * demand later).
   */
  abstract preloadVoices(voices: VoicePaths[]): Promise<void>;

  /**
   * The voice's files were removed or replaced: every session of that revision of them
   * is unloaded once no request uses it (requests in flight finish on the sessions they
   * have); a newer revision already loaded stays.
   */
  abstract retireVoice(voice: VoiceIdentity): void;

  /**
   * True once every worker is up and has the pinned (default) voices loaded, until shutdown;
   * a worker being replaced after a crash or timeout does not flip it while another
   * worker is ready.
   */
  abstract isReady(): boolean;

  abstract stats(): EngineStats;
}
