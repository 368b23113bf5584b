/**
 * SSML through the real server and worker process, on the generated test voices, whose
 * audio is a known function of the ids, length_scale and speaker: every check compares
 * an SSML request's samples with those of the plain requests it must equal.
 */
import type { NestExpressApplication } from '@nestjs/platform-express';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import request from 'supertest';
import { concatPcm, writeTestVoice } from '@app/piper';
import { parseSsml } from '@app/ssml';
import { HOSTILE_DOCUMENTS } from '../libs/ssml/src/hostile-documents';
import { PiperEngine } from '../apps/tts-server/src/engine/piper-engine';
import { VoiceRegistryService } from '../apps/tts-server/src/models/voice-registry.service';
import { planSsmlParts, ssmlSentences } from '../apps/tts-server/src/tts/ssml-audio';
import { binary } from './support/processes';
import { makeModelDir, removeDir, startServer } from './support/test-server';

const SAMPLE_RATE = 22050;
/** A copy of the test voice whose config says 16 kHz: the same network, another rate. */
const LOW_RATE_VOICE = 'low-rate-voice';
const LOW_RATE = 16000;

/**
 * A server on the generated test voices (and what `prepare` adds to its MODEL_DIR) from
 * the suite's start to its end, with `settings` and rate limits out of the way.
 */
function serveDuringSuite(
  settings: Record<string, string>,
  started: (server: {
    app: NestExpressApplication;
    http: ReturnType<NestExpressApplication['getHttpServer']>;
  }) => void,
  prepare?: (modelDir: string) => Promise<void>,
): void {
  let modelDir: string | undefined;
  let app: NestExpressApplication | undefined;
  beforeAll(async () => {
    modelDir = await makeModelDir();
    await prepare?.(modelDir);
    app = await startServer({
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'test-voice',
      RATE_LIMIT_REQUESTS: '1000',
      TTS_RATE_LIMIT_REQUESTS: '1000',
      ...settings,
    });
    started({ app, http: app.getHttpServer() });
  });
  afterAll(async () => {
    await app?.close();
    if (modelDir) await removeDir(modelDir);
  });
}

