/**
 * A loaded Piper voice: configuration, network and phonemizer, turning text into
 * 16-bit PCM sentence by sentence exactly as piper1-gpl does
 * (docs/PIPER.md §3–§6).
 */
import { basename } from 'node:path';
import { textWords } from './alignment/text-words';
import {
  sentenceTimestamps,
  textTimestamps,
  type SentenceTimestamps,
  type TextTimestamps,
} from './alignment/timestamps';
import { labelSentenceWords, type SentenceWords } from './alignment/word-labels';
import { concatPcm, floatToPcm16 } from './audio';
import {
  AlignmentsUnavailableError,
  EmptyTextError,
  InvalidSynthesisOptionError,
  SpeakerNotFoundError,
  VoiceConfigError,
} from './errors';
import { phonemesToIds } from './phoneme-ids';
import { EspeakPhonemizer } from './phonemize/espeak-phonemizer';
import { phonemizeText } from './phonemize/phonemize';
import { BOS, EOS, PAD, loadVoiceConfig, type VoiceConfig } from './voice-config';
import { VoiceModel, type InferenceScales } from './voice-model';

export interface EngineLogger {
  warn(message: string): void;
}

export interface LoadVoiceOptions {
  /** Defaults to `<model>.json`. */
  configPath?: string;
  /** onnxruntime intra-op threads; 0 (default) lets onnxruntime use every core. */
  intraOpThreads?: number;
  logger?: EngineLogger;
}

export interface SynthesisOptions {
  /** Speaker index, or a name from `speaker_id_map`; default `default_speaker_id`. */
  speaker?: number | string;
  noiseScale?: number;
  lengthScale?: number;
  noiseW?: number;
  /** Multiplies the peak-normalised audio (piper1-gpl), default 1. */
  volume?: number;
  /** Seconds of silence appended after every sentence, default 0. */
  sentenceSilenceSeconds?: number;
  /**
   * For streaming: a first sentence longer than this many phonemes is spoken clause by
   * clause (cut after `,` `:` `;`), so the first audio depends on its first clause only.
   * Later sentences are untouched. Off by default (Piper speaks whole sentences).
   */
  firstSentenceClauseSplitPhonemes?: number;
  /** Stops between sentences: the remaining sentences are not synthesized. */
  signal?: AbortSignal;
  /**
   * Word and phoneme timings from the network's durations; the audio is the same.
   * AlignmentsUnavailableError for a network without them (`hasAlignments`).
   */
  timestamps?: boolean;
}

/** One synthesized sentence, as a streaming caller receives it. */
export interface SentenceAudio {
  index: number;
  phonemes: string[];
  phonemeIds: number[];
  /** Speech followed by the sentence silence, mono 16-bit at `sampleRate`. */
  pcm: Int16Array;
  /** Samples of speech in `pcm` (the rest is silence). */
  speechSamples: number;
  sampleRate: number;
  inferenceMs: number;
  /** With `timestamps`: in samples from this sentence's start. */
  timestamps?: SentenceTimestamps;
}

export interface SynthesisResult {
  pcm: Int16Array;
  sampleRate: number;
  sentences: Omit<SentenceAudio, 'pcm'>[];
  /** With `timestamps`: every word and phoneme, in seconds of `pcm`. */
  timestamps?: TextTimestamps;
}

/** Bounds that keep one request from asking for unbounded memory or nonsense audio. */
export const SYNTHESIS_LIMITS = {
  lengthScale: { min: 0.05, max: 20 },
  noiseScale: { min: 0, max: 10 },
  noiseW: { min: 0, max: 10 },
  volume: { min: 0, max: 100 },
  sentenceSilenceSeconds: { min: 0, max: 60 },
} as const;

/**
 * Longest phoneme sequence sent to the network at once. Piper itself would run a
 * sentence of any length, but espeak-ng joins clauses without punctuation into one
 * sentence, so 100,000 characters with no full stop become one sentence of ~120,000
 * phonemes: minutes of audio in one tensor, gigabytes of memory. Past this bound
 * (about a minute of speech) a sentence is cut at its last word boundary; shorter
 * sentences, which is every real one, are untouched and byte-identical to Piper.
 */
export const MAX_PHONEMES_PER_INFERENCE = 1000;

/** Phonemes of `warmUp`'s sentence: about the length of a sentence of ten words. */
const WARM_UP_PHONEMES = 60;

let sharedPhonemizer: Promise<EspeakPhonemizer> | undefined;

/** espeak-ng is loaded once per process and shared by every voice. */
function espeakPhonemizer(): Promise<EspeakPhonemizer> {
  sharedPhonemizer ??= EspeakPhonemizer.create();
  return sharedPhonemizer;
}

