/**
 * Compatibility with a voice this project did not make: the test voice of piper1-gpl's
 * own test suite (../shared/peer-fixtures/piper1-gpl/). Its network speaks one second
 * of silence per sentence; its documented phonemes and ids are Piper's test
 * expectations. ../shared exists on development machines and in CI only.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeWav, encodeWav, PiperVoice } from '@app/piper';
import { describeUnless } from './support/skips';

const PEER_DIR = resolve(__dirname, '../../shared/peer-fixtures/piper1-gpl');
const PEER_MODEL = join(PEER_DIR, 'test_voice.onnx');
const available = existsSync(PEER_MODEL);
const describePeer = describeUnless(
  available
    ? undefined
    : `${PEER_MODEL} is absent (it lives in ../shared on CI and development machines)`,
);

describePeer('piper1-gpl test voice', () => {
  let voice: PiperVoice;

  beforeAll(async () => {
    voice = await PiperVoice.load(PEER_MODEL, { intraOpThreads: 1 });
  });

  afterAll(async () => {
    await voice.release();
  });

  it('loads with the documented configuration', () => {
    expect(voice.config.sampleRate).toBe(22050);
    expect(voice.config.numSymbols).toBe(256);
    expect(voice.config.numSpeakers).toBe(1);
    expect(voice.config.phonemeType).toBe('espeak');
    expect(voice.config.espeakVoice).toBe('en-us');
    expect(Object.keys(voice.config.phonemeIdMap)).toHaveLength(159);
    expect(voice.model.hasSpeakerInput).toBe(false);
  });

  it('phonemizes "Test 1. Test 2." into the phonemes and ids of Piper\'s test suite', () => {
    const sentences = voice.phonemize('Test 1. Test 2.');
    expect(sentences).toEqual([
      ['t', 'ˈ', 'ɛ', 's', 't', ' ', 'w', 'ˈ', 'ʌ', 'n', '.'],
      ['t', 'ˈ', 'ɛ', 's', 't', ' ', 't', 'ˈ', 'u', 'ː', '.'],
    ]);
    expect(sentences.map((phonemes) => voice.phonemesToIds(phonemes))).toEqual([
      [1, 0, 32, 0, 120, 0, 61, 0, 31, 0, 32, 0, 3, 0, 35, 0, 120, 0, 102, 0, 26, 0, 10, 0, 2],
      [1, 0, 32, 0, 120, 0, 61, 0, 31, 0, 32, 0, 3, 0, 32, 0, 120, 0, 33, 0, 122, 0, 10, 0, 2],
    ]);
  });

  it('keeps raw [[ phoneme ]] blocks inside the sentence', () => {
    const sentences = voice.phonemize('I am the [[ bˈætmæn ]] not [[bɹˈuːs wˈeɪn]]');
    expect(sentences).toHaveLength(1);
    expect(sentences.map((s) => s.join('')).join('')).toBe('aɪɐm ðə bˈætmæn nˈɑːt bɹˈuːs wˈeɪn');
    const rawOnly = voice.phonemize('[[ bˈætmæn ɪz bɹˈuːs wˈeɪn ]]');
    expect(rawOnly.map((s) => s.join('')).join('')).toBe('bˈætmæn ɪz bɹˈuːs wˈeɪn');
  });

  it('synthesizes one second of silence per sentence, as WAV', async () => {
    const chunks = [];
    for await (const chunk of voice.synthesize('This is a test. This is another test.'))
      chunks.push(chunk);
    expect(chunks).toHaveLength(2);
    for (const chunk of chunks) {
      expect(chunk.sampleRate).toBe(22050);
      expect(chunk.pcm).toHaveLength(22050);
      expect(chunk.pcm.every((sample) => sample === 0)).toBe(true);
    }
    const result = await voice.synthesizeAll('This is a test. This is another test.');
    const wav = decodeWav(encodeWav(result.pcm, result.sampleRate));
    expect(wav.sampleRate).toBe(22050);
    expect(wav.bitsPerSample).toBe(16);
    expect(wav.pcm).toHaveLength(2 * 22050);
  });

  it('merges vowel clusters when the config lists them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peer-clusters-'));
    try {
      const config = JSON.parse(await readFile(`${PEER_MODEL}.json`, 'utf8')) as Record<
        string,
        unknown
      >;
      config.vowel_clusters = [
        ['a', 'ɪ'],
        ['a', 'ʊ'],
        ['ɔ', 'ɪ'],
        ['e', 'ɪ'],
        ['o', 'ʊ'],
      ];
      await copyFile(PEER_MODEL, join(dir, 'clusters.onnx'));
      await writeFile(join(dir, 'clusters.onnx.json'), JSON.stringify(config));
      const clustered = await PiperVoice.load(join(dir, 'clusters.onnx'), { intraOpThreads: 1 });
      const sentences = clustered.phonemize('my cow toy day no');
      expect(sentences).toEqual([
        [
          'm',
          'aɪ',
          ' ',
          'k',
          'ˈ',
          'aʊ',
          ' ',
          't',
          'ˈ',
          'ɔɪ',
          ' ',
          'd',
          'ˈ',
          'eɪ',
          ' ',
          'n',
          'ˈ',
          'oʊ',
        ],
      ]);
      expect(clustered.phonemesToIds(sentences[0])).toEqual([
        1, 0, 25, 0, 161, 0, 3, 0, 23, 0, 120, 0, 162, 0, 3, 0, 32, 0, 120, 0, 163, 0, 3, 0, 17, 0,
        120, 0, 164, 0, 3, 0, 26, 0, 120, 0, 165, 0, 2,
      ]);
      await clustered.release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
