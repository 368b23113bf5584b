import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VoiceConfigError } from './errors';
import { loadVoiceConfig, parseVoiceConfig } from './voice-config';

const minimal = {
  audio: { sample_rate: 22050 },
  espeak: { voice: 'en-us' },
  phoneme_id_map: { _: [0], '^': [1], $: [2], a: [14] },
};

function expectConfigError(json: unknown, field: string | undefined, detail: RegExp): void {
  let caught: unknown;
  try {
    parseVoiceConfig(json, '/voices/x.onnx.json');
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(VoiceConfigError);
  const error = caught as VoiceConfigError;
  expect(error.file).toBe('/voices/x.onnx.json');
  expect(error.field).toBe(field);
  expect(error.message).toContain('/voices/x.onnx.json');
  expect(error.message).toMatch(detail);
}

describe('parseVoiceConfig', () => {
  it('fills the format defaults for missing optional fields (docs/PIPER.md §2)', () => {
    const config = parseVoiceConfig(minimal, 'x.json');
    expect(config).toMatchObject({
      sampleRate: 22050,
      espeakVoice: 'en-us',
      phonemeType: 'espeak',
      inference: { noiseScale: 0.667, lengthScale: 1, noiseW: 0.8 },
      numSpeakers: 1,
      speakerIdMap: {},
      defaultSpeakerId: 0,
      hopLength: 256,
      phonemeMap: {},
      vowelClusters: [],
    });
  });

  it('ignores unknown fields and reads every known one', () => {
    const config = parseVoiceConfig(
      {
        ...minimal,
        future_field: { anything: true },
        audio: { sample_rate: 16000, quality: 'x_low' },
        inference: { noise_scale: 0.5, length_scale: 1.2, noise_w: 0.6 },
        num_speakers: 3,
        speaker_id_map: { alice: 0, bob: 2 },
        default_speaker_id: 1,
        hop_length: 512,
        vowel_clusters: ['aɪ', ['o', 'ʊ']],
        language: { code: 'en_US', name_english: 'English' },
        dataset: 'lessac',
      },
      'x.json',
    );
    expect(config.sampleRate).toBe(16000);
    expect(config.quality).toBe('x_low');
    expect(config.inference).toEqual({ noiseScale: 0.5, lengthScale: 1.2, noiseW: 0.6 });
    expect(config.speakerIdMap).toEqual({ alice: 0, bob: 2 });
    expect(config.defaultSpeakerId).toBe(1);
    expect(config.hopLength).toBe(512);
    expect(config.vowelClusters).toEqual([
      ['a', 'ɪ'],
      ['o', 'ʊ'],
    ]);
    expect(config.language.nameEnglish).toBe('English');
    expect(config.dataset).toBe('lessac');
  });

  it('names the field that is missing or wrong', () => {
    expectConfigError({ ...minimal, phoneme_id_map: undefined }, 'phoneme_id_map', /missing/);
    expectConfigError({ ...minimal, audio: {} }, 'audio.sample_rate', /missing/);
    expectConfigError({ ...minimal, audio: undefined }, 'audio', /missing/);
    expectConfigError(
      { ...minimal, audio: { sample_rate: 'fast' } },
      'audio.sample_rate',
      /positive integer/,
    );
    expectConfigError({ ...minimal, espeak: {} }, 'espeak.voice', /missing/);
    expectConfigError(
      { ...minimal, phoneme_id_map: { '^': [1], $: [2] } },
      'phoneme_id_map["_"]',
      /missing/,
    );
    expectConfigError(
      { ...minimal, phoneme_id_map: { ...minimal.phoneme_id_map, b: 'x' } },
      'phoneme_id_map["b"]',
      /array of ids/,
    );
    expectConfigError(
      { ...minimal, num_speakers: 2, speaker_id_map: { carol: 5 } },
      'speaker_id_map["carol"]',
      /below num_speakers/,
    );
    expectConfigError(
      { ...minimal, inference: { noise_scale: -1 } },
      'inference.noise_scale',
      /non-negative/,
    );
    expectConfigError([1, 2], '(root)', /object/);
  });

  it('does not need espeak.voice for phoneme_type "text"', () => {
    const config = parseVoiceConfig({ ...minimal, espeak: undefined, phoneme_type: 'text' }, 'x');
    expect(config.phonemeType).toBe('text');
  });
});

describe('loadVoiceConfig', () => {
  it('reports a missing file and invalid JSON with the file name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voice-config-'));
    const missing = join(dir, 'nope.onnx.json');
    await expect(loadVoiceConfig(missing)).rejects.toThrow(VoiceConfigError);
    await expect(loadVoiceConfig(missing)).rejects.toThrow(/nope\.onnx\.json: file not found/);

    const broken = join(dir, 'broken.onnx.json');
    await writeFile(broken, '{"audio": {');
    await expect(loadVoiceConfig(broken)).rejects.toThrow(/broken\.onnx\.json: invalid JSON/);

    const good = join(dir, 'good.onnx.json');
    await writeFile(good, JSON.stringify(minimal));
    await expect(loadVoiceConfig(good)).resolves.toMatchObject({ sampleRate: 22050 });
  });
});
