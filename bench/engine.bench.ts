/**
 * npm run bench:engine — what the engine adds on top of the network.
 *
 * For the generated benchmark voice (the compute of a published medium voice) and
 * sentences of about 30, 100 and 400 phoneme ids, prints the median milliseconds of:
 *   bare   onnxruntime `session.run` on precomputed ids (the floor),
 *   whole  the library's text → PCM path (phonemize, ids, inference, int16),
 *   timed  the same with word and phoneme timestamps (issue 17: the network's
 *          durations fetched with the audio, the words phonemized alone and aligned),
 * the ratios whole/bare and timed/whole (the median of each round's ratio: rounds that
 * another engineer's load slowed slow both paths), what timestamps add outside the
 * network (the words phonemized alone and aligned: `plan` with timestamps less `plan`
 * without, which is all the timed path does more, since the network's durations come out
 * of the same run), and phonemization alone per sentence. The three paths take turns in
 * one loop on the same session settings, so machine noise hits them alike.
 * Targets: whole ≤ 1.05 × bare at 100 ids; timed ≤ 1.03 × whole; phonemization ≤ 3 ms
 * median.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PiperVoice, writeBenchVoice } from '@app/piper';
import { median } from './support';

const SENTENCES: Record<string, string> = {
  '~30 ids': 'Hello, friend.',
  '~100 ids': 'The brown fox jumps over the lazy dog.',
  '~400 ids':
    'Once upon a time, in a small village at the edge of a great forest, there lived a ' +
    'clockmaker who spent his days repairing the watches of travellers, and his nights ' +
    'building a machine that could sing.',
};

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const WARMUP = 3;

async function main(): Promise<void> {
  const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
  const dir = await mkdtemp(join(tmpdir(), 'bench-voice-'));
  try {
    const { modelPath } = await writeBenchVoice(dir);
    const voice = await PiperVoice.load(modelPath, { intraOpThreads: threads });
    const bare = await ort.InferenceSession.create(modelPath, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    const { noiseScale, lengthScale, noiseW } = voice.config.inference;
    console.log(`benchmark voice, ${threads} intra-op thread(s), ${ROUNDS} rounds, median ms`);
    console.log(
      'sentence   ids  audio s  bare ms  whole ms  timed ms  whole/bare  timed/whole  words ms  phonemize ms  RTF(bare)',
    );

    for (const [label, text] of Object.entries(SENTENCES)) {
      const sentences = voice.phonemize(text);
      const ids = sentences.flatMap((phonemes) => voice.phonemesToIds(phonemes));
      const feeds = {
        input: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
        input_lengths: new ort.Tensor('int64', BigInt64Array.of(BigInt(ids.length)), [1]),
        scales: new ort.Tensor('float32', Float32Array.of(noiseScale, lengthScale, noiseW), [3]),
      };
      const bareMs: number[] = [];
      const wholeMs: number[] = [];
      const timedMs: number[] = [];
      const timedRatios: number[] = [];
      const wordsMs: number[] = [];
      const phonemizeMs: number[] = [];
      let audioSeconds = 0;
      for (let round = 0; round < WARMUP + ROUNDS; round++) {
        // Alternate which path goes first so that neither always runs on a warmer cache.
        const runBare = async (): Promise<number> => {
          const started = performance.now();
          await bare.run(feeds);
          return performance.now() - started;
        };
        const runWhole = async (): Promise<number> => {
          const started = performance.now();
          const result = await voice.synthesizeAll(text);
          audioSeconds = result.pcm.length / result.sampleRate;
          return performance.now() - started;
        };
        const runTimed = async (): Promise<number> => {
          const started = performance.now();
          const result = await voice.synthesizeAll(text, { timestamps: true });
          if (result.timestamps === undefined || result.timestamps.words.length === 0) {
            throw new Error('the timed path returned no word timestamps');
          }
          return performance.now() - started;
        };
        // The bare session first, then the voice's two paths, in turn first: each of them
        // follows the other session as often as it follows its own (a switch costs the
        // cache), so neither path is favoured.
        const elapsed = [await runBare()];
        if (round % 2 === 0) {
          elapsed[1] = await runWhole();
          elapsed[2] = await runTimed();
        } else {
          elapsed[2] = await runTimed();
          elapsed[1] = await runWhole();
        }
        const [bareElapsed, wholeElapsed, timedElapsed] = elapsed;

        let started = performance.now();
        voice.phonemize(text);
        const phonemizeElapsed = performance.now() - started;
        started = performance.now();
        voice.plan(text);
        const planElapsed = performance.now() - started;
        started = performance.now();
        voice.plan(text, { timestamps: true });
        const timedPlanElapsed = performance.now() - started;
        if (round >= WARMUP) {
          bareMs.push(bareElapsed);
          wholeMs.push(wholeElapsed);
          timedMs.push(timedElapsed);
          timedRatios.push(timedElapsed / wholeElapsed);
          wordsMs.push(timedPlanElapsed - planElapsed);
          phonemizeMs.push(phonemizeElapsed / sentences.length);
        }
      }
      const bareMedian = median(bareMs);
      const wholeMedian = median(wholeMs);
      const timedMedian = median(timedMs);
      console.log(
        [
          label.padEnd(9),
          String(ids.length).padStart(4),
          audioSeconds.toFixed(2).padStart(8),
          bareMedian.toFixed(1).padStart(8),
          wholeMedian.toFixed(1).padStart(9),
          timedMedian.toFixed(1).padStart(9),
          (wholeMedian / bareMedian).toFixed(3).padStart(11),
          median(timedRatios).toFixed(3).padStart(12),
          median(wordsMs).toFixed(2).padStart(9),
          median(phonemizeMs).toFixed(2).padStart(13),
          (bareMedian / 1000 / audioSeconds).toFixed(3).padStart(10),
        ].join(' '),
      );
    }
    await bare.release();
    await voice.release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
