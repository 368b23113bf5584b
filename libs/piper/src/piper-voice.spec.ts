import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { floatToPcm16 } from './audio';
import {
  EmptyTextError,
  InvalidSynthesisOptionError,
  SpeakerNotFoundError,
  VoiceConfigError,
  VoiceModelError,
} from './errors';
import { PiperVoice, splitAtClauses, splitOverlongSentence } from './piper-voice';
import { testVoiceReferenceAudio, writeTestVoice } from './voice-builder';

const HOP_LENGTH = 256;
const FRAMES_PER_ID = 4;

describe(PiperVoice.name, () => {
  let dir: string;
  let voice: PiperVoice;
  let multiSpeaker: PiperVoice;
  let multiSpeakerPaths: { modelPath: string; configPath: string };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'piper-voice-'));
    const single = await writeTestVoice(dir, { name: 'single' });
    multiSpeakerPaths = await writeTestVoice(dir, { name: 'multi', speakers: 3 });
    voice = await PiperVoice.load(single.modelPath, { intraOpThreads: 1 });
    multiSpeaker = await PiperVoice.load(multiSpeakerPaths.modelPath, { intraOpThreads: 1 });
  });

  afterAll(async () => {
    await voice.release();
    await multiSpeaker.release();
    await rm(dir, { recursive: true, force: true });
  });

  it('speaks "test": the ids of its phonemes reach the network and shape the audio', async () => {
    const chunks = [];
    for await (const chunk of voice.synthesize('test')) chunks.push(chunk);
    expect(chunks).toHaveLength(1);
    const [chunk] = chunks;
    expect(chunk.phonemes).toEqual(['t', 'ˈ', 'ɛ', 's', 't']);
    expect(chunk.phonemeIds).toEqual(voice.phonemesToIds(chunk.phonemes));
    expect(chunk.phonemeIds).toHaveLength(2 * 5 + 3);
    expect(chunk.sampleRate).toBe(22050);
    expect(chunk.pcm).toHaveLength(chunk.phonemeIds.length * FRAMES_PER_ID * HOP_LENGTH);

    const { noiseScale, lengthScale, noiseW } = voice.config.inference;
    const expected = floatToPcm16(
      testVoiceReferenceAudio(chunk.phonemeIds, { noiseScale, lengthScale, noiseW }, 0),
    );
    expectPcmClose(chunk.pcm, expected);
  });

  it('warms up with one run of the network on its own phonemes, and speaks the same afterwards', async () => {
    for (const warmed of [voice, multiSpeaker]) {
      const before = await warmed.synthesizeAll('Warm up, then speak.', { speaker: 0 });
      const infer = jest.spyOn(warmed.model, 'infer');
      try {
        await warmed.warmUp();
        expect(infer).toHaveBeenCalledTimes(1);
        const [ids, scales, speakerId] = infer.mock.calls[0];
        // "^" "_" then 60 phonemes each followed by "_", then "$".
        expect(ids).toHaveLength(2 + 2 * 60 + 1);
        expect(Math.max(...ids)).toBeLessThan(256);
        expect(scales).toEqual(warmed.config.inference);
        expect(speakerId).toBe(warmed.config.numSpeakers > 1 ? 0 : undefined);
      } finally {
        infer.mockRestore();
      }
      const after = await warmed.synthesizeAll('Warm up, then speak.', { speaker: 0 });
      expect(after.pcm).toEqual(before.pcm);
    }
  });

  it('stretches every id by round(frames × length_scale) frames', async () => {
    const normal = await voice.synthesizeAll('test');
    const slow = await voice.synthesizeAll('test', { lengthScale: 1.5 });
    const fast = await voice.synthesizeAll('test', { lengthScale: 0.5 });
    const ids = normal.sentences[0].phonemeIds.length;
    expect(normal.pcm).toHaveLength(ids * 4 * HOP_LENGTH);
    expect(slow.pcm).toHaveLength(ids * 6 * HOP_LENGTH);
    expect(fast.pcm).toHaveLength(ids * 2 * HOP_LENGTH);
  });

  it('passes noise_scale and noise_w to the network', async () => {
    const ids = voice.phonemesToIds(['t']);
    const result = await voice.synthesizeAll('[[t]]', { noiseScale: 0.1, noiseW: 0.3 });
    expect(result.sentences[0].phonemeIds).toEqual(ids);
    expectPcmClose(
      result.pcm,
      floatToPcm16(
        testVoiceReferenceAudio(ids, { noiseScale: 0.1, lengthScale: 1, noiseW: 0.3 }, 0),
      ),
    );
  });

  it('speaks one chunk per sentence and appends exact sentence silence', async () => {
    const plain = await voice.synthesizeAll('Test one. Test two!');
    expect(plain.sentences).toHaveLength(2);
    expect(plain.sentences[0].phonemes.at(-1)).toBe('.');
    expect(plain.sentences[1].phonemes.at(-1)).toBe('!');

    const padded = await voice.synthesizeAll('Test one. Test two!', {
      sentenceSilenceSeconds: 0.5,
    });
    expect(padded.pcm.length - plain.pcm.length).toBe(2 * 11025);
    const firstSpeech = padded.sentences[0].speechSamples;
    const silence = padded.pcm.subarray(firstSpeech, firstSpeech + 11025);
    expect(silence.every((sample) => sample === 0)).toBe(true);
    expect(padded.pcm[firstSpeech + 11025]).not.toBe(0);
  });

  it('changes the audio with the speaker, by index or by name', async () => {
    const first = await multiSpeaker.synthesizeAll('test', { speaker: 0 });
    const third = await multiSpeaker.synthesizeAll('test', { speaker: 2 });
    const thirdByName = await multiSpeaker.synthesizeAll('test', { speaker: 'speaker_2' });
    const thirdByText = await multiSpeaker.synthesizeAll('test', { speaker: '2' });
    expect(Buffer.from(first.pcm.buffer).equals(Buffer.from(third.pcm.buffer))).toBe(false);
    expect(Array.from(thirdByName.pcm)).toEqual(Array.from(third.pcm));
    expect(Array.from(thirdByText.pcm)).toEqual(Array.from(third.pcm));
    const ids = third.sentences[0].phonemeIds;
    expectPcmClose(
      third.pcm,
      floatToPcm16(testVoiceReferenceAudio(ids, multiSpeaker.config.inference, 2)),
    );
  });

  it('rejects bad requests with typed errors and stays healthy', async () => {
    await expect(voice.synthesizeAll('')).rejects.toThrow(EmptyTextError);
    await expect(voice.synthesizeAll('   \n\t ')).rejects.toThrow(EmptyTextError);
    await expect(multiSpeaker.synthesizeAll('test', { speaker: 3 })).rejects.toThrow(
      SpeakerNotFoundError,
    );
    await expect(multiSpeaker.synthesizeAll('test', { speaker: 'nobody' })).rejects.toThrow(
      /speaker "nobody" not found in voice multi/,
    );
    await expect(voice.synthesizeAll('test', { speaker: 1 })).rejects.toThrow(SpeakerNotFoundError);
    await expect(voice.synthesizeAll('test', { lengthScale: 0 })).rejects.toThrow(
      InvalidSynthesisOptionError,
    );
    await expect(voice.synthesizeAll('test', { volume: Number.NaN })).rejects.toThrow(/volume/);
    const after = await voice.synthesizeAll('test');
    expect(after.pcm.length).toBeGreaterThan(0);
  });

  it('gives a defined result for hostile text', async () => {
    const inputs = [
      '😀🎉 emoji only',
      'مرحبا بالعالم and שלום עולם',
      'e\u0301te\u0301 combining marks',
      'control\u0000chars\u0007and\u001b[31m escapes',
      '\u0000\u0001\u0002',
      '\ud800 lone surrogate',
    ];
    for (const text of inputs) {
      try {
        const result = await voice.synthesizeAll(text);
        expect(result.pcm.length).toBeGreaterThan(0);
      } catch (error) {
        expect(error).toBeInstanceOf(EmptyTextError);
      }
    }
  });

  it('phonemizes 100,000 characters without failing', () => {
    const text = 'This is a fairly ordinary sentence, repeated many times. '
      .repeat(1755)
      .slice(0, 100_000);
    const sentences = voice.phonemize(text);
    expect(sentences.length).toBeGreaterThan(1000);
    expect(sentences.every((sentence) => sentence.length > 0)).toBe(true);
  });

  it('cuts only overlong sentences, at word boundaries, so memory stays bounded', async () => {
    const words = Array.from({ length: 10 }, () => ['a', 'b', 'c', ' ']).flat();
    expect(splitOverlongSentence(words, 100)).toEqual([words]);
    const parts = splitOverlongSentence(words, 10);
    expect(parts.flat()).toEqual(words);
    expect(parts.every((part) => part.length <= 10)).toBe(true);
    expect(parts.slice(0, -1).every((part) => part.at(-1) === ' ')).toBe(true);
    const noSpaces = Array.from({ length: 25 }, () => 'x');
    expect(splitOverlongSentence(noSpaces, 10).map((part) => part.length)).toEqual([10, 10, 5]);

    // 30,000 characters with no punctuation: one espeak sentence, several inferences.
    const text = 'word '.repeat(6000);
    expect(voice.phonemize(text)).toHaveLength(1);
    const controller = new AbortController();
    const chunks = [];
    for await (const chunk of voice.synthesize(text, { signal: controller.signal })) {
      chunks.push(chunk);
      if (chunks.length === 2) controller.abort();
    }
    expect(chunks).toHaveLength(2);
    expect(chunks[0].phonemes.length).toBeLessThanOrEqual(1000);
    expect(chunks[0].pcm).toHaveLength((2 * chunks[0].phonemes.length + 3) * 4 * HOP_LENGTH);
  });

  it('speaks a long first sentence clause by clause when asked (streaming)', async () => {
    expect(splitAtClauses(['a', ',', ' ', 'b', ';', ' ', 'c', '.'])).toEqual([
      ['a', ',', ' '],
      ['b', ';', ' '],
      ['c', '.'],
    ]);
    const text = 'First part, second part: third part. Next sentence, with a comma.';
    const whole = await voice.synthesizeAll(text);
    expect(whole.sentences).toHaveLength(2);
    const split = await voice.synthesizeAll(text, { firstSentenceClauseSplitPhonemes: 10 });
    expect(split.sentences.map((s) => s.phonemes.join(''))).toEqual([
      ...splitAtClauses(whole.sentences[0].phonemes).map((piece) => piece.join('')),
      whole.sentences[1].phonemes.join(''),
    ]);
    expect(split.sentences).toHaveLength(4);
    const short = await voice.synthesizeAll(text, { firstSentenceClauseSplitPhonemes: 1000 });
    expect(Array.from(short.pcm)).toEqual(Array.from(whole.pcm));
  });

  it('skips phonemes missing from the map with a warning', async () => {
    const config = JSON.parse(await readFile(join(dir, 'single.onnx.json'), 'utf8')) as {
      phoneme_id_map: Record<string, number[]>;
    };
    delete config.phoneme_id_map['ɛ'];
    const stem = join(dir, 'no-epsilon');
    await copyFile(join(dir, 'single.onnx'), `${stem}.onnx`);
    await writeFile(`${stem}.onnx.json`, JSON.stringify(config));
    const warnings: string[] = [];
    const partial = await PiperVoice.load(`${stem}.onnx`, {
      intraOpThreads: 1,
      logger: { warn: (message) => warnings.push(message) },
    });
    const result = await partial.synthesizeAll('test');
    expect(result.sentences[0].phonemeIds).toHaveLength(2 * 4 + 3);
    expect(warnings.join('\n')).toMatch(/missing from phoneme_id_map: "ɛ"/);
    await partial.release();
  });

  it('stops between sentences when the signal aborts', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    for await (const chunk of voice.synthesize('One. Two. Three.', { signal: controller.signal })) {
      seen.push(chunk.index);
      controller.abort();
    }
    expect(seen).toEqual([0]);
  });

  it('refuses a corrupt or truncated network and a config for another model', async () => {
    const onnx = await readFile(join(dir, 'single.onnx'));
    const config = await readFile(join(dir, 'single.onnx.json'));
    await writeFile(join(dir, 'truncated.onnx'), onnx.subarray(0, Math.floor(onnx.length / 2)));
    await writeFile(join(dir, 'truncated.onnx.json'), config);
    await expect(PiperVoice.load(join(dir, 'truncated.onnx'))).rejects.toThrow(VoiceModelError);
    await expect(PiperVoice.load(join(dir, 'truncated.onnx'))).rejects.toThrow(/truncated\.onnx: /);

    await writeFile(join(dir, 'garbage.onnx'), 'this is not a network');
    await writeFile(join(dir, 'garbage.onnx.json'), config);
    await expect(PiperVoice.load(join(dir, 'garbage.onnx'))).rejects.toThrow(VoiceModelError);

    await expect(PiperVoice.load(join(dir, 'absent.onnx'))).rejects.toThrow(
      /absent\.onnx\.json: file not found/,
    );

    // Multi-speaker config beside a single-speaker network.
    await copyFile(join(dir, 'single.onnx'), join(dir, 'mismatch.onnx'));
    await copyFile(multiSpeakerPaths.configPath, join(dir, 'mismatch.onnx.json'));
    const mismatch = PiperVoice.load(join(dir, 'mismatch.onnx'));
    await expect(mismatch).rejects.toThrow(VoiceConfigError);
    await expect(PiperVoice.load(join(dir, 'mismatch.onnx'))).rejects.toThrow(/num_speakers/);
  });
});

/** ONNX's sin and JavaScript's may differ in the last float bit: allow one step of int16. */
function expectPcmClose(actual: Int16Array, expected: Int16Array): void {
  expect(actual).toHaveLength(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++)
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThanOrEqual(1);
}