export class PiperVoice {
  private constructor(
    /** Voice name: the model file's stem, e.g. "en_US-lessac-medium". */
    readonly name: string,
    readonly config: VoiceConfig,
    readonly model: VoiceModel,
    private readonly phonemizer: EspeakPhonemizer | undefined,
    private readonly logger: EngineLogger,
  ) {}

  static async load(modelPath: string, options: LoadVoiceOptions = {}): Promise<PiperVoice> {
    const configPath = options.configPath ?? `${modelPath}.json`;
    const config = await loadVoiceConfig(configPath);
    const model = await VoiceModel.load(modelPath, { intraOpThreads: options.intraOpThreads });
    // The config and the network must agree on speakers (§5): feeding `sid` to a
    // single-speaker network, or not feeding it to a multi-speaker one, fails later
    // on every request; refuse the voice now instead.
    if (model.hasSpeakerInput !== config.numSpeakers > 1) {
      await model.release();
      throw new VoiceConfigError(
        configPath,
        'num_speakers',
        `is ${config.numSpeakers} but the network ${model.hasSpeakerInput ? 'takes' : 'does not take'} a speaker id (sid): config for another model?`,
      );
    }
    const phonemizer = config.phonemeType === 'espeak' ? await espeakPhonemizer() : undefined;
    if (phonemizer) phonemizer.assertVoice(config.espeakVoice);
    const name = basename(modelPath).replace(/\.onnx$/i, '');
    return new PiperVoice(name, config, model, phonemizer, options.logger ?? console);
  }

  get sampleRate(): number {
    return this.config.sampleRate;
  }

  /** Whether the network gives its per-id durations, which timestamps need. */
  get hasAlignments(): boolean {
    return this.model.durationsOutput !== undefined;
  }

  /** Samples per network frame: the graph's upsampling, else the config's `hop_length`. */
  get hopLength(): number {
    return this.model.upsampleHop ?? this.config.hopLength;
  }

  /** Text to phonemes grouped by sentence (§3). */
  phonemize(text: string): string[][] {
    return phonemizeText(
      text,
      {
        phonemeType: this.config.phonemeType,
        espeakVoice: this.config.espeakVoice,
        vowelClusters: this.config.vowelClusters,
      },
      this.phonemizer,
    );
  }

  /** One sentence's phonemes to ids (§4); missing phonemes are skipped with a warning. */
  phonemesToIds(phonemes: readonly string[]): number[] {
    const { phonemeIds, missingPhonemes } = phonemesToIds(phonemes, this.config);
    if (missingPhonemes.length > 0) {
      this.logger.warn(
        `voice ${this.name}: skipped phoneme(s) missing from phoneme_id_map: ${missingPhonemes.map((p) => JSON.stringify(p)).join(' ')}`,
      );
    }
    return phonemeIds;
  }

  /**
   * The speaker id to feed the network: an index, a numeric string ("3"), or a name
   * from `speaker_id_map`. Undefined for single-speaker voices.
   */
  resolveSpeakerId(speaker?: number | string): number | undefined {
    const { numSpeakers, speakerIdMap, defaultSpeakerId } = this.config;
    if (speaker === undefined || speaker === '') {
      return numSpeakers > 1 ? defaultSpeakerId : undefined;
    }
    let id: number | undefined;
    if (typeof speaker === 'number') id = speaker;
    else if (Object.hasOwn(speakerIdMap, speaker)) id = speakerIdMap[speaker];
    else if (/^\d+$/.test(speaker)) id = Number(speaker);
    if (id === undefined) {
      const names = Object.keys(speakerIdMap);
      throw new SpeakerNotFoundError(
        speaker,
        this.name,
        names.length > 0
          ? `known names: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''}`
          : `use an index below ${numSpeakers}`,
      );
    }
    if (!Number.isInteger(id) || id < 0 || id >= numSpeakers) {
      throw new SpeakerNotFoundError(speaker, this.name, `index must be 0 to ${numSpeakers - 1}`);
    }
    return numSpeakers > 1 ? id : undefined;
  }

  /**
   * Synthesizes sentence by sentence. Options are validated before anything runs; a
   * text with nothing to speak throws EmptyTextError.
   */
  async *synthesize(text: string, options: SynthesisOptions = {}): AsyncGenerator<SentenceAudio> {
    const plan = this.plan(text, options);
    for (const [index, phonemes] of plan.sentences.entries()) {
      if (options.signal?.aborted) return;
      const phonemeIds = this.phonemesToIds(phonemes);
      const { phonemeIdSamples, ...audio } = await this.speakSentence(phonemeIds, plan);
      const timestamps = phonemeIdSamples
        ? this.timestampsOf(phonemes, phonemeIdSamples, audio.speechSamples, plan.words?.[index])
        : undefined;
      yield { index, phonemes, phonemeIds, ...audio, sampleRate: this.sampleRate, timestamps };
    }
  }

