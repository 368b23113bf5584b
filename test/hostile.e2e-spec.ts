/**
 * Hostile and clumsy clients against the real server: bodies built to overflow, stall
 * or bloat it, user strings that name Object.prototype's members, slow and broken
 * connections, the errors Express and Node answer before a route runs, and the rate
 * limits' accounting. None may get a 500 or hold up anyone else, and every error has
 * the one shape (see support/error-shape.ts).
 */
import { connect, type Socket } from 'node:net';
import request from 'supertest';
import { decodeWav } from '@app/piper';
import { jsonBodyLimitBytes } from '../apps/tts-server/src/common/json-body';
import { Settings } from '../apps/tts-server/src/config/settings';
import { expectErrorShape } from './support/error-shape';
import { binary, longText } from './support/processes';
import { useTestServer } from './support/test-server';

const UNLIMITED_RATE = { RATE_LIMIT_REQUESTS: '100000', TTS_RATE_LIMIT_REQUESTS: '100000' };
const ORIGIN = 'http://page.example';

/** `levels` arrays nested in one another: `[[[…]]]`. */
function nested(levels: number): string {
  return '['.repeat(levels) + ']'.repeat(levels);
}

/** A JSON object of `count` unknown keys besides a valid text. */
function unknownKeys(count: number, prefix = 'k'): string {
  const keys = Array.from({ length: count }, (_, index) => `"${prefix}${index}":0`);
  return `{"text":"hello",${keys.join(',')}}`;
}

