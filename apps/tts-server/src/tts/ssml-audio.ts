/**
 * An SSML document's audio: each speech segment (@app/ssml) is one engine request with
 * its own voice, speaker, length_scale and volume, through the same PiperEngine as
 * plain text; pauses are exact runs of zero samples at the first voice's rate, and a
 * voice of another rate is resampled to it, so the document is one audio at one rate.
 * The parts run one after another, each sentence handed on as it comes, so a stream
 * speaks SSML sentence by sentence as it speaks text. They all run in one admission
 * slot (PiperEngine.acquireSlot), taken before the first: a busy server refuses the
 * document at its start, never between two of its parts.
 *
 * Timed (timestamps, captions): each sentence's words and phonemes are placed where the
 * sentence starts in the joined audio, pauses and voice switches included, and each
 * `<mark>` gets the time at which it is reached: the start of the part it opens (so a
 * mark after a break is at the break's end), else the start of the first word after
 * it, else the end of its part. Word offsets are in code points of the document's
 * spoken text (`spokenText`: each speech part's text as spoken, `<sub>` aliases and
 * say-as forms included, joined by one space), since a word of an alias or of a
 * `<say-as>` has no place of its own in the markup.
 */
import { PcmResampler } from '@app/audio-formats';
import { SYNTHESIS_LIMITS, textTimestamps, type TextTimestamps } from '@app/piper';
import { speechText, speechTextOffset, type SsmlDocument, type SsmlVoiceChoice } from '@app/ssml';
import type {
  EngineSentence,
  EngineSynthesisOptions,
  EngineSynthesisRequest,
  PiperEngine,
} from '../engine/piper-engine';
import type { VoiceEntry } from '../models/voice-registry.service';
import { planRender, type RenderJob } from './render-job';
import { timestampsOfSentence, type TimestampsBody } from './timestamps';

/** A voice and speaker, as a `<voice>` resolves. */
export interface SsmlTarget {
  voice: VoiceEntry;
  speakerId: number;
}

export type SsmlPart =
  | {
      kind: 'speech';
      request: EngineSynthesisRequest;
      sampleRate: number;
      voice: VoiceEntry;
      /** The text the engine is asked to speak (request.text). */
      text: string;
    }
  | { kind: 'silence'; samples: number };

/** A `<mark>` in the parts: at `textOffset` (UTF-16) of part `partIndex`'s text (parts.length: the end). */
export interface SsmlPartMark {
  name: string;
  partIndex: number;
  textOffset: number;
}

/** The document as the engine requests and silences it is spoken in, one part a segment. */
export interface SsmlPlan {
  parts: SsmlPart[];
  marks: SsmlPartMark[];
}

/** A stretch of the document's audio: a sentence of a speech part, or a silence. */
export interface SsmlChunk {
  pcm: Int16Array;
  partIndex: number;
  /** Samples of the document (at its rate) before this chunk. */
  startSample: number;
  /** The engine's sentence (its own rate), for a speech part. */
  sentence?: EngineSentence;
}

/** A chunk with its timings in seconds of the document's audio. */
export interface TimedSsmlChunk extends TimestampsBody {
  /** Empty for the marks at the very end, after the last audio. */
  pcm: Int16Array;
  marks: Array<{ name: string; time: number }>;
}

/**
 * The document as engine requests and silences. `resolve` turns a `<voice>` into a
 * voice and speaker (VoiceNotFoundError, SpeakerNotFoundError). Rates and volumes go
 * on top of the request's own (or the voice's defaults); the sentence silence follows
 * only segments that end a sentence.
 */
