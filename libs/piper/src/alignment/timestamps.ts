/**
 * Timestamps of a sentence from the network's own durations, as piper1-gpl's
 * `PiperVoice.synthesize(include_alignments=True)` computes them: each phoneme (with `^`
 * first and `$` last) owns the ids it gave, its pad included (phonemesToIds'
 * `phonemeIdCounts`), and lasts the samples of those ids (frames × hop, see
 * duration-output.ts). A word lasts from its first phoneme's start to its last one's
 * end (word-labels.ts says which phonemes are whose). Times never pass the sentence's
 * speech: a network whose frames and samples disagree is clamped to its audio.
 */
import { BOS, EOS } from '../voice-config';
import type { TextWord } from './text-words';
import type { SentenceWords } from './word-labels';

export interface PhonemeTiming {
  phoneme: string;
  startSample: number;
  endSample: number;
}

export interface WordTiming extends TextWord {
  startSample: number;
  endSample: number;
}

/** One sentence's timings, in samples from the sentence's start. */
export interface SentenceTimestamps {
  phonemes: PhonemeTiming[];
  words: WordTiming[];
}

export interface SentenceAlignmentInput {
  phonemes: readonly string[];
  /** phonemesToIds' `phonemeIdCounts` for these phonemes. */
  phonemeIdCounts: readonly number[];
  /** The network's samples per id (frames × hop). */
  phonemeIdSamples: ArrayLike<number>;
  /** Samples of speech (before the sentence silence). */
  speechSamples: number;
  words?: SentenceWords;
}

export function sentenceTimestamps(input: SentenceAlignmentInput): SentenceTimestamps {
  const { phonemes, phonemeIdCounts, phonemeIdSamples, speechSamples } = input;
  const symbols = [BOS, ...phonemes, EOS];
  const timings: PhonemeTiming[] = [];
  let id = 0;
  let position = 0;
  symbols.forEach((phoneme, i) => {
    let samples = 0;
    const count = phonemeIdCounts[i] ?? 0;
    for (let k = 0; k < count && id < phonemeIdSamples.length; k++, id++) {
      samples += phonemeIdSamples[id];
    }
    const startSample = Math.min(position, speechSamples);
    position += samples;
    timings.push({ phoneme, startSample, endSample: Math.min(position, speechSamples) });
  });

  const words: WordTiming[] = [];
  if (input.words) {
    const { words: sentenceWords, phonemeWords } = input.words;
    const spans = sentenceWords.map(() => ({ start: -1, end: -1 }));
    phonemeWords.forEach((w, p) => {
      if (w < 0) return;
      const timing = timings[p + 1];
      if (spans[w].start < 0) spans[w].start = timing.startSample;
      spans[w].end = timing.endSample;
    });
    let lastEnd = timings[0]?.endSample ?? 0;
    sentenceWords.forEach((word, w) => {
      // A word no phoneme went to (see word-labels.ts) is an instant where it stands.
      const { start, end } = spans[w].start < 0 ? { start: lastEnd, end: lastEnd } : spans[w];
      words.push({ ...word, startSample: start, endSample: end });
      lastEnd = end;
    });
  }
  return { phonemes: timings, words };
}

/** A whole text's timings in seconds, sentences placed where their audio starts. */
export interface TextTimestamps {
  words: Array<TextWord & { start: number; end: number }>;
  phonemes: Array<{ phoneme: string; start: number; end: number }>;
}

/** Joins sentences' timings, each offset by the samples before it (speech and silence). */
export function textTimestamps(
  sentences: readonly { timestamps: SentenceTimestamps; offsetSamples: number }[],
  sampleRate: number,
): TextTimestamps {
  const seconds = (samples: number): number => Math.round((samples / sampleRate) * 1e6) / 1e6;
  const result: TextTimestamps = { words: [], phonemes: [] };
  for (const { timestamps, offsetSamples } of sentences) {
    for (const { phoneme, startSample, endSample } of timestamps.phonemes) {
      result.phonemes.push({
        phoneme,
        start: seconds(offsetSamples + startSample),
        end: seconds(offsetSamples + endSample),
      });
    }
    for (const { startSample, endSample, ...word } of timestamps.words) {
      result.words.push({
        ...word,
        start: seconds(offsetSamples + startSample),
        end: seconds(offsetSamples + endSample),
      });
    }
  }
  return result;
}