  /** The whole text as one PCM buffer (the sentences concatenated). */
  async synthesizeAll(text: string, options: SynthesisOptions = {}): Promise<SynthesisResult> {
    const chunks: SentenceAudio[] = [];
    for await (const chunk of this.synthesize(text, options)) chunks.push(chunk);
    let offsetSamples = 0;
    const placed = chunks.map((chunk) => {
      const offset = offsetSamples;
      offsetSamples += chunk.pcm.length;
      return { timestamps: chunk.timestamps, offsetSamples: offset };
    });
    return {
      pcm: concatPcm(chunks.map((chunk) => chunk.pcm)),
      sampleRate: this.sampleRate,
      sentences: chunks.map(({ pcm: _pcm, ...sentence }) => sentence),
      timestamps: options.timestamps
        ? textTimestamps(
            placed.flatMap(({ timestamps, offsetSamples: offset }) =>
              timestamps ? [{ timestamps, offsetSamples: offset }] : [],
            ),
            this.sampleRate,
          )
        : undefined,
    };
  }

  /**
   * Runs the network once on a sentence of typical length made of the voice's own
   * phonemes, the audio thrown away. onnxruntime sizes its memory on a session's first
   * runs: on these machines the first inference of a medium voice costs about twice a
   * later one (tens of thousands of page faults for a fresh arena), so a server warms
   * the voices it preloads before it reports ready, not on its first requests.
   */
  async warmUp(): Promise<void> {
    const idMap = this.config.phonemeIdMap;
    const symbols = Object.keys(idMap).filter(
      (symbol) => symbol !== BOS && symbol !== EOS && symbol !== PAD && symbol !== ' ',
    );
    if (symbols.length === 0) return;
    // Words of five phonemes, when the voice has a space (none is skipped with a warning).
    const space = Object.hasOwn(idMap, ' ');
    const phonemes = Array.from({ length: WARM_UP_PHONEMES }, (_, i) =>
      space && i % 6 === 5 ? ' ' : symbols[i % symbols.length],
    );
    const settings = this.sentenceSettings();
    await this.model.infer(this.phonemesToIds(phonemes), settings.scales, settings.speakerId);
  }

  async release(): Promise<void> {
    await this.model.release();
  }

  /**
   * What `synthesize` does before it speaks: the options checked (typed errors) and
   * resolved over the voice's defaults, and the text cut into the sentences it speaks
   * (empty ones dropped, overlong ones cut, a long first sentence cut at clauses when
   * asked). With `speakSentence` this lets a caller spread one text's sentences over
   * several voices (processes) and get exactly the audio `synthesize` would make.
   */
  plan(text: string, options: SynthesisOptions = {}): SynthesisPlan {
    const settings = this.sentenceSettings(options);
    if (typeof text !== 'string') throw new EmptyTextError('text must be a string');
    const sentences = this.phonemize(text)
      .filter((sentence) => sentence.length > 0)
      .flatMap((sentence) => splitOverlongSentence(sentence, MAX_PHONEMES_PER_INFERENCE));
    if (sentences.length === 0) throw new EmptyTextError();
    const splitAbove = options.firstSentenceClauseSplitPhonemes;
    if (splitAbove !== undefined && sentences[0].length > splitAbove) {
      sentences.splice(0, 1, ...splitAtClauses(sentences[0]));
    }
    const words = settings.timestamps ? this.wordsOf(text, sentences) : undefined;
    return { ...settings, sentences, words };
  }

  /** Which word of `text` each phoneme of these sentences speaks (alignment/word-labels.ts). */
  wordsOf(text: string, sentences: readonly (readonly string[])[]): SentenceWords[] {
    const words = textWords(text, this.config.espeakVoice);
    const isolated =
      this.phonemizer && this.config.phonemeType === 'espeak'
        ? this.phonemizer.phonemizeWords(
            words.map((word) => word.text),
            this.config.espeakVoice,
          )
        : words.map((word) => Array.from(word.text.normalize('NFD')));
    return labelSentenceWords(sentences, words, isolated);
  }

  /** One sentence's timings from the network's samples per id (alignment/timestamps.ts). */
  timestampsOf(
    phonemes: readonly string[],
    phonemeIdSamples: ArrayLike<number>,
    speechSamples: number,
    words?: SentenceWords,
  ): SentenceTimestamps {
    const { phonemeIdCounts } = phonemesToIds(phonemes, this.config);
    return sentenceTimestamps({
      phonemes,
      phonemeIdCounts,
      phonemeIdSamples,
      speechSamples,
      words,
    });
  }