export function planSsmlParts(
  document: SsmlDocument,
  job: RenderJob,
  resolve: (choice: SsmlVoiceChoice) => SsmlTarget,
): SsmlPlan {
  const sampleRate = job.voice.config.sampleRate;
  const parts = document.segments.map((segment): SsmlPart => {
    if (segment.type === 'break') {
      // Python's int(), as Piper's sentence silence: 0.5 s at 22050 Hz is 11025 samples.
      return { kind: 'silence', samples: Math.trunc(segment.seconds * sampleRate) };
    }
    const target = segment.voice ? resolve(segment.voice) : job;
    const { voice } = target;
    const lengthScale =
      (job.lengthScale ?? voice.config.inference.lengthScale) * segment.lengthScaleFactor;
    const volume = Math.min((job.volume ?? 1) * segment.volumeFactor, SYNTHESIS_LIMITS.volume.max);
    const text = speechText(segment, voice.config.espeakVoice);
    const { request } = planRender(
      {
        ...job,
        voice,
        speakerId: target.speakerId,
        lengthScale,
        volume,
        sentenceSilenceSeconds: segment.endsSentence ? job.sentenceSilenceSeconds : 0,
      },
      text,
    );
    return { kind: 'speech', request, sampleRate: voice.config.sampleRate, voice, text };
  });
  const marks = document.marks.map(({ name, segmentIndex, ...at }): SsmlPartMark => {
    const segment = document.segments[segmentIndex];
    const part = parts[segmentIndex];
    const textOffset =
      segment?.type === 'speech' && part?.kind === 'speech'
        ? speechTextOffset(segment, part.voice.config.espeakVoice, at)
        : 0;
    return { name, partIndex: segmentIndex, textOffset };
  });
  return { parts, marks };
}

/**
 * The parts' audio sentence by sentence at `sampleRate`, in one admission slot;
 * `firstOptions` apply to the first speech part only (streaming's clause split of a
 * long first sentence).
 */
export async function* ssmlChunks(
  parts: readonly SsmlPart[],
  engine: PiperEngine,
  sampleRate: number,
  signal?: AbortSignal,
  firstOptions: Partial<EngineSynthesisOptions> = {},
): AsyncGenerator<SsmlChunk> {
  const speech = parts.find((part) => part.kind === 'speech');
  // Work accepted before shutdown (a Wyoming stream) keeps its slot through the drain.
  const slot = speech ? await engine.acquireSlot(signal, speech.request.drainHold) : undefined;
  try {
    let first = true;
    let startSample = 0;
    for (const [partIndex, part] of parts.entries()) {
      if (signal?.aborted) return;
      if (part.kind === 'silence') {
        yield { pcm: new Int16Array(part.samples), partIndex, startSample };
        startSample += part.samples;
        continue;
      }
      const request = first
        ? { ...part.request, options: { ...part.request.options, ...firstOptions } }
        : part.request;
      first = false;
      const resampler =
        part.sampleRate === sampleRate
          ? undefined
          : await PcmResampler.create(part.sampleRate, sampleRate);
      for await (const sentence of slot!.synthesize(request, signal)) {
        const pcm = resampler ? resampler.resample(sentence.pcm) : sentence.pcm;
        yield { pcm, partIndex, startSample, sentence };
        startSample += pcm.length;
      }
    }
  } finally {
    slot?.release();
  }
}

/** The parts' audio sentence by sentence at `sampleRate` (ssmlChunks without the bookkeeping). */
export async function* ssmlSentences(
  parts: readonly SsmlPart[],
  engine: PiperEngine,
  sampleRate: number,
  signal?: AbortSignal,
  firstOptions: Partial<EngineSynthesisOptions> = {},
): AsyncGenerator<{ pcm: Int16Array }> {
  for await (const { pcm } of ssmlChunks(parts, engine, sampleRate, signal, firstOptions)) {
    yield { pcm };
  }
}

/**
 * The document's spoken text (see the top of this file) and, per part, the code point
 * in it where the part's text (UTF-16 offset 0) would start.
 */
export function spokenText(parts: readonly SsmlPart[]): { text: string; partStarts: number[] } {
  let text = '';
  let length = 0;
  const partStarts = parts.map((part) => {
    if (part.kind === 'silence') return length;
    const trimmed = part.text.trim();
    if (trimmed === '') return length;
    if (text !== '') {
      text += ' ';
      length += 1;
    }
    const leading = codePoints(part.text.slice(0, part.text.length - part.text.trimStart().length));
    const start = length - leading;
    text += trimmed;
    length += codePoints(trimmed);
    return start;
  });
  return { text, partStarts };
}

/**
 * Each chunk with its words, phonemes and the marks reached by its start (or within
 * it), in seconds of the document at `sampleRate`; the marks at the very end come last
 * with an empty pcm.
 */