/** Sends raw bytes on a new connection and resolves to everything the server answers. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

/** The JSON body of a raw HTTP answer. */
function bodyOf(answer: string): Record<string, unknown> {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe('Hostile bodies', () => {
  const server = useTestServer({
    ...UNLIMITED_RATE,
    DEFAULT_MODEL: 'test-voice',
    MAX_TEXT_LENGTH: '200',
  });

  const post = (path: string, body: string, contentType = 'application/json') =>
    request(server.url)
      .post(path)
      .set('Content-Type', contentType)
      .set('Origin', ORIGIN)
      .send(body)
      .then((res) => res);

  it('refuses deeply nested JSON with 400 BODY_TOO_COMPLEX on every JSON route', async () => {
    for (const path of ['/tts', '/phonemize', '/v1/audio/speech']) {
      const deep = await post(path, `{"text":${nested(1500)}}`);
      expect(deep.status).toBe(400);
      expectErrorShape(deep, path);
      const code = path.startsWith('/v1/') ? deep.body.error.code : deep.body.code;
      expect(code.toUpperCase()).toBe('BODY_TOO_COMPLEX');
    }
    const wide = await post('/tts', unknownKeys(5000));
    expect(wide.status).toBe(400);
    expect(wide.body.code).toBe('BODY_TOO_COMPLEX');
  });

  it('refuses unknown keys in a short answer, without listing each one', async () => {
    const res = await post('/tts', unknownKeys(90, 'unknown_key_'));
    expect(res.status).toBe(400);
    expectErrorShape(res, '/tts');
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.text.length).toBeLessThan(2000);
    expect(res.text).toMatch(/unknown_key_0 should not exist/);
    expect(res.text).not.toMatch(/unknown_key_89 should not exist/);
  });

  it('derives the body limit from MAX_TEXT_LENGTH and MAX_SSML_LENGTH: 413 beyond it, a whole escaped text within', async () => {
    const settings = server.app.get(Settings);
    const limit = jsonBodyLimitBytes(settings);
    expect(limit).toBe(200 * 12 + settings.MAX_SSML_LENGTH * 2 + 64 * 1024);
    const tooLarge = await post('/tts', JSON.stringify({ text: 'x'.repeat(limit) }));
    expect(tooLarge.status).toBe(413);
    expectErrorShape(tooLarge, '/tts');
    expect(tooLarge.body).toMatchObject({
      code: 'BODY_TOO_LARGE',
      message: `request body is too large: the limit is ${limit} bytes`,
    });
    expect(tooLarge.headers['access-control-allow-origin']).toBeDefined();
    // 200 astral characters, each escaped as a surrogate pair as Python's json.dumps does.
    const escaped = `{"text":"${'\\ud83d\\ude00'.repeat(199)}a"}`;
    const res = await request(server.url)
      .post('/phonemize')
      .set('Content-Type', 'application/json')
      .send(escaped);
    expect(res.status).not.toBe(413);
  });

  it('answers a probe while bodies of thousands of unknown keys arrive', async () => {
    const body = unknownKeys(4000);
    const flood = Array.from({ length: 20 }, () => post('/tts', body));
    const probe = request(server.url).get('/health/live');
    const [probed, ...flooded] = await Promise.all([probe, ...flood]);
    expect(probed.status).toBe(200);
    for (const res of flooded) {
      expect(res.status).toBe(400);
      expect(res.text.length).toBeLessThan(500);
    }
  });

  it("never looks a request's voice, speaker or format up on Object.prototype", async () => {
    const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'prototype'];
    for (const name of names) {
      const speech = await post(
        '/v1/audio/speech',
        JSON.stringify({ model: 'tts-1', input: 'hi', voice: name }),
      );
      expect(speech.status).toBe(404);
      expectErrorShape(speech, '/v1/audio/speech');
      const model = await post(
        '/v1/audio/speech',
        JSON.stringify({ model: name, input: 'hi', voice: 'alloy' }),
      );
      expect(model.status).toBe(404);
      const voice = await post('/tts', JSON.stringify({ text: 'hi', model: name }));
      expect([400, 404]).toContain(voice.status);
      expectErrorShape(voice, '/tts');
      const speaker = await post(
        '/tts',
        JSON.stringify({ text: 'hi', model: 'multi-voice', speaker_id: name }),
      );
      expect(speaker.status).toBe(404);
      expect(speaker.body.code).toBe('SPEAKER_NOT_FOUND');
      const format = await post('/tts', JSON.stringify({ text: 'hi', format: name }));
      expect(format.status).toBe(400);
      const query = await request(server.url)
        .get('/tts')
        .query({ text: 'hi', format: name, model: name });
      expect([400, 404]).toContain(query.status);
      expectErrorShape(query, '/tts');
    }
    const polluted = await post(
      '/tts',
      '{"text":"hi","__proto__":{"format":"mp3"},"constructor":{"prototype":{}}}',
    );
    // Nest's validation pipe strips prototype keys: the body is {"text":"hi"}, spoken as WAV.
    expect(polluted.status).toBe(200);
    expect(polluted.headers['content-type']).toMatch(/^audio\/wav/);
  });

  it('answers body-parser errors in the error shape with the request id and CORS headers', async () => {
    const malformed = await post('/tts', '{"text": "hi",');
    expect(malformed.status).toBe(400);
    expectErrorShape(malformed, '/tts');
    expect(malformed.body.code).toBe('BODY_MALFORMED');
    expect(malformed.body.message).toMatch(/^malformed JSON in request body: /);
    expect(malformed.headers['access-control-allow-origin']).toBeDefined();
    expect(malformed.headers['access-control-expose-headers']).toMatch(/X-Request-Id/);

    const charset = await post('/tts', '{"text":"hi"}', 'application/json; charset=bogus');
    expect(charset.status).toBe(415);
    expectErrorShape(charset, '/tts');
    expect(charset.body.code).toBe('BODY_ENCODING_UNSUPPORTED');

    const openAi = await post('/v1/audio/speech', '{"input":');
    expect(openAi.status).toBe(400);
    expectErrorShape(openAi, '/v1/audio/speech');
    expect(openAi.body.error).toMatchObject({
      code: 'body_malformed',
      type: 'invalid_request_error',
    });
    const openAiLarge = await post(
      '/v1/audio/speech',
      JSON.stringify({ input: 'x'.repeat(100_000) }),
    );
    expect(openAiLarge.status).toBe(413);
    expect(openAiLarge.body.error.code).toBe('body_too_large');
  });

  it('names the real text limit when the text is missing, and answers unknown routes in the shape', async () => {
    const missing = await post('/tts', '{}');
    expect(missing.status).toBe(400);
    expect(missing.body.message).toEqual(['text must be a string of 1 to 200 characters']);
    const speech = await post('/v1/audio/speech', '{"model":"tts-1","voice":"alloy"}');
    expect(speech.body.error.message).toBe('input must be a string of 1 to 200 characters');
    const unknown = await request(server.url).get('/no/such/route');
    expect(unknown.status).toBe(404);
    expectErrorShape(unknown, '/no/such/route');
    expect(unknown.body.code).toBe('NOT_FOUND');
  });

  it('refuses on /phonemize a text with nothing to speak once cleaned, as /tts does', async () => {
    for (const text of ['   ', '\u0001\u0002\u0003']) {
      for (const path of ['/phonemize', '/tts']) {
        const res = await post(path, JSON.stringify({ text }));
        expect(res.status).toBe(400);
        expectErrorShape(res, path);
        expect(res.body.code).toBe('TEXT_EMPTY');
      }
    }
  });

  it('ignores an invalid Range (bytes=100-50) and serves the whole file', async () => {
    const res = await request(server.url)
      .get('/tts')
      .query({ text: 'Range check.' })
      .set('Range', 'bytes=100-50')
      .buffer(true)
      .parse(binary);
    expect(res.status).toBe(200);
    expect(res.headers['content-range']).toBeUndefined();
    expect(decodeWav(res.body as Buffer).pcm.length).toBeGreaterThan(0);
  });

  it('serves the OpenAPI document at /docs-json for client generators', async () => {
    const res = await request(server.url).get('/docs-json').expect(200);
    expect(Object.keys(res.body.paths as object)).toEqual(
      expect.arrayContaining(['/tts', '/phonemize', '/v1/audio/speech']),
    );
  });
});