describe('SSML (POST /tts, OpenAI input)', () => {
  let http: ReturnType<NestExpressApplication['getHttpServer']>;

  serveDuringSuite(
    { MAX_TEXT_LENGTH: '200', MAX_SSML_LENGTH: '2000' },
    (started) => (http = started.http),
    async (modelDir) => {
      await writeTestVoice(modelDir, { name: LOW_RATE_VOICE });
      const configPath = join(modelDir, `${LOW_RATE_VOICE}.onnx.json`);
      const config = JSON.parse(await readFile(configPath, 'utf8')) as {
        audio: { sample_rate: number };
      };
      config.audio.sample_rate = LOW_RATE;
      await writeFile(configPath, JSON.stringify(config));
    },
  );

  /** The raw samples POST /tts answers for `body` (format pcm, the voice's own rate). */
  async function pcmOf(body: Record<string, unknown>): Promise<Int16Array> {
    const res = await request(http)
      .post('/tts')
      .send({ format: 'pcm', ...body })
      .buffer(true)
      .parse(binary)
      .expect(200);
    const bytes = res.body as Buffer;
    return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2).slice();
  }

  const ssml = (markup: string, extra: Record<string, unknown> = {}) =>
    pcmOf({ text: markup, ...extra });

  it('a 500 ms break adds exactly 0.5 s × rate zero samples between the sentences', async () => {
    const audio = await ssml('<speak>Hello.<break time="500ms"/>World.</speak>');
    const expected = concatPcm([
      await pcmOf({ text: 'Hello.' }),
      new Int16Array(0.5 * SAMPLE_RATE),
      await pcmOf({ text: 'World.' }),
    ]);
    expect(audio.length).toBe(expected.length);
    expect(audio).toEqual(expected);
  });

  it('rate="50%" is the audio of length_scale 2 for that span only', async () => {
    const audio = await ssml('<speak>Hello. <prosody rate="50%">World.</prosody> Again.</speak>');
    const expected = concatPcm([
      await pcmOf({ text: 'Hello.' }),
      await pcmOf({ text: 'World.', length_scale: 2 }),
      await pcmOf({ text: 'Again.' }),
    ]);
    expect(audio).toEqual(expected);
    expect(audio).not.toEqual(await pcmOf({ text: 'Hello. World. Again.', length_scale: 2 }));
  });

  it('a <voice> switch equals the two plain requests joined (speaker by name)', async () => {
    const audio = await ssml('<speak>Hello. <voice name="multi-voice:2">World.</voice></speak>');
    const expected = concatPcm([
      await pcmOf({ text: 'Hello.' }),
      await pcmOf({ text: 'World.', model: 'multi-voice', speaker_id: '2' }),
    ]);
    expect(audio).toEqual(expected);
  });

  it('a voice of another rate is resampled to the first voice’s rate', async () => {
    const first = await pcmOf({ text: 'Hello.' });
    const other = await pcmOf({ text: 'World.', model: LOW_RATE_VOICE });
    const audio = await ssml(
      `<speak>Hello. <voice name="${LOW_RATE_VOICE}">World.</voice></speak>`,
    );
    expect(audio.subarray(0, first.length)).toEqual(first);
    const resampled = audio.length - first.length;
    // The resampler keeps a few samples of filter delay.
    expect(Math.abs(resampled - (other.length * SAMPLE_RATE) / LOW_RATE)).toBeLessThan(100);
  });

  it('<phoneme> equals the [[ ]] request, <sub> its alias, say-as the text espeak-ng reads', async () => {
    expect(
      await ssml('<speak>Say <phoneme alphabet="ipa" ph="həlˈoʊ">hello</phoneme> now.</speak>'),
    ).toEqual(await pcmOf({ text: 'Say [[həlˈoʊ]] now.' }));
    expect(await ssml('<speak>I use the <sub alias="World Wide Web">WWW</sub>.</speak>')).toEqual(
      await pcmOf({ text: 'I use the World Wide Web.' }),
    );
    expect(
      await ssml(
        '<speak>Code <say-as interpret-as="digits">42</say-as>, <say-as interpret-as="characters">ok</say-as>.</speak>',
      ),
    ).toEqual(await pcmOf({ text: 'Code 4 2, o.k.' }));
  });

  it('streams SSML sentence by sentence with the same audio, and caches it by its markup', async () => {
    const markup = '<speak><s>One two</s><break time="200ms"/><s>three four.</s></speak>';
    const whole = await ssml(markup);
    const again = await request(http)
      .post('/tts')
      .send({ text: markup, format: 'pcm' })
      .expect(200);
    expect(again.headers['x-cache']).toBe('HIT');
    const streamed = await ssml(markup, { stream: true, text: `${markup} ` });
    expect(streamed).toEqual(whole);
  });

  it('"ssml": false reads markup as text, and "ssml": true needs a <speak> document', async () => {
    await pcmOf({ text: '<speak>Hi</speak>', ssml: false });
    const res = await request(http).post('/tts').send({ text: 'Hi', ssml: true }).expect(400);
    expect(res.body).toMatchObject({
      code: 'SSML_INVALID',
      message: expect.stringMatching(/line 1, column/),
    });
  });

  it('invalid SSML is a 400 with the line and column, never a tag read aloud', async () => {
    const res = await request(http)
      .post('/tts')
      .send({ text: '<speak>\n  Hello <prosody rate="fast">world\n</speak>' })
      .expect(400);
    expect(res.body).toMatchObject({
      statusCode: 400,
      code: 'SSML_INVALID',
      message: expect.stringMatching(/^invalid SSML at line 3, column 8: /),
    });
  });

  it('<audio> and unknown elements are a 400 naming them, or spoken with a warning when not strict', async () => {
    const markup = '<speak><audio src="a.wav">Fallback.</audio> <foo>Bar.</foo></speak>';
    const strict = await request(http).post('/tts').send({ text: markup }).expect(400);
    expect(strict.body.code).toBe('SSML_UNSUPPORTED');
    expect(strict.body.message).toContain('<audio>, <foo>');
    const lax = await request(http)
      .post('/tts')
      .send({ text: markup, ssml_strict: false, format: 'pcm' })
      .buffer(true)
      .parse(binary)
      .expect(200);
    expect(lax.headers['x-ssml-warnings']).toBe(
      '<audio> is not supported: its content was spoken as text; <foo> is not supported: its content was spoken as text',
    );
    const bytes = lax.body as Buffer;
    expect(new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2)).toEqual(
      await pcmOf({ text: 'Fallback. Bar.' }),
    );
  });

  it('MAX_TEXT_LENGTH counts the spoken text; the markup has its own bound', async () => {
    const words = 'word '.repeat(30).trim(); // 149 characters spoken
    const heavy = `<speak>${`<prosody volume="medium">${words}</prosody>`}${'<break time="1ms"/>'.repeat(40)}</speak>`;
    expect(heavy.length).toBeGreaterThan(200);
    await pcmOf({ text: heavy });
    const tooMuch = await request(http)
      .post('/tts')
      .send({ text: `<speak>${words} ${words}</speak>` })
      .expect(400);
    expect(tooMuch.body.code).toBe('TEXT_TOO_LONG');
    const tooLarge = await request(http)
      .post('/tts')
      .send({ text: `<speak>${'<break time="1ms"/>'.repeat(120)}Hi</speak>` })
      .expect(413);
    expect(tooLarge.body.code).toBe('SSML_TOO_LARGE');
  });

  it('refuses 40 hostile documents with 400 or 413, and keeps serving', async () => {
    const statuses: number[] = [];
    for (const { markup } of HOSTILE_DOCUMENTS) {
      const res = await request(http).post('/tts').send({ text: markup, ssml: true });
      statuses.push(res.status);
      expect(JSON.stringify(res.body)).not.toMatch(/\bat \S+ \(/); // no stack trace
    }
    expect(statuses.filter((status) => status !== 400 && status !== 413)).toEqual([]);
    expect(statuses).toHaveLength(40);
    await pcmOf({ text: 'Still here.' });
    await request(http).get('/health/ready').expect(200);
  });

  it('the OpenAI route speaks an input that starts with <speak as SSML', async () => {
    const speech = (input: string) =>
      request(http)
        .post('/v1/audio/speech')
        .send({ model: 'tts-1', voice: 'test-voice', input, response_format: 'wav' })
        .buffer(true)
        .parse(binary);
    const plain = await speech('Hello. World.').expect(200);
    const paused = await speech('<speak>Hello.<break time="1s"/>World.</speak>').expect(200);
    expect((paused.body as Buffer).length - (plain.body as Buffer).length).toBe(2 * SAMPLE_RATE);
    const bad = await speech('<speak>Hello').expect(400);
    expect((bad.body as Buffer).toString()).toContain('invalid SSML at line 1');
  });

  describe('timestamps, marks and captions of SSML', () => {
    interface Timed {
      audio: string;
      sample_rate: number;
      duration: number;
      text: string;
      words: Array<{
        text: string;
        start: number;
        end: number;
        char_start: number;
        char_end: number;
      }>;
      phonemes: Array<{ phoneme: string; start: number; end: number }>;
      marks: Array<{ name: string; time: number }>;
    }

    const timedOf = async (body: Record<string, unknown>): Promise<Timed> =>
      (
        await request(http)
          .post('/tts')
          .send({ format: 'pcm', timestamps: true, ...body })
          .expect(200)
      ).body as Timed;
    /** Seconds as the server rounds them: samples at the rate, to the microsecond. */
    const at = (samples: number, rate = SAMPLE_RATE): number =>
      Math.round((samples / rate) * 1e6) / 1e6;
    /** A time of a plain request moved by `offset` samples, as the joined audio times it. */
    const moved = (time: number, offset: number): number =>
      at(Math.round(time * SAMPLE_RATE) + offset);
    /** A plain request's words placed `samples` and `chars` into the document. */
    const shift = (words: Timed['words'], samples: number, chars: number) =>
      words.map((word) => ({
        ...word,
        start: moved(word.start, samples),
        end: moved(word.end, samples),
        char_start: word.char_start + chars,
        char_end: word.char_end + chars,
      }));
    const pcm = (json: Timed): Int16Array => {
      const bytes = Buffer.from(json.audio, 'base64');
      return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2).slice();
    };

    it('times words across a break exactly, and a mark after the break at the break’s end', async () => {
      const markup =
        '<speak>Hello <mark name="mid"/>world.<mark name="end-of-first"/><break time="500ms"/><mark name="after-break"/>Good morning.<mark name="last"/></speak>';
      const json = await timedOf({ text: markup });
      // The audio is the audio without timestamps, byte for byte.
      expect(pcm(json)).toEqual(await ssml(markup));
      const first = await timedOf({ text: 'Hello world.' });
      const second = await timedOf({ text: 'Good morning.' });
      const firstSamples = pcm(first).length;
      const breakEnd = firstSamples + 0.5 * SAMPLE_RATE;
      // Offsets in the spoken text: "Hello world. Good morning."
      expect(json.words).toEqual([
        ...first.words,
        ...shift(second.words, breakEnd, 'Hello world. '.length),
      ]);
      expect(json.phonemes).toEqual([
        ...first.phonemes,
        ...second.phonemes.map((phoneme) => ({
          ...phoneme,
          start: moved(phoneme.start, breakEnd),
          end: moved(phoneme.end, breakEnd),
        })),
      ]);
      expect(json.text).toBe('Hello world. Good morning.');
      expect(json.words.map((word) => json.text.slice(word.char_start, word.char_end))).toEqual([
        'Hello',
        'world',
        'Good',
        'morning',
      ]);
      expect(json.marks).toEqual([
        { name: 'mid', time: json.words[1].start },
        { name: 'end-of-first', time: at(firstSamples) },
        { name: 'after-break', time: at(breakEnd) },
        { name: 'last', time: at(pcm(json).length) },
      ]);
      expect(json.duration).toBe((breakEnd + pcm(second).length) / SAMPLE_RATE);
    });

    it('times a voice switch, a slower span and a <sub> in the joined audio', async () => {
      const markup =
        '<speak>Hello. <prosody rate="50%">Slow words.</prosody> <voice name="multi-voice:2"><mark name="switch"/>I use the <sub alias="World Wide Web">WWW</sub>.</voice></speak>';
      const json = await timedOf({ text: markup });
      expect(pcm(json)).toEqual(await ssml(markup));
      const hello = await timedOf({ text: 'Hello.' });
      const slow = await timedOf({ text: 'Slow words.', length_scale: 2 });
      const other = await timedOf({
        text: 'I use the World Wide Web.',
        model: 'multi-voice',
        speaker_id: '2',
      });
      const slowStart = pcm(hello).length;
      const otherStart = slowStart + pcm(slow).length;
      expect(json.text).toBe('Hello. Slow words. I use the World Wide Web.');
      expect(json.words).toEqual([
        ...hello.words,
        ...shift(slow.words, slowStart, 'Hello. '.length),
        ...shift(other.words, otherStart, 'Hello. Slow words. '.length),
      ]);
      expect(json.marks).toEqual([{ name: 'switch', time: at(otherStart) }]);
    });

    it('times a voice of another rate where its resampled audio starts', async () => {
      const markup = `<speak>Hello. <voice name="${LOW_RATE_VOICE}">World.</voice></speak>`;
      const json = await timedOf({ text: markup });
      const hello = await timedOf({ text: 'Hello.' });
      const world = await timedOf({ text: 'World.', model: LOW_RATE_VOICE });
      const start = pcm(hello).length / SAMPLE_RATE;
      expect(json.words.slice(1).map((word) => [word.start, word.end])).toEqual(
        world.words.map((word) => [
          Math.round((word.start + start) * 1e6) / 1e6,
          Math.round((word.end + start) * 1e6) / 1e6,
        ]),
      );
    });

    it('answers WebVTT captions of the spoken text, and SubRip by GET', async () => {
      const markup =
        '<speak>I use the <sub alias="World Wide Web">WWW</sub>.<break time="1s"/>Bye now.</speak>';
      const json = await timedOf({ text: markup });
      const vtt = await request(http)
        .post('/tts')
        .send({ text: markup, format: 'vtt' })
        .expect(200)
        .expect('Content-Type', /text\/vtt/);
      const clock = (seconds: number) => {
        const ms = Math.round(seconds * 1000);
        const pad = (value: number, width = 2) => String(value).padStart(width, '0');
        return `00:00:${pad(Math.floor(ms / 1000))}.${pad(ms % 1000, 3)}`;
      };
      const [i, , , , , , bye, now] = json.words;
      expect(vtt.text).toBe(
        `WEBVTT\n\n${clock(i.start)} --> ${clock(json.words[5].end)}\nI use the World Wide Web\n\n` +
          `${clock(bye.start)} --> ${clock(now.end)}\nBye now\n`,
      );
      const srt = await request(http)
        .get('/tts')
        .query({ text: markup, format: 'srt' })
        .expect(200)
        .expect('Content-Type', /subrip/);
      expect(srt.text).toContain(`2\n${clock(bye.start).replace('.', ',')} --> `);
    });

    it('streams SSML as audio and timestamps events with its marks, the same audio and times as the JSON', async () => {
      const markup =
        '<speak>Hello world.<break time="500ms"/><mark name="after-break"/>Good morning.<mark name="last"/></speak>';
      const json = await timedOf({ text: markup });
      const res = await request(http)
        .post('/tts')
        .send({ text: markup, timestamps: true, stream: true })
        .buffer(true)
        .parse(binary)
        .expect(200)
        .expect('Content-Type', /text\/event-stream/);
      const events = (res.body as Buffer)
        .toString()
        .trim()
        .split('\n\n')
        .map((block) => {
          const [event, data] = block.split('\n');
          return {
            event: event.slice('event: '.length),
            data: JSON.parse(data.slice(6)) as Record<string, unknown>,
          };
        });
      expect(events.map(({ event }) => event)).toEqual([
        'audio',
        'timestamps',
        'audio',
        'timestamps',
        'audio',
        'timestamps',
        'timestamps',
        'done',
      ]);
      const audio = concatPcm(
        events
          .filter(({ event }) => event === 'audio')
          .map(({ data }) => {
            const bytes = Buffer.from(data.audio as string, 'base64');
            return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2).slice();
          }),
      );
      expect(audio).toEqual(pcm(json));
      const timestamps = events
        .filter(({ event }) => event === 'timestamps')
        .map(({ data }) => data);
      expect(timestamps[0].text).toBe(json.text);
      expect(timestamps.flatMap((data) => data.words as Timed['words'])).toEqual(json.words);
      expect(timestamps.flatMap((data) => data.marks as Timed['marks'])).toEqual(json.marks);
      expect(timestamps.at(-1)!.marks).toEqual([{ name: 'last', time: at(pcm(json).length) }]);
    });
  });
});

