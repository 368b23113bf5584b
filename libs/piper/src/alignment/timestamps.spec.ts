import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { AlignmentsUnavailableError } from '../errors';
import { PiperVoice } from '../piper-voice';
import { TEST_VOICE_HOP_LENGTH, testVoiceFramesPerId, writeTestVoice } from '../voice-builder';

const NOT_SPOKEN = new Set([' ', '.', ',', '?', '!', ':', ';']);

describe('timestamps', () => {
  let dir: string;
  let voice: PiperVoice;
  let configPath: string;
  let modelPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'timestamps-'));
    ({ modelPath, configPath } = await writeTestVoice(dir));
    voice = await PiperVoice.load(modelPath);
  });
  afterAll(async () => {
    await voice.release();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([0.5, 1, 1.5, 2])(
    'times every phoneme and word of the test voice exactly at length_scale %s',
    async (lengthScale) => {
      const text = 'Hello world. This is a test, again!';
      const silence = 0.25;
      const options = { lengthScale, sentenceSilenceSeconds: silence, timestamps: true };
      const result = await voice.synthesizeAll(text, options);
      const plain = await voice.synthesizeAll(text, { ...options, timestamps: false });
      expect(Buffer.from(result.pcm.buffer)).toEqual(Buffer.from(plain.pcm.buffer));

      const perId = testVoiceFramesPerId(lengthScale) * TEST_VOICE_HOP_LENGTH;
      const silenceSamples = Math.trunc(silence * 22050);
      const timestamps = result.timestamps!;
      let offset = 0;
      let phoneme = 0;
      const expectedWords: Array<{ start: number; end: number }> = [];
      for (const sentence of result.sentences) {
        // ^ and its pad, each phoneme and its pad, $.
        const ids = [2, ...sentence.phonemes.map(() => 2), 1];
        let position = offset;
        let wordStart = -1;
        sentence.phonemes.forEach((symbol, p) => {
          const start = position + (p === 0 ? 2 * perId : 0);
          if (p === 0) position += 2 * perId;
          const end = position + 2 * perId;
          if (!NOT_SPOKEN.has(symbol) && wordStart < 0) wordStart = start;
          const next = sentence.phonemes[p + 1];
          if (!NOT_SPOKEN.has(symbol) && (next === undefined || NOT_SPOKEN.has(next))) {
            expectedWords.push({ start: wordStart / 22050, end: end / 22050 });
            wordStart = -1;
          }
          position = end;
        });
        ids.forEach((count, i) => {
          const entry = timestamps.phonemes[phoneme++];
          const start = offset + ids.slice(0, i).reduce((a, b) => a + b, 0) * perId;
          expect(entry.start).toBeCloseTo(start / 22050, 5);
          expect(entry.end).toBeCloseTo((start + count * perId) / 22050, 5);
        });
        expect(sentence.speechSamples).toBe(ids.reduce((a, b) => a + b, 0) * perId);
        offset += sentence.speechSamples + silenceSamples;
      }
      expect(offset).toBe(result.pcm.length);
      expect(timestamps.words.map((word) => word.text)).toEqual([
        'Hello',
        'world',
        'This',
        'is',
        'a',
        'test',
        'again',
      ]);
      timestamps.words.forEach((word, i) => {
        expect(text.slice(word.charStart, word.charEnd)).toBe(word.text);
        expect(word.start).toBeCloseTo(expectedWords[i].start, 5);
        expect(word.end).toBeCloseTo(expectedWords[i].end, 5);
      });
    },
  );

  it('speaks with a network that has no Ceil node, and refuses its timestamps', async () => {
    const model = onnx.ModelProto.decode(await readFile(modelPath));
    model.graph!.node = model.graph!.node!.filter((node) => node.opType !== 'Ceil');
    const stripped = join(dir, 'no-ceil.onnx');
    await writeFile(stripped, onnx.ModelProto.encode(model).finish());
    const plain = await PiperVoice.load(stripped, { configPath });
    try {
      expect(plain.hasAlignments).toBe(false);
      const audio = await plain.synthesizeAll('Hello world.');
      expect(audio.pcm.length).toBeGreaterThan(0);
      await expect(plain.synthesizeAll('Hello world.', { timestamps: true })).rejects.toThrow(
        AlignmentsUnavailableError,
      );
    } finally {
      await plain.release();
    }
  });

  const TEXTS: Array<[string, string]> = [
    ['en-us', 'Dr. Smith paid $123.45 on 2024-01-05.'],
    ['en-us', 'It was 3:30 p.m. on Jan. 5th, 1999.'],
    ['en-us', '"Quoted," she said — twice.'],
    ['en-us', 'I love it 😀 and 🎉 too!'],
    ['en-us', 'The U.S.A. and the U.K. signed it.'],
    ['en-us', 'Call 555-0123 or e-mail me@example.com.'],
    ['en-us', 'He scored 1,000,000 points; 99.9% of them!'],
    ['en-us', "Don't won't can't — it's fine."],
    ['en-us', '(Parentheses) [brackets] {braces}.'],
    ['en-us', 'Mr. and Mrs. Jones live at 221B Baker St.'],
    ['en-us', 'Wait... what?! Really?'],
    ['en-us', 'Version 2.0.1 ships on 12/25/2025.'],
    ['de', 'Ich habe am 3. Mai 21 Äpfel gekauft.'],
    ['de', 'Das kostet 4,50 € pro Stück, d.h. günstig.'],
    ['de', '„Hallo“, sagte Dr. Müller um 14:30 Uhr.'],
    ['de', 'Straße, Größe und Übermaß.'],
    ['ru', 'Привет, мир! У меня 25 яблок.'],
    ['ru', 'Москва — столица России с 1918 года.'],
    ['ru', '«Цитата», сказал он в 10:15.'],
    ['cmn', '你好世界。我们是朋友。'],
    ['cmn', '今天是2024年1月5日，天气很好！'],
    ['cmn', '他说："我很高兴。"'],
    ['ar', 'مرحبا بالعالم، كيف حالك؟'],
    ['ar', 'عندي 25 كتابا.'],
    ['ar', 'السلام عليكم ورحمة الله.'],
    ['fr', "C'est l'été, n'est-ce pas ? 42 fois."],
    ['es', '¿Cómo estás? ¡Muy bien, gracias!'],
    ['en-us', 'Line one\nline two\n\nline three.'],
    ['en-us', 'Raw [[hɛloʊ]] phonemes and words.'],
    ['en-us', 'A'],
  ];

  it.each(TEXTS)(
    'gives %s words monotonic, inside the audio, slicing the text: %s',
    async (espeakVoice, text) => {
      const config = JSON.parse(await readFile(configPath, 'utf8')) as {
        espeak: { voice: string };
      };
      config.espeak.voice = espeakVoice;
      const languageConfig = join(dir, `${espeakVoice}.onnx.json`);
      await writeFile(languageConfig, JSON.stringify(config));
      const language = await PiperVoice.load(modelPath, {
        configPath: languageConfig,
        logger: { warn: () => undefined },
      });
      try {
        const result = await language.synthesizeAll(text, {
          timestamps: true,
          sentenceSilenceSeconds: 0.1,
        });
        const duration = result.pcm.length / result.sampleRate;
        const words = result.timestamps!.words;
        expect(words.length).toBeGreaterThan(0);
        let lastEnd = 0;
        for (const word of words) {
          expect(text.slice(word.charStart, word.charEnd)).toBe(word.text);
          expect(word.text).not.toMatch(/^\p{P}+$/u);
          expect(word.start).toBeGreaterThanOrEqual(lastEnd);
          expect(word.end).toBeGreaterThanOrEqual(word.start);
          expect(word.end).toBeLessThanOrEqual(duration);
          lastEnd = word.end;
        }
        // Most words are heard for a while (not instants).
        const heard = words.filter((word) => word.end > word.start).length;
        expect(heard).toBeGreaterThanOrEqual(Math.ceil(words.length * 0.75));
      } finally {
        await language.release();
      }
    },
  );
});
