// Must precede onnxruntime-node: see the module's header.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { InferenceSession, Tensor } from 'onnxruntime-node';

import { ESPEAK_PHONEME_ID_MAP } from './espeak-phoneme-id-map';
import {
  VoiceScales,
  roundHalfToEven,
  testVoiceFramesPerId,
  testVoiceReferenceAudio,
  writeTestVoice,
} from './test-voice';
import { GeneratedVoiceConfig } from './voice-files';

/** Runs a Piper-interface session the way the engine does (docs/PIPER.md §5). */
async function synthesize(
  session: InferenceSession,
  ids: readonly number[],
  scales: VoiceScales,
  speakerId?: number,
  inputLength = ids.length,
): Promise<Tensor> {
  const feeds: Record<string, Tensor> = {
    input: new Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
    input_lengths: new Tensor('int64', BigInt64Array.of(BigInt(inputLength)), [1]),
    scales: new Tensor(
      'float32',
      Float32Array.of(scales.noiseScale, scales.lengthScale, scales.noiseW),
      [3],
    ),
  };
  if (speakerId !== undefined) {
    feeds.sid = new Tensor('int64', BigInt64Array.of(BigInt(speakerId)), [1]);
  }
  const { output } = await session.run(feeds);
  return output;
}

function maxAbsDifference(actual: Float32Array, expected: Float32Array): number {
  expect(actual).toHaveLength(expected.length);
  return actual.reduce((max, value, i) => Math.max(max, Math.abs(value - expected[i])), 0);
}

// "test" in en-us with Piper's id framing (§4): ^ _ t _ ˈ _ ɛ _ s _ t _ $
const TEST_WORD_IDS = [1, 0, 32, 0, 120, 0, 61, 0, 31, 0, 32, 0, 2];
const DEFAULT_SCALES: VoiceScales = { noiseScale: 0.667, lengthScale: 1, noiseW: 0.8 };
/** float32 evaluation of the same formula; observed differences are about 3e-7. */
const FLOAT32_TOLERANCE = 1e-5;