export async function* timedSsmlChunks(
  plan: SsmlPlan,
  chunks: AsyncIterable<SsmlChunk>,
  sampleRate: number,
): AsyncGenerator<TimedSsmlChunk> {
  const { partStarts } = spokenText(plan.parts);
  const seconds = (samples: number): number => Math.round((samples / sampleRate) * 1e6) / 1e6;
  let pendingIndex = 0;
  let previous: SsmlChunk | undefined;
  let endSample = 0;
  for await (const chunk of chunks) {
    const marks: TimedSsmlChunk['marks'] = [];
    // Marks of the parts before this one not reached by a word: at their part's end,
    // which is where this chunk starts (parts without audio included).
    while (plan.marks[pendingIndex]?.partIndex < chunk.partIndex) {
      marks.push({ name: plan.marks[pendingIndex].name, time: seconds(chunk.startSample) });
      pendingIndex++;
    }
    const part = plan.parts[chunk.partIndex];
    const partStart = chunk.sentence === undefined || previous?.partIndex !== chunk.partIndex;
    const body = chunk.sentence
      ? sentenceTimings(chunk, part, sampleRate, partStarts)
      : { words: [], phonemes: [] };
    // Marks of this part: at its start, or before a word of this sentence.
    while (plan.marks[pendingIndex]?.partIndex === chunk.partIndex) {
      const mark = plan.marks[pendingIndex];
      if (mark.textOffset === 0 && partStart) {
        marks.push({ name: mark.name, time: seconds(chunk.startSample) });
      } else {
        const at =
          part.kind === 'speech'
            ? partStarts[chunk.partIndex] + codePoints(part.text.slice(0, mark.textOffset))
            : 0;
        const word = body.words.find((candidate) => candidate.char_start >= at);
        if (!word) break;
        marks.push({ name: mark.name, time: word.start });
      }
      pendingIndex++;
    }
    yield { pcm: chunk.pcm, ...body, marks };
    previous = chunk;
    endSample = chunk.startSample + chunk.pcm.length;
  }
  // What is left is reached at the end of its part: the end of the document.
  const end = plan.marks
    .slice(pendingIndex)
    .map(({ name }) => ({ name, time: seconds(endSample) }));
  if (end.length > 0) yield { pcm: new Int16Array(0), words: [], phonemes: [], marks: end };
}

/** A sentence's words and phonemes placed at its chunk's start; offsets in the spoken text. */
function sentenceTimings(
  chunk: SsmlChunk,
  part: SsmlPart,
  sampleRate: number,
  partStarts: readonly number[],
): TimestampsBody {
  const sentence = chunk.sentence!;
  if (part.kind !== 'speech') return { words: [], phonemes: [] };
  const timestamps = timestampsOfSentence(sentence, part.voice.config);
  if (!timestamps) return { words: [], phonemes: [] };
  let timed: TextTimestamps;
  if (sentence.sampleRate === sampleRate) {
    timed = textTimestamps([{ timestamps, offsetSamples: chunk.startSample }], sampleRate);
  } else {
    // Another voice's rate: its own seconds, moved to where it starts in the document.
    const shift = chunk.startSample / sampleRate;
    const own = textTimestamps([{ timestamps, offsetSamples: 0 }], sentence.sampleRate);
    const move = (time: number): number => Math.round((time + shift) * 1e6) / 1e6;
    timed = {
      words: own.words.map((word) => ({ ...word, start: move(word.start), end: move(word.end) })),
      phonemes: own.phonemes.map((phoneme) => ({
        ...phoneme,
        start: move(phoneme.start),
        end: move(phoneme.end),
      })),
    };
  }
  const base = partStarts[chunk.partIndex];
  const offset = (units: number): number => base + codePoints(part.text.slice(0, units));
  return {
    words: timed.words.map(({ text, start, end, charStart, charEnd }) => ({
      text,
      start,
      end,
      char_start: offset(charStart),
      char_end: offset(charEnd),
    })),
    phonemes: timed.phonemes,
  };
}

function codePoints(text: string): number {
  return Array.from(text).length;
}
