// Must precede onnxruntime-node: see the module's header.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { InferenceSession, Tensor } from 'onnxruntime-node';

import { BENCH_VOICE_FRAMES_PER_ID, buildBenchVoiceModel, writeBenchVoice } from './bench-voice';
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
): Promise<Tensor> {
  const { output } = await session.run({
    input: new Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
    input_lengths: new Tensor('int64', BigInt64Array.of(BigInt(ids.length)), [1]),
    scales: new Tensor('float32', Float32Array.of(0.667, lengthScale, 0.8), [3]),
  });
  return output;
}

describe('bench voice', () => {
  let outDir: string;
  let modelPath: string;
  let configPath: string;
  let session: InferenceSession;
  let audio: Float32Array;

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'piper-bench-voice-'));
    ({ modelPath, configPath } = await writeBenchVoice(outDir, { seed: 7 }));
    session = await InferenceSession.create(modelPath, { intraOpNumThreads: 2 });
    const output = await synthesize(session, sentenceIds(ID_COUNT));
    expect(output.dims).toEqual([1, 1, 1, ID_COUNT * BENCH_VOICE_FRAMES_PER_ID * HOP_LENGTH]);
    audio = output.data as Float32Array;
  });

  afterAll(async () => {
    await session?.release();
    await rm(outDir, { recursive: true, force: true });
  });

  it("has Piper's single-speaker interface", () => {
    expect(modelPath).toBe(join(outDir, 'bench-voice.onnx'));
    expect(session.inputNames).toEqual(['input', 'input_lengths', 'scales']);
    expect(session.outputNames).toEqual(['output']);
  });

  it('gives 3 frames of 256 samples per id: 100 ids ≈ 3.5 s at 22050 Hz', () => {
    expect(audio).toHaveLength(100 * 3 * 256);
  });

  it('produces finite audio in (-1, 1) that is not constant', () => {
    expect(audio.every(Number.isFinite)).toBe(true);
    const peak = audio.reduce((max, sample) => Math.max(max, Math.abs(sample)), 0);
    expect(peak).toBeLessThan(1);
    const mean = audio.reduce((sum, sample) => sum + sample, 0) / audio.length;
    const variance = audio.reduce((sum, sample) => sum + (sample - mean) ** 2, 0) / audio.length;
    expect(Math.sqrt(variance)).toBeGreaterThan(0.01);
  });

  it('stretches with length_scale like a real voice', async () => {
    const slow = await synthesize(session, sentenceIds(10), 2);
    expect(slow.dims).toEqual([1, 1, 1, 10 * 6 * HOP_LENGTH]);
  });

  it('is deterministic for a seed and differs between seeds', async () => {
    expect(Buffer.from(buildBenchVoiceModel(7)).equals(await readFile(modelPath))).toBe(true);
    expect(Buffer.from(buildBenchVoiceModel(8)).equals(await readFile(modelPath))).toBe(false);
    const again = await synthesize(session, sentenceIds(ID_COUNT));
    // Compare bytes: toEqual walks 76 800 samples one matcher call at a time.
    const againBytes = Buffer.from((again.data as Float32Array).buffer);
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
});
