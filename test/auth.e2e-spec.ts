/**
 * API keys: with API_KEYS set, synthesis routes need `Authorization: Bearer <key>`
 * (what OpenAI clients send); probes, info, voices and the docs stay open.
 */
import OpenAI from 'openai';
import request from 'supertest';
import { binary } from './support/processes';
import { makeModelDir, removeDir, serverFactory, useTestServer } from './support/test-server';

const KEY = 'first-key-0123456789';
const OTHER_KEY = 'second-key-abcdefgh';

describe('API keys', () => {
  const server = useTestServer({
    DEFAULT_MODEL: 'test-voice',
    RATE_LIMIT_REQUESTS: '1000',
    TTS_RATE_LIMIT_REQUESTS: '1000',
    API_KEYS: `${KEY}, ${OTHER_KEY}`,
  });

  it('refuses synthesis without a key, saying how to send one', async () => {
    const res = await request(server.url).post('/tts').send({ text: 'Hello.' }).expect(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.body).toMatchObject({
      statusCode: 401,
      code: 'API_KEY_MISSING',
      message: expect.stringMatching(/Authorization: Bearer <key>/),
    });
    await request(server.url).post('/phonemize').send({ text: 'Hello.' }).expect(401);
  });

  it('refuses a wrong key and a malformed header', async () => {
    const wrong = await request(server.url)
      .post('/tts')
      .set('Authorization', `Bearer ${KEY}x`)
      .send({ text: 'Hello.' })
      .expect(401);
    expect(wrong.body.code).toBe('API_KEY_INVALID');
    await request(server.url)
      .post('/tts')
      .set('Authorization', `Basic ${KEY}`)
      .send({ text: 'Hello.' })
      .expect(401);
  });

  it('synthesizes with any of the keys', async () => {
    for (const key of [KEY, OTHER_KEY]) {
      const res = await request(server.url)
        .post('/tts')
        .set('Authorization', `Bearer ${key}`)
        .send({ text: 'Hello.' })
        .buffer(true)
        .parse(binary)
        .expect(200);
      expect((res.body as Buffer).subarray(0, 4).toString('ascii')).toBe('RIFF');
    }
  });

  it('works with the OpenAI client, and reports a bad key in OpenAI’s shape', async () => {
    const speak = (apiKey: string) =>
      new OpenAI({ apiKey, baseURL: `${server.url}/v1`, maxRetries: 0 }).audio.speech.create({
        model: 'tts-1',
        voice: 'alloy',
        input: 'Hello.',
        response_format: 'wav',
      });
    const audio = Buffer.from(await (await speak(KEY)).arrayBuffer());
    expect(audio.subarray(0, 4).toString('ascii')).toBe('RIFF');
    await expect(speak('not-a-key-at-all')).rejects.toMatchObject({
      status: 401,
      error: { type: 'invalid_request_error', code: 'api_key_invalid' },
    });
  });

  it('leaves probes, info, voices and the docs open, and says a key is needed', async () => {
    await request(server.url).get('/health/live').expect(200);
    await request(server.url).get('/voices').expect(200);
    await request(server.url).get('/docs/openapi.json').expect(200);
    const info = await request(server.url).get('/info').expect(200);
    expect(info.body.auth_required).toBe(true);
  });
});

describe('Rate limits per client: per API key, else per address', () => {
  let modelDir: string;
  const servers = serverFactory(() => ({
    MODEL_DIR: modelDir,
    DEFAULT_MODEL: 'test-voice',
    RATE_LIMIT_REQUESTS: '2',
    TTS_RATE_LIMIT_REQUESTS: '1000',
  }));

  beforeAll(async () => {
    modelDir = await makeModelDir();
  });

  afterAll(async () => {
    await servers.closeAll();
    await removeDir(modelDir);
  });

  it('gives each valid key its own budget; made-up keys share the address’s', async () => {
    const url = await servers.start({ API_KEYS: `${KEY},${OTHER_KEY}` });
    const voices = (key?: string) =>
      request(url)
        .get('/voices')
        .set(key ? { Authorization: `Bearer ${key}` } : {});
    expect((await voices(KEY)).status).toBe(200);
    expect((await voices(KEY)).status).toBe(200);
    expect((await voices(KEY)).status).toBe(429);
    expect((await voices(OTHER_KEY)).status).toBe(200);
    expect((await voices('made-up-key-1')).status).toBe(200);
    expect((await voices('made-up-key-2')).status).toBe(200);
    expect((await voices('made-up-key-3')).status).toBe(429);
  });

  it('believes X-Forwarded-For only when TRUST_PROXY says so', async () => {
    const from = (url: string, address: string) =>
      request(url).get('/voices').set('X-Forwarded-For', address);
    const trusting = await servers.start({ TRUST_PROXY: 'true' });
    for (const address of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) {
      expect((await from(trusting, address)).status).toBe(200);
      expect((await from(trusting, address)).status).toBe(200);
    }
    const direct = await servers.start({});
    expect((await from(direct, '203.0.113.1')).status).toBe(200);
    expect((await from(direct, '203.0.113.2')).status).toBe(200);
    expect((await from(direct, '203.0.113.3')).status).toBe(429);
  });
});
