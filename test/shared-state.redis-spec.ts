/**
 * Two server instances sharing one real Redis (npm run test:redis): one cache, one
 * rate limit per client, and both going on without Redis when it dies, then sharing
 * again when it returns, without a restart.
 */
import request from 'supertest';
import { binary, freePort, waitFor } from './support/processes';
import { HAS_REDIS_SERVER, REDIS_SERVER_MISSING, RedisServer } from './support/redis-server';
import { describeUnless } from './support/skips';
import { makeModelDir, metricSample, removeDir, serverFactory } from './support/test-server';

const describeRedis = describeUnless(HAS_REDIS_SERVER ? undefined : REDIS_SERVER_MISSING);

/** The value of one sample of GET /metrics, 0 when absent. */
async function metric(url: string, series: string): Promise<number> {
  return metricSample((await request(url).get('/metrics')).text, series) ?? 0;
}

describeRedis('shared state in Redis', () => {
  let modelDir: string;
  let redis: RedisServer;
  const replicas = serverFactory(() => ({
    MODEL_DIR: modelDir,
    DEFAULT_MODEL: 'test-voice',
    REDIS_URL: redis.url,
    REDIS_TIMEOUT_MS: '200',
    RATE_LIMIT_REQUESTS: '1000',
    TTS_RATE_LIMIT_REQUESTS: '1000',
  }));
  const replica = (settings?: Record<string, string>): Promise<string> => replicas.start(settings);

  beforeAll(async () => {
    modelDir = await makeModelDir();
    redis = await RedisServer.start();
  });

  beforeEach(async () => {
    await redis.flushAll();
  });

  afterAll(async () => {
    await replicas.closeAll();
    await redis.kill();
    await removeDir(modelDir);
  });

  function synthesize(url: string, text: string): Promise<request.Response> {
    return request(url).post('/tts').send({ text }).buffer(true).parse(binary).expect(200);
  }

  it('shares one audio cache: a MISS on one replica is a HIT on the other', async () => {
    const [a, b] = [await replica(), await replica()];
    const first = await synthesize(a, 'Shared between replicas.');
    expect(first.headers['x-cache']).toBe('MISS');
    const second = await synthesize(b, 'Shared between replicas.');
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.headers['x-cache-tier']).toBe('redis');
    expect((second.body as Buffer).equals(first.body as Buffer)).toBe(true);
    expect(await metric(b, 'piper_cache_requests_total{result="hit",tier="redis"}')).toBe(1);
  });

  it('counts one rate limit per client across replicas', async () => {
    const settings = { RATE_LIMIT_REQUESTS: '3', RATE_LIMIT_WINDOW: '60' };
    const [a, b] = [await replica(settings), await replica(settings)];
    const voices = (url: string) => request(url).get('/voices');
    expect((await voices(a)).status).toBe(200);
    expect((await voices(b)).status).toBe(200);
    expect((await voices(a)).status).toBe(200);
    const refused = await voices(b);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('starts and serves when Redis is not there at all', async () => {
    const nobodyListens = await freePort();
    const url = await replica({ REDIS_URL: `redis://127.0.0.1:${nobodyListens}` });
    await request(url).get('/health/ready').expect(200);
    await request(url).post('/phonemize').send({ text: 'No Redis.' }).expect(200);
    expect(await metric(url, 'piper_redis_errors_total{operation="rate_limit"}')).toBeGreaterThan(
      0,
    );
  });

  it('goes on without Redis when it dies, counts the errors, and shares again when it returns', async () => {
    const failClosed = await replica({ RATE_LIMIT_FAIL_OPEN: 'false' });
    const failOpen = await replica();
    const other = await replica();
    await redis.kill();

    // The cache fails open too: synthesized, not stored, the error counted.
    expect((await synthesize(failOpen, 'While Redis is away.')).headers['x-cache']).toBe('MISS');
    expect(
      await metric(failOpen, 'piper_redis_errors_total{operation="cache_get"}'),
    ).toBeGreaterThan(0);

    // Fail open (default): served, uncounted; fail closed: 503 with Retry-After.
    const served = await request(failOpen).post('/phonemize').send({ text: 'Still here.' });
    expect(served.status).toBe(200);
    const refused = await request(failClosed).post('/phonemize').send({ text: 'Still here.' });
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('RATE_LIMITER_UNAVAILABLE');
    expect(refused.headers['retry-after']).toBe('1');
    expect(
      await metric(failOpen, 'piper_redis_errors_total{operation="rate_limit"}'),
    ).toBeGreaterThan(0);

    await redis.start();
    await waitFor('fail-closed replica to count in Redis again', async () => {
      const res = await request(failClosed).post('/phonemize').send({ text: 'Back.' });
      return res.status === 200;
    });
    // Sharing resumes without a restart: what one replica stores, another finds.
    let attempt = 0;
    await waitFor('the cache to be shared again', async () => {
      const text = `Redis is back, attempt ${++attempt}.`;
      await synthesize(failOpen, text);
      return (await synthesize(other, text)).headers['x-cache'] === 'HIT';
    });
  });
});