  /** The options checked (typed errors) and resolved over the voice's defaults. */
  sentenceSettings(options: SynthesisOptions = {}): SentenceSettings {
    const defaults = this.config.inference;
    const scales: InferenceScales = {
      noiseScale: checkedOption('noiseScale', options.noiseScale, defaults.noiseScale),
      lengthScale: checkedOption('lengthScale', options.lengthScale, defaults.lengthScale),
      noiseW: checkedOption('noiseW', options.noiseW, defaults.noiseW),
    };
    const volume = checkedOption('volume', options.volume, 1);
    const silenceSeconds = checkedOption(
      'sentenceSilenceSeconds',
      options.sentenceSilenceSeconds,
      0,
    );
    const speakerId = this.resolveSpeakerId(options.speaker);
    const timestamps = options.timestamps === true;
    if (timestamps && !this.hasAlignments) throw new AlignmentsUnavailableError(this.name);
    return {
      scales,
      volume,
      speakerId,
      timestamps,
      // Python's int(): truncation, so 0.5 s at 22050 Hz is exactly 11025 samples.
      silenceSamples: Math.trunc(silenceSeconds * this.sampleRate),
    };
  }

  /**
   * One sentence, as `synthesize` speaks it (§5, §6): the network run with the
   * settings' scales and speaker, peak-normalised 16-bit at their volume, then the
   * sentence silence.
   */
  async speakSentence(
    phonemeIds: number[],
    settings: SentenceSettings,
  ): Promise<{
    pcm: Int16Array;
    speechSamples: number;
    inferenceMs: number;
    /** With `settings.timestamps`: the network's samples per id (frames × hop). */
    phonemeIdSamples?: number[];
  }> {
    const started = performance.now();
    let audio: Float32Array;
    let phonemeIdSamples: number[] | undefined;
    if (settings.timestamps) {
      const run = await this.model.inferWithDurations(
        phonemeIds,
        settings.scales,
        settings.speakerId,
      );
      audio = run.audio;
      const hop = this.hopLength;
      phonemeIdSamples = Array.from(run.frames, (frames) => Math.max(0, frames) * hop);
    } else {
      audio = await this.model.infer(phonemeIds, settings.scales, settings.speakerId);
    }
    const inferenceMs = performance.now() - started;
    const speech = floatToPcm16(audio, settings.volume);
    let pcm = speech;
    if (settings.silenceSamples > 0) {
      pcm = new Int16Array(speech.length + settings.silenceSamples);
      pcm.set(speech);
    }
    return { pcm, speechSamples: speech.length, inferenceMs, phonemeIdSamples };
  }
}

/** How each sentence of one synthesis is spoken: its options resolved over the voice's. */
export interface SentenceSettings {
  scales: InferenceScales;
  volume: number;
  speakerId: number | undefined;
  /** Silence after each sentence, in samples. */
  silenceSamples: number;
  /** Fetch the network's durations with the audio (SynthesisOptions.timestamps). */
  timestamps: boolean;
}

/** A synthesis before it speaks: its settings and the sentences, in order, as phonemes. */
export interface SynthesisPlan extends SentenceSettings {
  sentences: string[][];
  /** With `timestamps`: each sentence's words and which phoneme speaks which. */
  words?: SentenceWords[];
}

/** Pieces of a sentence cut after each clause terminator (`,` `:` `;` and its space, §3 rule 4). */
export function splitAtClauses(phonemes: string[]): string[][] {
  const pieces: string[][] = [];
  let start = 0;
  for (let i = 0; i < phonemes.length - 1; i++) {
    if (
      (phonemes[i] === ',' || phonemes[i] === ':' || phonemes[i] === ';') &&
      phonemes[i + 1] === ' '
    ) {
      pieces.push(phonemes.slice(start, i + 2));
      start = i + 2;
    }
  }
  if (start < phonemes.length) pieces.push(phonemes.slice(start));
  return pieces;
}

/** Cuts a sentence longer than `maxPhonemes` after the last space that keeps a part within it. */
export function splitOverlongSentence(phonemes: string[], maxPhonemes: number): string[][] {
  if (phonemes.length <= maxPhonemes) return [phonemes];
  const parts: string[][] = [];
  let start = 0;
  while (phonemes.length - start > maxPhonemes) {
    const space = phonemes.lastIndexOf(' ', start + maxPhonemes - 1);
    const end = space > start ? space + 1 : start + maxPhonemes;
    parts.push(phonemes.slice(start, end));
    start = end;
  }
  parts.push(phonemes.slice(start));
  return parts;
}

function checkedOption(
  name: keyof typeof SYNTHESIS_LIMITS,
  value: number | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const { min, max } = SYNTHESIS_LIMITS[name];
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidSynthesisOptionError(
      name,
      `must be a number from ${min} to ${max}, got ${String(value)}`,
    );
  }
  return value;
}
