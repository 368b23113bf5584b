/**
 * Timestamps and captions of a synthesis, from the engine's sentences: each sentence's
 * durations (the network's, through the worker protocol) become phoneme and word times
 * (@app/piper's sentenceTimestamps), placed where the sentence starts in the audio, so
 * the sentence silence is counted and the timings fit the returned audio exactly. Word
 * offsets are moved from the engine's text (NFC, trimmed: TtsService.checkedText) to the
 * request's own text, in code points (what `text[start:end]` slices in Python and
 * `Array.from(text).slice(start, end)` in JavaScript).
 */
import {
  phonemesToIds,
  sentenceTimestamps,
  textTimestamps,
  type SentenceTimestamps,
  type TextTimestamps,
  type VoiceConfig,
} from '@app/piper';
import type { EngineSentence } from '../engine/piper-engine';

/** What POST /tts with `timestamps` answers (besides the audio). */
export interface TimestampsBody {
  words: Array<{ text: string; start: number; end: number; char_start: number; char_end: number }>;
  phonemes: Array<{ phoneme: string; start: number; end: number }>;
}

/** A caption format: WebVTT or SubRip. */
export const CAPTION_FORMATS = ['vtt', 'srt'] as const;
export type CaptionFormat = (typeof CAPTION_FORMATS)[number];

/** A cue holds at most this many characters (or one sentence), the usual subtitle line. */
const MAX_CUE_CHARACTERS = 42;

/** One sentence's timings (samples from its start); undefined when it has no durations. */
export function timestampsOfSentence(
  sentence: EngineSentence,
  config: Pick<VoiceConfig, 'phonemeIdMap' | 'phonemeMap'>,
): SentenceTimestamps | undefined {
  if (!sentence.phonemeIdSamples) return undefined;
  return sentenceTimestamps({
    phonemes: sentence.phonemes,
    phonemeIdCounts: phonemesToIds(sentence.phonemes, config).phonemeIdCounts,
    phonemeIdSamples: sentence.phonemeIdSamples,
    speechSamples: sentence.speechSamples,
    words: sentence.words,
  });
}

/** Maps offsets in the engine's text to code point offsets in the request's text. */
export class TextOffsets {
  /** engine UTF-16 offset → request code point offset, at every grapheme boundary. */
  private readonly map = new Map<number, number>();

  constructor(requestText: string, engineText: string) {
    const leading = requestText.length - requestText.trimStart().length;
    let requestPoints = Array.from(requestText.slice(0, leading)).length;
    let engineUnits = 0;
    let built = '';
    this.map.set(0, requestPoints);
    const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    for (const { segment } of graphemes.segment(requestText.trim())) {
      const normalized = segment.normalize('NFC');
      built += normalized;
      engineUnits += normalized.length;
      requestPoints += Array.from(segment).length;
      this.map.set(engineUnits, requestPoints);
    }
    if (built !== engineText) {
      // Normalization joined graphemes (rare): code points of the engine's text.
      this.map.clear();
      let units = 0;
      let points = 0;
      this.map.set(0, 0);
      for (const character of engineText) {
        units += character.length;
        points += 1;
        this.map.set(units, points);
      }
    }
  }

  toRequest(engineOffset: number): number {
    for (let offset = engineOffset; offset >= 0; offset--) {
      const mapped = this.map.get(offset);
      if (mapped !== undefined) return mapped;
    }
    return 0;
  }
}

/**
 * Each sentence's timings, in seconds of the whole audio (each sentence placed after the
 * speech and silence of those before it, from `firstOffsetSamples`), offsets in the
 * request's text.
 */
export function sentenceBodies(
  sentences: readonly EngineSentence[],
  config: Pick<VoiceConfig, 'phonemeIdMap' | 'phonemeMap'>,
  offsets: TextOffsets,
  firstOffsetSamples = 0,
): TimestampsBody[] {
  let offsetSamples = firstOffsetSamples;
  return sentences.map((sentence) => {
    const timestamps = timestampsOfSentence(sentence, config);
    const placed = timestamps ? [{ timestamps, offsetSamples }] : [];
    offsetSamples += sentence.pcm.length;
    return toBody(textTimestamps(placed, sentence.sampleRate), offsets);
  });
}

function toBody(timestamps: TextTimestamps, offsets: TextOffsets): TimestampsBody {
  return {
    words: timestamps.words.map(({ text, start, end, charStart, charEnd }) => ({
      text,
      start,
      end,
      char_start: offsets.toRequest(charStart),
      char_end: offsets.toRequest(charEnd),
    })),
    phonemes: timestamps.phonemes,
  };
}

interface Cue {
  start: number;
  end: number;
  text: string;
}

/**
 * Captions: words in cues of at most MAX_CUE_CHARACTERS of the request's text (a longer
 * word is a cue of its own), never across sentences; a cue's text is the request's text
 * from its first word to its last, punctuation between them included.
 */
export function captions(
  sentenceWords: readonly TimestampsBody['words'][],
  requestText: string,
  format: CaptionFormat,
): string {
  const points = Array.from(requestText);
  const cues: Cue[] = [];
  for (const words of sentenceWords) {
    let first: TimestampsBody['words'][number] | undefined;
    let last: TimestampsBody['words'][number] | undefined;
    const flush = (): void => {
      if (first && last) {
        cues.push({
          start: first.start,
          end: last.end,
          text: points.slice(first.char_start, last.char_end).join('').replace(/\s+/g, ' '),
        });
      }
      first = last = undefined;
    };
    for (const word of words) {
      if (first && word.char_end - first.char_start > MAX_CUE_CHARACTERS) flush();
      first ??= word;
      last = word;
    }
    flush();
  }
  if (format === 'vtt') {
    const body = cues.map(
      (cue) => `${clock(cue.start, '.')} --> ${clock(cue.end, '.')}\n${cue.text}`,
    );
    return `WEBVTT\n\n${body.join('\n\n')}\n`;
  }
  return (
    cues
      .map((cue, i) => `${i + 1}\n${clock(cue.start, ',')} --> ${clock(cue.end, ',')}\n${cue.text}`)
      .join('\n\n') + '\n'
  );
}

/** hh:mm:ss.mmm (WebVTT) or hh:mm:ss,mmm (SubRip). */
function clock(seconds: number, separator: '.' | ','): string {
  const ms = Math.round(seconds * 1000);
  const pad = (value: number, width: number): string => String(value).padStart(width, '0');
  return `${pad(Math.floor(ms / 3_600_000), 2)}:${pad(Math.floor(ms / 60_000) % 60, 2)}:${pad(
    Math.floor(ms / 1000) % 60,
    2,
  )}${separator}${pad(ms % 1000, 3)}`;
}