describe('Slow and broken clients', () => {
  const server = useTestServer(
    {
      ...UNLIMITED_RATE,
      DEFAULT_MODEL: 'bench-voice',
      MAX_TEXT_LENGTH: '5000',
      HEADERS_TIMEOUT_MS: '1000',
      REQUEST_TIMEOUT_MS: '1500',
    },
    { benchVoice: true },
  );
  const sockets: Socket[] = [];

  afterAll(() => {
    for (const socket of sockets) socket.destroy();
  });

  it('answers a body promised but never sent with 408 in the error shape, with its request id and CORS headers', async () => {
    const answer = await rawExchange(
      portOf(server.url),
      'POST /tts HTTP/1.1\r\nHost: localhost\r\nOrigin: http://page.example\r\n' +
        'X-Request-Id: slow-body-1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"text":',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toMatch(/\r\nX-Request-Id: slow-body-1\r\n/i);
    expect(answer).toMatch(/\r\nAccess-Control-Allow-Origin: /i);
    expect(bodyOf(answer)).toMatchObject({
      statusCode: 408,
      code: 'REQUEST_TIMEOUT',
      requestId: 'slow-body-1',
    });
  });

  it('answers headers that never end with 408 in the error shape', async () => {
    const answer = await rawExchange(portOf(server.url), 'GET /health HTTP/1.1\r\nHost: x\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    const body = bodyOf(answer);
    expect(body).toMatchObject({ statusCode: 408, code: 'REQUEST_TIMEOUT' });
    expect(answer).toContain(`X-Request-Id: ${String(body.requestId)}`);
  });

  it('answers a malformed request line in the error shape, not a bare 400', async () => {
    const answer = await rawExchange(portOf(server.url), 'NOT HTTP AT ALL\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(bodyOf(answer)).toMatchObject({ statusCode: 400, code: 'HTTP_MALFORMED' });
  });

  it('answers a probe while hundreds of connections sit idle or trickle their request', async () => {
    const port = portOf(server.url);
    for (let index = 0; index < 300; index++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      if (index % 2 === 0)
        socket.write('POST /tts HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{');
      sockets.push(socket);
    }
    const probe = await request(server.url).get('/health/live');
    expect(probe.status).toBe(200);
  });

  it('lets a synthesis take longer than REQUEST_TIMEOUT_MS once its request has arrived', async () => {
    const res = await request(server.url)
      .post('/tts')
      .send({ text: longText('patience', 1500) })
      .buffer(true)
      .parse(binary);
    expect(res.status).toBe(200);
    // Longer than the 1.5 s allowed for receiving the request, as the bench voice speaks.
    const wav = decodeWav(res.body as Buffer);
    expect(wav.pcm.length / wav.sampleRate).toBeGreaterThan(10);
  });
});

describe('Rate limits count what costs', () => {
  const server = useTestServer({
    DEFAULT_MODEL: 'test-voice',
    TTS_RATE_LIMIT_REQUESTS: '2',
    RATE_LIMIT_REQUESTS: '14',
  });

  it('spends the synthesis budget on cache misses only; the general limit counts every request', async () => {
    const tts = (body: object) =>
      request(server.url)
        .post('/tts')
        .send(body)
        .then((res) => res);
    expect((await tts({ text: 'first' })).status).toBe(200);
    // Hits and requests refused before synthesis cost no synthesis.
    expect((await tts({ text: 'first' })).headers['x-cache']).toBe('HIT');
    expect((await request(server.url).get('/tts').query({ text: 'first' })).status).toBe(200);
    expect((await tts({ text: 'first', format: 'nope' })).status).toBe(400);
    expect((await tts({ text: 'first', model: 'nope' })).status).toBe(404);
    expect((await tts({ text: 'x'.repeat(600) })).status).toBe(400);
    expect((await tts({ text: 'second' })).status).toBe(200);
    const limited = await tts({ text: 'third' });
    expect(limited.status).toBe(429);
    expectErrorShape(limited, '/tts');
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    expect(limited.body.code).toBe('RATE_LIMITED');
    expect(limited.body.message).toMatch(
      /synthesis limit is 2 syntheses per 60 s .*TTS_RATE_LIMIT_REQUESTS.*resets in \d+ s/,
    );
    // Still served from the cache.
    expect((await tts({ text: 'first' })).status).toBe(200);
    // 9 requests so far: the general limit (14) counts all of them.
    for (let index = 0; index < 5; index++) {
      expect((await request(server.url).get('/voices')).status).toBe(200);
    }
    const general = await request(server.url).get('/voices');
    expect(general.status).toBe(429);
    expect(general.body.message).toMatch(/general limit is 14 requests .*RATE_LIMIT_REQUESTS/);
    const openAi = await request(server.url)
      .post('/v1/audio/speech')
      .send({ model: 'tts-1', input: 'hi', voice: 'alloy' });
    expect(openAi.status).toBe(429);
    expectErrorShape(openAi, '/v1/audio/speech');
    expect(openAi.body.error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_exceeded' });
  });
});
