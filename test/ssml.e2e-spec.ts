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
import { HOSTILE_DOCUMENTS } from '../libs/ssml/src/hostile-documents';
import { binary } from './support/processes';
import { makeModelDir, removeDir, startServer } from './support/test-server';

const SAMPLE_RATE = 22050;
/** A copy of the test voice whose config says 16 kHz: the same network, another rate. */
const LOW_RATE_VOICE = 'low-rate-voice';
const LOW_RATE = 16000;

describe('SSML (POST /tts, OpenAI input)', () => {
  let modelDir: string;
  let app: NestExpressApplication;
  let http: ReturnType<NestExpressApplication['getHttpServer']>;

  beforeAll(async () => {
    modelDir = await makeModelDir();
    await writeTestVoice(modelDir, { name: LOW_RATE_VOICE });
    const configPath = join(modelDir, `${LOW_RATE_VOICE}.onnx.json`);
    const config = JSON.parse(await readFile(configPath, 'utf8')) as {
      audio: { sample_rate: number };
    };
    config.audio.sample_rate = LOW_RATE;
    await writeFile(configPath, JSON.stringify(config));
    app = await startServer({
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'test-voice',
      MAX_TEXT_LENGTH: '200',
      MAX_SSML_LENGTH: '2000',
      RATE_LIMIT_REQUESTS: '1000',
      TTS_RATE_LIMIT_REQUESTS: '1000',
    });
    http = app.getHttpServer();
  });

  afterAll(async () => {
    await app?.close();
    if (modelDir) await removeDir(modelDir);
  });

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
});