describe('test voice', () => {
  let outDir: string;

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'piper-test-voice-'));
  });

  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  describe('single speaker', () => {
    let session: InferenceSession;
    let configPath: string;
    let modelPath: string;

    beforeAll(async () => {
      ({ modelPath, configPath } = await writeTestVoice(outDir));
      session = await InferenceSession.create(modelPath);
    });

    afterAll(async () => {
      await session.release();
    });

    it('writes <dir>/test-voice.onnx and test-voice.onnx.json', () => {
      expect(modelPath).toBe(join(outDir, 'test-voice.onnx'));
      expect(configPath).toBe(join(outDir, 'test-voice.onnx.json'));
    });

    it("declares Piper's inputs without sid, and a [1, 1, 1, time] output", () => {
      expect(session.inputNames).toEqual(['input', 'input_lengths', 'scales']);
      expect(session.outputNames).toEqual(['output']);
      expect(session.outputMetadata[0]).toMatchObject({
        isTensor: true,
        type: 'float32',
        shape: [1, 1, 1, 'time'],
      });
      const shapes = Object.fromEntries(
        session.inputMetadata.map((meta) => [
          meta.name,
          meta.isTensor ? [meta.type, meta.shape] : [],
        ]),
      );
      expect(shapes).toEqual({
        input: ['int64', ['batch_size', 'phonemes']],
        input_lengths: ['int64', ['batch_size']],
        scales: ['float32', [3]],
      });
    });

    it.each([
      ['"test" at the default scales', TEST_WORD_IDS, DEFAULT_SCALES],
      [
        'every id class at length_scale 1.5 (6 frames)',
        [1, 0, 14, 3, 61, 153, 165, 2],
        { noiseScale: 0, lengthScale: 1.5, noiseW: 0 },
      ],
      [
        'a short sentence with other noise values',
        [1, 0, 10, 2],
        { noiseScale: 0.333, lengthScale: 1, noiseW: 0.5 },
      ],
      [
        'length_scale 0.625 (2.5 frames rounds to even: 2)',
        TEST_WORD_IDS,
        { noiseScale: 1, lengthScale: 0.625, noiseW: 0.2 },
      ],
    ])('matches testVoiceReferenceAudio for %s', async (_case, ids, scales) => {
      const output = await synthesize(session, ids, scales);
      const expected = testVoiceReferenceAudio(ids, scales, 0);
      const samplesPerId = testVoiceFramesPerId(scales.lengthScale) * 256;
      expect(output.dims).toEqual([1, 1, 1, ids.length * samplesPerId]);
      expect(maxAbsDifference(output.data as Float32Array, expected)).toBeLessThan(
        FLOAT32_TOLERANCE,
      );
    });

    it('gives 4 frames (1024 samples) per id at length_scale 1 and 6 at 1.5', async () => {
      const normal = await synthesize(session, TEST_WORD_IDS, DEFAULT_SCALES);
      const slow = await synthesize(session, TEST_WORD_IDS, {
        ...DEFAULT_SCALES,
        lengthScale: 1.5,
      });
      expect(normal.dims[3]).toBe(TEST_WORD_IDS.length * 1024);
      expect(slow.dims[3]).toBe(TEST_WORD_IDS.length * 1536);
    });

    it('tells apart wrong ids, wrong scales and a swapped noise_scale/noise_w', async () => {
      const audio = (await synthesize(session, TEST_WORD_IDS, DEFAULT_SCALES)).data as Float32Array;
      const wrongId = [...TEST_WORD_IDS];
      wrongId[2] = 33;
      const swapped = {
        ...DEFAULT_SCALES,
        noiseScale: DEFAULT_SCALES.noiseW,
        noiseW: DEFAULT_SCALES.noiseScale,
      };
      for (const [ids, scales] of [
        [wrongId, DEFAULT_SCALES],
        [TEST_WORD_IDS, swapped],
        [TEST_WORD_IDS, { ...DEFAULT_SCALES, noiseScale: 0 }],
      ] as const) {
        // The swap moves the phase by 0.133 rad: a 0.066 difference, 6600× the tolerance.
        expect(maxAbsDifference(audio, testVoiceReferenceAudio(ids, scales, 0))).toBeGreaterThan(
          0.01,
        );
      }
    });

    it('silences ids at and beyond input_lengths', async () => {
      const output = await synthesize(session, TEST_WORD_IDS, DEFAULT_SCALES, undefined, 10);
      const expected = testVoiceReferenceAudio(TEST_WORD_IDS, DEFAULT_SCALES, 0).fill(0, 10 * 1024);
      expect(maxAbsDifference(output.data as Float32Array, expected)).toBeLessThan(
        FLOAT32_TOLERANCE,
      );
    });

    it('writes a published-style en_US espeak config (docs/PIPER.md §2)', async () => {
      const config = JSON.parse(await readFile(configPath, 'utf8')) as GeneratedVoiceConfig;
      expect(config).toEqual({
        audio: { sample_rate: 22050, quality: 'medium' },
        espeak: { voice: 'en-us' },
        inference: { noise_scale: 0.667, length_scale: 1, noise_w: 0.8 },
        phoneme_type: 'espeak',
        phoneme_map: {},
        phoneme_id_map: ESPEAK_PHONEME_ID_MAP,
        num_symbols: 256,
        num_speakers: 1,
        speaker_id_map: {},
        hop_length: 256,
        language: {
          code: 'en_US',
          family: 'en',
          region: 'US',
          name_native: 'English',
          name_english: 'English',
          country_english: 'United States',
        },
        dataset: 'test-voice',
        piper_version: '1.0.0',
      });
      expect(Object.keys(config.phoneme_id_map)).toHaveLength(159);
      expect(config.phoneme_id_map).toMatchObject({
        _: [0],
        '^': [1],
        $: [2],
        ' ': [3],
        t: [32],
        ˈ: [120],
      });
    });
  });

  describe('three speakers', () => {
    let session: InferenceSession;
    let configPath: string;

    beforeAll(async () => {
      let modelPath: string;
      ({ modelPath, configPath } = await writeTestVoice(outDir, { name: 'multi', speakers: 3 }));
      session = await InferenceSession.create(modelPath);
    });

    afterAll(async () => {
      await session.release();
    });

    it('declares sid int64 [1] after the other inputs', () => {
      expect(session.inputNames).toEqual(['input', 'input_lengths', 'scales', 'sid']);
      const sid = session.inputMetadata.find((meta) => meta.name === 'sid');
      expect(sid).toMatchObject({ isTensor: true, type: 'int64', shape: [1] });
    });

    it.each([0, 1, 2])('matches the reference for speaker %d and no other', async (speakerId) => {
      const scales = { noiseScale: 0.5, lengthScale: 1.5, noiseW: 0.25 };
      const audio = (await synthesize(session, TEST_WORD_IDS, scales, speakerId))
        .data as Float32Array;
      for (const candidate of [0, 1, 2]) {
        const difference = maxAbsDifference(
          audio,
          testVoiceReferenceAudio(TEST_WORD_IDS, scales, candidate),
        );
        if (candidate === speakerId) expect(difference).toBeLessThan(FLOAT32_TOLERANCE);
        else expect(difference).toBeGreaterThan(0.1);
      }
    });

    it('names every speaker in the config', async () => {
      const config = JSON.parse(await readFile(configPath, 'utf8')) as GeneratedVoiceConfig;
      expect(config.num_speakers).toBe(3);
      expect(config.speaker_id_map).toEqual({ speaker_0: 0, speaker_1: 1, speaker_2: 2 });
      expect(config.dataset).toBe('multi');
    });
  });

  it('rejects a name that would leave the output directory', async () => {
    await expect(writeTestVoice(outDir, { name: '../escape' })).rejects.toThrow(RangeError);
  });
});

describe(roundHalfToEven.name, () => {
  it('rounds halves to the even neighbour like ONNX Round', () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4, 2.6, 6].map(roundHalfToEven)).toEqual([0, 2, 2, 4, 2, 3, 6]);
  });
});

const PEER_CONFIG = join(
  __dirname,
  '../../../../../shared/peer-fixtures/piper1-gpl/test_voice.onnx.json',
);

describe('ESPEAK_PHONEME_ID_MAP', () => {
  // The piper1-gpl fixture is on the project's CI and development machines only (beside the
  // repository); a user's clone skips this check.
  (existsSync(PEER_CONFIG) ? it : it.skip)(
    'equals the phoneme_id_map of the piper1-gpl test voice (skipped where ../shared is absent)',
    async () => {
      const peer = JSON.parse(await readFile(PEER_CONFIG, 'utf8')) as {
        phoneme_id_map: Record<string, number[]>;
      };
      expect(ESPEAK_PHONEME_ID_MAP).toEqual(peer.phoneme_id_map);
    },
  );
});