describe('SSML under admission (MAX_CONCURRENT_REQUESTS=1, MAX_QUEUE=0)', () => {
  let app: NestExpressApplication;
  let http: ReturnType<NestExpressApplication['getHttpServer']>;

  serveDuringSuite(
    { MAX_CONCURRENT_REQUESTS: '1', MAX_QUEUE: '0' },
    (started) => ({ app, http } = started),
  );

  it('holds its one slot from its first part to its last: another request is refused, the document is not', async () => {
    const markup = '<speak>Hello.<break time="500ms"/>World.<break time="200ms"/>Again.</speak>';
    const voice = app.get(VoiceRegistryService).get('test-voice');
    const job = { text: markup, voice, speakerId: 0, format: 'pcm' as const, stream: true };
    const { parts } = planSsmlParts(parseSsml(markup, { maxMarkupLength: 1000 }), job, () => job);
    expect(parts.map((part) => part.kind)).toEqual([
      'speech',
      'silence',
      'speech',
      'silence',
      'speech',
    ]);
    // The document's audio as the server streams it, pulled one piece at a time.
    const pieces = ssmlSentences(parts, app.get(PiperEngine), SAMPLE_RATE)[Symbol.asyncIterator]();
    const audio: Int16Array[] = [];
    audio.push((await pieces.next()).value!.pcm); // "Hello.": its engine request is over
    audio.push((await pieces.next()).value!.pcm); // the break, between two parts
    const busy = await request(http).post('/tts').send({ text: 'Between.' }).expect(503);
    expect((busy.body as { code: string }).code).toBe('ENGINE_BUSY');
    for (let next = await pieces.next(); !next.done; next = await pieces.next()) {
      audio.push(next.value.pcm);
    }
    // Every part spoken, nothing cut: the document's audio, as POST /tts gives it once free.
    const whole = await request(http)
      .post('/tts')
      .send({ text: markup, format: 'pcm' })
      .buffer(true)
      .parse(binary)
      .expect(200);
    const bytes = whole.body as Buffer;
    expect(concatPcm(audio)).toEqual(
      new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2).slice(),
    );
  });
});
