/**
 * Timestamps on Piper-architecture networks (issue 17): the bench voice, whose duration
 * predictor gives every id its own number of frames as a VITS does
 * (Ceil(exp(logw)·length_scale)), single-speaker and with 109 speakers. Unlike the test
 * voice's, these durations are not known in advance, so the checks are the ones that
 * hold for any such network: the phonemes tile the audio, doubling length_scale doubles
 * every word to the frame Ceil can lose per id, and asking for timestamps does not change
 * a byte of the audio.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { phonemesToIds } from '../phoneme-ids';
import { PiperVoice, type SynthesisOptions, type SynthesisResult } from '../piper-voice';
import { BENCH_VOICE_VCTK_SPEAKERS, writeBenchVoice } from '../voice-builder';

const TEXT =
  'The brown fox jumps over the lazy dog. On the 3rd of May, Dr. Smith paid $12 for "fresh" apples!';
const HOP = 256;

/** Timestamps are rounded to the microsecond (timestamps.ts); samples are whole. */
const toSamples = (seconds: number, sampleRate: number): number => Math.round(seconds * sampleRate);

describe.each([
  { label: 'single-speaker bench voice', speakers: 1, speaker: undefined },
  {
    label: '109-speaker bench voice, speaker 57',
    speakers: BENCH_VOICE_VCTK_SPEAKERS,
    speaker: 57,
  },
])('timestamps on the $label', ({ speakers, speaker }) => {
  let dir: string;
  let voice: PiperVoice;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-timestamps-'));
    const { modelPath } = await writeBenchVoice(dir, { speakers });
    voice = await PiperVoice.load(modelPath, { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await voice?.release();
    await rm(dir, { recursive: true, force: true });
  });

  const speak = (options: SynthesisOptions): Promise<SynthesisResult> =>
    voice.synthesizeAll(TEXT, { speaker, ...options });

  /** Ids each timed phoneme (`^` and `$` included, sentence by sentence) was given. */
  const idsPerTimedPhoneme = (result: SynthesisResult): number[] =>
    result.sentences.flatMap(
      (sentence) => phonemesToIds(sentence.phonemes, voice.config).phonemeIdCounts,
    );

  it('is a network whose frames per id vary, so the checks below are not trivial', async () => {
    const result = await speak({ timestamps: true });
    const phonemeSamples = result.timestamps!.phonemes.map(
      ({ start, end }) => toSamples(end, voice.sampleRate) - toSamples(start, voice.sampleRate),
    );
    const idCounts = idsPerTimedPhoneme(result);
    // Each phoneme and its pad are two ids: equal frames per id would give one length.
    const twoIdLengths = new Set(phonemeSamples.filter((_, p) => idCounts[p] === 2));
    expect(twoIdLengths.size).toBeGreaterThanOrEqual(3);
  });

  it.each([
    { lengthScale: 1, sentenceSilenceSeconds: 0 },
    { lengthScale: 2, sentenceSilenceSeconds: 0 },
    { lengthScale: 1, sentenceSilenceSeconds: 0.3 },
  ])('gives the same audio with timestamps as without, byte for byte (%o)', async (options) => {
    const timed = await speak({ ...options, timestamps: true });
    const plain = await speak(options);
    expect(timed.pcm.length).toBe(plain.pcm.length);
    expect(Buffer.from(timed.pcm.buffer).equals(Buffer.from(plain.pcm.buffer))).toBe(true);
  });

  it.each([1, 2])(
    'times phonemes whose durations add up to the audio, to the hop (length_scale %s)',
    async (lengthScale) => {
      const result = await speak({ lengthScale, timestamps: true });
      const { phonemes } = result.timestamps!;
      expect(result.sentences.length).toBeGreaterThanOrEqual(2);
      const total = phonemes.reduce(
        (sum, { start, end }) =>
          sum + toSamples(end, voice.sampleRate) - toSamples(start, voice.sampleRate),
        0,
      );
      expect(Math.abs(total - result.pcm.length)).toBeLessThanOrEqual(HOP);
      // And they tile it: each starts where the one before ended, the last ends it.
      phonemes.slice(1).forEach((phoneme, p) => expect(phoneme.start).toBe(phonemes[p].end));
      expect(phonemes[0].start).toBe(0);
      expect(toSamples(phonemes.at(-1)!.end, voice.sampleRate)).toBe(result.pcm.length);
    },
  );

  it('doubles every word and phoneme with length_scale 2, to the frame Ceil loses per id', async () => {
    const normal = await speak({ timestamps: true });
    const slow = await speak({ lengthScale: 2, timestamps: true });
    const samples = (span: { start: number; end: number }): number =>
      toSamples(span.end, voice.sampleRate) - toSamples(span.start, voice.sampleRate);

    // Phonemes: Ceil(2w) is 2·Ceil(w) or one frame less, for each of the phoneme's ids.
    const idCounts = idsPerTimedPhoneme(normal);
    const normalPhonemes = normal.timestamps!.phonemes;
    const slowPhonemes = slow.timestamps!.phonemes;
    expect(slowPhonemes.map((p) => p.phoneme)).toEqual(normalPhonemes.map((p) => p.phoneme));
    normalPhonemes.forEach((phoneme, p) => {
      const doubled = 2 * samples(phoneme);
      const stretched = samples(slowPhonemes[p]);
      expect(stretched).toBeLessThanOrEqual(doubled);
      expect(stretched).toBeGreaterThanOrEqual(doubled - idCounts[p] * HOP);
    });

    // Words: the same, summed over the ids of the phonemes inside the word.
    const normalWords = normal.timestamps!.words;
    const slowWords = slow.timestamps!.words;
    expect(slowWords.map((w) => w.text)).toEqual(normalWords.map((w) => w.text));
    expect(normalWords.map((w) => w.text)).toEqual(expect.arrayContaining(['3rd', '$12', 'Dr']));
    normalWords.forEach((word, w) => {
      const ids = normalPhonemes.reduce(
        (sum, phoneme, p) =>
          phoneme.start >= word.start && phoneme.end <= word.end ? sum + idCounts[p] : sum,
        0,
      );
      if (ids === 0) {
        // espeak-ng joined it to its neighbour ("On the" is one word, ɔnðə): an instant.
        expect([samples(word), samples(slowWords[w])]).toEqual([0, 0]);
        return;
      }
      const doubled = 2 * samples(word);
      const stretched = samples(slowWords[w]);
      expect(stretched).toBeLessThanOrEqual(doubled);
      expect(stretched).toBeGreaterThanOrEqual(doubled - ids * HOP);
      // Twice as long, give or take one frame per id: at least 1.5× for every word here.
      expect(stretched).toBeGreaterThan(1.5 * samples(word));
    });
  });
});
