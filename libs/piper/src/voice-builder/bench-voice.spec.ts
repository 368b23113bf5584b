// Must precede onnxruntime-node: see the module's header.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { InferenceSession, Tensor } from 'onnxruntime-node';

import { withDurationsOutput } from '../alignment/duration-output';
import { BENCH_VOICE_VCTK_SPEAKERS, buildBenchVoiceModel, writeBenchVoice } from './bench-voice';
import { GeneratedVoiceConfig } from './voice-files';

const ID_COUNT = 100;
const HOP_LENGTH = 256;

/** 100 ids spread over the espeak id range, framed like a sentence (docs/PIPER.md §4). */
function sentenceIds(count: number): number[] {
  return Array.from({ length: count }, (_, i) =>
    i === 0 ? 1 : i === count - 1 ? 2 : i % 2 === 1 ? 0 : 14 + ((i * 37) % 140),
  );
}

async function synthesize(
  session: InferenceSession,
  ids: readonly number[],
  lengthScale = 1,
  speakerId?: number,
): Promise<{ output: Tensor; frames: number[] }> {
  const results = await session.run({
    input: new Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
    input_lengths: new Tensor('int64', BigInt64Array.of(BigInt(ids.length)), [1]),
    scales: new Tensor('float32', Float32Array.of(0.667, lengthScale, 0.8), [3]),
    ...(speakerId === undefined
      ? {}
      : { sid: new Tensor('int64', BigInt64Array.of(BigInt(speakerId)), [1]) }),
  });
  const durations = session.outputNames.find((name) => name !== 'output');
  const frames = durations ? Array.from(results[durations].data as Float32Array) : [];
  return { output: results.output, frames };
}

/** A session on the network with its durations (w_ceil) made an output, as the engine does. */
async function sessionWithDurations(modelPath: string): Promise<InferenceSession> {
  const { model, durationsOutput } = withDurationsOutput(await readFile(modelPath));
  expect(durationsOutput).toBeDefined();
  return InferenceSession.create(model, { intraOpNumThreads: 2 });
}

const sum = (values: readonly number[]): number => values.reduce((total, x) => total + x, 0);

describe('bench voice', () => {
  let outDir: string;
  let modelPath: string;
  let configPath: string;
  let session: InferenceSession;
  let audio: Float32Array;
  let frames: number[];

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'piper-bench-voice-'));
    ({ modelPath, configPath } = await writeBenchVoice(outDir, { seed: 7 }));
    session = await sessionWithDurations(modelPath);
    const run = await synthesize(session, sentenceIds(ID_COUNT));
    audio = run.output.data as Float32Array;
    frames = run.frames;
  });

  afterAll(async () => {
    await session?.release();
    await rm(outDir, { recursive: true, force: true });
  });

  it("has Piper's single-speaker interface", async () => {
    expect(modelPath).toBe(join(outDir, 'bench-voice.onnx'));
    const plain = await InferenceSession.create(modelPath);
    try {
      expect(plain.inputNames).toEqual(['input', 'input_lengths', 'scales']);
      expect(plain.outputNames).toEqual(['output']);
    } finally {
      await plain.release();
    }
  });

  it('predicts frames per id that depend on the ids, about 3 on average', () => {
    expect(frames).toHaveLength(ID_COUNT);
    expect(frames.every((f) => Number.isInteger(f) && f >= 2 && f <= 5)).toBe(true);
    expect(new Set(frames).size).toBeGreaterThanOrEqual(3);
    const mean = sum(frames) / ID_COUNT;
    expect(mean).toBeGreaterThan(2.5);
    expect(mean).toBeLessThan(3.5);
  });

  it('speaks exactly its durations times the hop: 100 ids ≈ 3.5 s at 22050 Hz', () => {
    expect(audio).toHaveLength(sum(frames) * HOP_LENGTH);
  });

  it('produces finite audio in (-1, 1) that is not constant', () => {
    expect(audio.every(Number.isFinite)).toBe(true);
    const peak = audio.reduce((max, sample) => Math.max(max, Math.abs(sample)), 0);
    expect(peak).toBeLessThan(1);
    const mean = audio.reduce((sum, sample) => sum + sample, 0) / audio.length;
    const variance = audio.reduce((sum, sample) => sum + (sample - mean) ** 2, 0) / audio.length;
    expect(Math.sqrt(variance)).toBeGreaterThan(0.01);
  });

  it('stretches with length_scale like a real voice: Ceil(exp(logw)·length_scale)', async () => {
    const slow = await synthesize(session, sentenceIds(ID_COUNT), 2);
    // Ceil(2w) is 2·Ceil(w) or one frame less, id by id.
    slow.frames.forEach((f, id) => expect([2 * frames[id] - 1, 2 * frames[id]]).toContain(f));
    expect(slow.output.dims).toEqual([1, 1, 1, sum(slow.frames) * HOP_LENGTH]);
  });

  it('is deterministic for a seed and differs between seeds', async () => {
    expect(Buffer.from(buildBenchVoiceModel(7)).equals(await readFile(modelPath))).toBe(true);
    expect(Buffer.from(buildBenchVoiceModel(8)).equals(await readFile(modelPath))).toBe(false);
    const again = await synthesize(session, sentenceIds(ID_COUNT));
    // Compare bytes: toEqual walks ~77 000 samples one matcher call at a time.
    const againBytes = Buffer.from((again.output.data as Float32Array).buffer);
    expect(againBytes.equals(Buffer.from(audio.buffer))).toBe(true);
  });

  it('writes a single-speaker medium config named after the voice', async () => {
    const config = JSON.parse(await readFile(configPath, 'utf8')) as GeneratedVoiceConfig;
    expect(config).toMatchObject({
      audio: { sample_rate: 22050, quality: 'medium' },
      num_speakers: 1,
      speaker_id_map: {},
      hop_length: 256,
      dataset: 'bench-voice',
    });
  });

  it('has a 109-speaker variant that takes sid and speaks each speaker at its own rate', async () => {
    const many = await writeBenchVoice(outDir, { name: 'vctk', seed: 7, speakers: 109 });
    const config = JSON.parse(await readFile(many.configPath, 'utf8')) as GeneratedVoiceConfig;
    expect(config.num_speakers).toBe(BENCH_VOICE_VCTK_SPEAKERS);
    expect(Object.keys(config.speaker_id_map)).toHaveLength(109);
    const multi = await sessionWithDurations(many.modelPath);
    try {
      expect(multi.inputNames).toEqual(['input', 'input_lengths', 'scales', 'sid']);
      const ids = sentenceIds(ID_COUNT);
      const first = await synthesize(multi, ids, 1, 0);
      const last = await synthesize(multi, ids, 1, 108);
      expect(first.frames).not.toEqual(last.frames);
      for (const run of [first, last]) {
        expect(run.output.dims).toEqual([1, 1, 1, sum(run.frames) * HOP_LENGTH]);
      }
      const firstBytes = Buffer.from((first.output.data as Float32Array).buffer);
      expect(firstBytes.equals(Buffer.from((last.output.data as Float32Array).buffer))).toBe(false);
    } finally {
      await multi.release();
    }
  });
});
