/**
 * The HTTP API against the real app and real worker subprocesses, on generated voices.
 */
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { decodeWav } from '@app/piper';
import { binary } from './support/processes';
import { makeModelDir, removeDir, startServer } from './support/test-server';

describe('TTS server API', () => {
  let modelDir: string;
  let app: NestExpressApplication;
  let http: ReturnType<NestExpressApplication['getHttpServer']>;

  beforeAll(async () => {
    modelDir = await makeModelDir();
    app = await startServer({
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'test-voice',
      MAX_TEXT_LENGTH: '200',
      MAX_BODY_BYTES: '4096',
      RATE_LIMIT_REQUESTS: '1000',
      TTS_RATE_LIMIT_REQUESTS: '1000',
    });
    http = app.getHttpServer();
  });

  afterAll(async () => {
    await app.close();
    await removeDir(modelDir);
  });

  describe('status', () => {
    it('GET /health answers the Piper TTS Server shape', async () => {
      const res = await request(http).get('/health').expect(200);
      expect(res.body).toEqual({ status: 'ok', version: expect.any(String), models_available: 2 });
    });

    it('GET /health/live and /health/ready are up once the workers are warm', async () => {
      await request(http).get('/health/live').expect(200);
      const ready = await request(http).get('/health/ready').expect(200);
      expect(ready.body.status).toBe('ok');
      expect(ready.body.info.engine).toMatchObject({ status: 'up', defaultVoice: 'test-voice' });
    });

    it('GET /info lists the service, voices and limits', async () => {
      const res = await request(http).get('/info').expect(200);
      expect(res.body).toEqual({
        service: 'Piper TTS',
        version: expect.any(String),
        models: ['multi-voice', 'test-voice'],
        api: '/docs',
        auth_required: false,
        settings: { max_text_length: 200, max_concurrent_requests: 10 },
      });
    });

    it('sends security headers and a request id', async () => {
      const res = await request(http).get('/health').set('X-Request-Id', 'abc-123').expect(200);
      expect(res.headers['x-request-id']).toBe('abc-123');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-powered-by']).toBeUndefined();
    });
  });

  describe('voices', () => {
    it('GET /voices describes every voice with its speakers and links', async () => {
      const res = await request(http).get('/voices').expect(200);
      expect(Object.keys(res.body as object).sort()).toEqual(['multi-voice', 'test-voice']);
      const multi = res.body['multi-voice'];
      expect(multi.speakers).toEqual([
        { index: '0', id: 'speaker_0' },
        { index: '1', id: 'speaker_1' },
        { index: '2', id: 'speaker_2' },
      ]);
      expect(multi.model_card).toBe('/model_card/multi-voice');
      expect(multi.num_speakers).toBe(3);
      expect(multi.sample_rate).toBe(22050);
      expect(res.body['test-voice'].model_card).toBeNull();
      expect(res.body['test-voice'].language).toMatchObject({ code: 'en_US' });
    });

    it('GET /model_card/:model returns the card as Markdown, 404 otherwise', async () => {
      const res = await request(http).get('/model_card/multi-voice').expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/markdown/);
      expect(res.text).toContain('# Multi voice');
      await request(http).get('/model_card/test-voice').expect(404);
      const unknown = await request(http).get('/model_card/nope').expect(404);
      expect(unknown.body.message).toMatch(/multi-voice/);
    });

    it('GET /demo/:model/raw speaks a demo sentence as WAV', async () => {
      const res = await request(http)
        .get('/demo/test-voice/raw')
        .buffer(true)
        .parse(binary)
        .expect(200);
      expect(res.headers['content-type']).toMatch(/^audio\/wav/);
      const wav = decodeWav(res.body as Buffer);
      expect(wav.sampleRate).toBe(22050);
      expect(wav.pcm.length).toBeGreaterThan(0);
    });

    it('never resolves a path from a voice name', async () => {
      for (const path of [
        '/model_card/..%2f..%2fetc%2fpasswd',
        '/model_card/%2e%2e%2fmulti-voice',
        '/model_card/%2fetc%2fpasswd',
        '/demo/..%2ftest-voice/raw',
        '/model_card/multi-voice%00',
      ]) {
        const res = await request(http).get(path);
        expect([400, 404]).toContain(res.status);
        expect(res.text).not.toContain('Multi voice');
      }
      const res = await request(http)
        .post('/tts')
        .send({ text: 'hi', model: '../test-voice' })
        .expect(400);
      expect(res.body.message.join(' ')).toMatch(/model must be a voice name/);
    });
  });

  describe('POST /tts', () => {
    it('answers a WAV attachment, MISS then HIT for the same request', async () => {
      const body = { text: 'Cache me if you can.' };
      const first = await request(http)
        .post('/tts')
        .send(body)
        .buffer(true)
        .parse(binary)
        .expect(200);
      expect(first.headers['content-type']).toMatch(/^audio\/wav/);
      expect(first.headers['content-disposition']).toBe(
        'attachment; filename=tts_test-voice_0.wav',
      );
      expect(first.headers['x-cache']).toBe('MISS');
      const wav = decodeWav(first.body as Buffer);
      expect(wav.sampleRate).toBe(22050);
      expect(wav.channels).toBe(1);
      expect(wav.pcm.length % 1024).toBe(0);

      const second = await request(http)
        .post('/tts')
        .send(body)
        .buffer(true)
        .parse(binary)
        .expect(200);
      expect(second.headers['x-cache']).toBe('HIT');
      expect((second.body as Buffer).equals(first.body as Buffer)).toBe(true);

      const other = await request(http)
        .post('/tts')
        .send({ ...body, length_scale: 1.5 })
        .buffer(true)
        .parse(binary);
      expect(other.headers['x-cache']).toBe('MISS');
      expect(decodeWav(other.body as Buffer).pcm.length).toBe(wav.pcm.length * 1.5);
    });

    it('picks speakers by index or name and names the file after the resolved id', async () => {
      const byName = await request(http)
        .post('/tts')
        .send({ text: 'Hello.', model: 'multi-voice', speaker_id: 'speaker_2' })
        .buffer(true)
        .parse(binary)
        .expect(200);
      expect(byName.headers['content-disposition']).toBe(
        'attachment; filename=tts_multi-voice_2.wav',
      );
      const byIndex = await request(http)
        .post('/tts')
        .send({ text: 'Hello.', model: 'multi-voice', speaker_id: 2 })
        .buffer(true)
        .parse(binary)
        .expect(200);
      expect((byIndex.body as Buffer).equals(byName.body as Buffer)).toBe(true);
      const first = await request(http)
        .post('/tts')
        .send({ text: 'Hello.', model: 'multi-voice', speaker_id: '0' })
        .buffer(true)
        .parse(binary)
        .expect(200);
      expect((first.body as Buffer).equals(byName.body as Buffer)).toBe(false);
    });

    it('adds exactly the requested sentence silence', async () => {
      const plain = await request(http)
        .post('/tts')
        .send({ text: 'One. Two.' })
        .buffer(true)
        .parse(binary);
      const padded = await request(http)
        .post('/tts')
        .send({ text: 'One. Two.', sentence_silence: 0.5 })
        .buffer(true)
        .parse(binary);
      expect(
        decodeWav(padded.body as Buffer).pcm.length - decodeWav(plain.body as Buffer).pcm.length,
      ).toBe(2 * 11025);
    });

    it('404s an unknown voice or speaker, listing what exists', async () => {
      const voice = await request(http)
        .post('/tts')
        .send({ text: 'hi', model: 'nope' })
        .expect(404);
      expect(voice.body).toMatchObject({
        statusCode: 404,
        error: 'Not Found',
        code: 'VOICE_NOT_FOUND',
      });
      expect(voice.body.message).toMatch(/multi-voice.*test-voice|test-voice.*multi-voice/);
      expect(voice.body.requestId).toEqual(expect.any(String));
      const speaker = await request(http)
        .post('/tts')
        .send({ text: 'hi', model: 'multi-voice', speaker_id: 'nobody' })
        .expect(404);
      expect(speaker.body.message).toMatch(/speaker_0/);
      await request(http)
        .post('/tts')
        .send({ text: 'hi', model: 'multi-voice', speaker_id: '3' })
        .expect(404);
    });

    it('400s invalid bodies with the error envelope and no stack trace', async () => {
      const cases: Array<[unknown, RegExp]> = [
        [{}, /text/],
        [{ text: '' }, /text/],
        [{ text: '   ' }, /empty/],
        [{ text: 'x'.repeat(201) }, /limit is 200/],
        [{ text: 42 }, /text must be a string/],
        [{ text: 'hi', length_scale: 'fast' }, /length_scale/],
        [{ text: 'hi', length_scale: 0 }, /length_scale/],
        [{ text: 'hi', volume: -1 }, /volume/],
        [{ text: 'hi', unknown_field: 1 }, /unknown_field should not exist/],
      ];
      for (const [body, message] of cases) {
        const res = await request(http)
          .post('/tts')
          .send(body as object)
          .expect(400);
        expect(res.body.statusCode).toBe(400);
        expect(res.body.error).toBe('Bad Request');
        expect([res.body.message].flat().join(' ')).toMatch(message);
        expect(JSON.stringify(res.body)).not.toMatch(/\s+at\s/);
      }
      const malformed = await request(http)
        .post('/tts')
        .set('Content-Type', 'application/json')
        .send('{"text": "hi",')
        .expect(400);
      expect(malformed.body.message).toMatch(/JSON/);
    });

    it('413s an oversized body', async () => {
      const res = await request(http)
        .post('/tts')
        .send({ text: 'x'.repeat(10_000) })
        .expect(413);
      expect(res.body).toMatchObject({
        statusCode: 413,
        code: 'BODY_TOO_LARGE',
        message: 'request body is too large: the limit is 4096 bytes',
        requestId: res.headers['x-request-id'],
      });
    });
  });

  describe('POST /phonemize', () => {
    it('returns phonemes and ids per sentence', async () => {
      const res = await request(http)
        .post('/phonemize')
        .send({ text: 'Test 1. Test 2.' })
        .expect(200);
      expect(res.body.sentences).toHaveLength(2);
      expect(res.body.sentences[0].phonemes.join('')).toBe('tˈɛst wˈʌn.');
      expect(res.body.sentences[0].phoneme_ids.slice(0, 3)).toEqual([1, 0, 32]);
    });
  });

  describe('Swagger UI', () => {
    it('serves /docs and documents every operation', async () => {
      const page = await request(http).get('/docs').redirects(1).expect(200);
      expect(page.text).toMatch(/swagger/i);
      const spec = await request(http).get('/docs/openapi.json').expect(200);
      const paths = Object.keys(spec.body.paths as object);
      for (const path of [
        '/tts',
        '/phonemize',
        '/voices',
        '/health',
        '/health/live',
        '/health/ready',
        '/info',
        '/model_card/{model}',
        '/demo/{model}/raw',
      ]) {
        expect(paths).toContain(path);
      }
      expect(spec.body.components.schemas.SynthesizeDto.properties).toHaveProperty('length_scale');
      const produced = (path: string): string[] =>
        Object.keys(spec.body.paths[path].post.responses['200'].content as object);
      expect(produced('/tts')).toEqual([
        'audio/wav',
        'audio/pcm',
        'audio/mpeg',
        'audio/ogg',
        'audio/flac',
        'audio/aac',
        // Captions, the audio with its timestamps, and that streamed.
        'text/vtt',
        'application/x-subrip',
        'application/json',
        'text/event-stream',
      ]);
      expect(produced('/v1/audio/speech')).toEqual([
        'audio/mpeg',
        'audio/ogg',
        'audio/aac',
        'audio/flac',
        'audio/wav',
        'audio/pcm',
        'text/event-stream',
      ]);
    });
  });
});

describe('TTS server rate limits', () => {
  let modelDir: string;
  let app: NestExpressApplication;

  beforeAll(async () => {
    modelDir = await makeModelDir();
    app = await startServer({
      MODEL_DIR: modelDir,
      TTS_RATE_LIMIT_REQUESTS: '2',
      RATE_LIMIT_REQUESTS: '5',
    });
  });

  afterAll(async () => {
    await app.close();
    await removeDir(modelDir);
  });

  it('429s past the TTS limit with Retry-After, and past the general limit elsewhere', async () => {
    const http = app.getHttpServer();
    await request(http).post('/tts').send({ text: 'one' }).expect(200);
    await request(http).post('/tts').send({ text: 'two' }).expect(200);
    const limited = await request(http).post('/tts').send({ text: 'three' }).expect(429);
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    expect(limited.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
    // Other endpoints have their own (general) budget: 2 used by /tts, 3 left.
    for (let i = 0; i < 2; i++) await request(http).get('/voices').expect(200);
    await request(http).get('/voices').expect(429);
    // Probes are never rate limited.
    await request(http).get('/health/live').expect(200);
  });
});
