/**
 * GET /metrics: Prometheus text with request counts by route pattern, synthesis
 * time, audio seconds and real-time factor per voice, and the worker pool's state,
 * preemptions included (SENTENCE_PREEMPTION wired from the settings to the pool).
 */
import { availableParallelism } from 'node:os';
import request from 'supertest';
import { decodeWav } from '@app/piper';
import { binary } from './support/processes';
import {
  makeModelDir,
  metricSample,
  removeDir,
  serverFactory,
  useTestServer,
} from './support/test-server';

describe('GET /metrics', () => {
  const server = useTestServer({
    DEFAULT_MODEL: 'test-voice',
    WORKERS: '2',
    RATE_LIMIT_REQUESTS: '6',
    TTS_RATE_LIMIT_REQUESTS: '6',
  });
  const sample = metricSample;

  it('reports requests by route pattern, synthesis per voice and the pool', async () => {
    const body = { text: 'Counting this. And this.' };
    const first = await request(server.url).post('/tts').send(body).buffer(true).parse(binary);
    await request(server.url).post('/tts').send(body).expect(200); // a cache hit: no synthesis
    await request(server.url).get('/model_card/nobody').expect(404);
    const wav = decodeWav(first.body as Buffer);

    const res = await request(server.url).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain;.*version=0\.0\.4/);
    const text = res.text;
    expect(sample(text, 'http_requests_total{method="POST",route="/tts",status="200"}')).toBe(2);
    expect(
      sample(text, 'http_requests_total{method="GET",route="/model_card/:model",status="404"}'),
    ).toBe(1);
    expect(sample(text, 'http_request_duration_seconds_count{method="POST",route="/tts"}')).toBe(2);
    expect(sample(text, 'piper_synthesis_duration_seconds_count{voice="test-voice"}')).toBe(1);
    expect(sample(text, 'piper_audio_seconds_total{voice="test-voice"}')).toBeCloseTo(
      wav.pcm.length / wav.sampleRate,
      6,
    );
    expect(sample(text, 'piper_real_time_factor_count{voice="test-voice"}')).toBe(1);
    expect(sample(text, 'piper_workers{state="configured"}')).toBe(2);
    expect(sample(text, 'piper_queue_depth')).toBe(0);
    expect(sample(text, 'piper_loaded_voices')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'piper_cache_requests_total{result="miss",tier="none"}')).toBe(1);
    expect(sample(text, 'piper_cache_requests_total{result="hit",tier="memory"}')).toBe(1);
    expect(sample(text, 'piper_cache_memory_entries')).toBe(1);
    expect(sample(text, 'piper_cache_memory_bytes')).toBeGreaterThan(wav.pcm.byteLength);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
  });

  it('is never rate limited: Prometheus scrapes on a schedule', async () => {
    for (let scrape = 0; scrape < 8; scrape++)
      await request(server.url).get('/metrics').expect(200);
  });
});

describe('preemption, seen in /metrics', () => {
  let modelDir: string;
  const servers = serverFactory(() => ({
    MODEL_DIR: modelDir,
    DEFAULT_MODEL: 'bench-voice',
    WORKERS: '2',
    WORKER_THREADS: '1',
    ENABLE_CACHING: 'false',
  }));
  // Workers with fewer threads than cores keep an all-cores session; one core has none.
  const onTwoCores = availableParallelism() >= 2 ? it : it.skip;

  beforeAll(async () => {
    modelDir = await makeModelDir({ benchVoice: true });
  });
  afterAll(async () => {
    await servers.closeAll();
    if (modelDir) await removeDir(modelDir);
  });

  onTwoCores.each([
    ['true', 1],
    ['false', 0],
  ])(
    'SENTENCE_PREEMPTION=%s: a short request behind a streamed long text pauses it %i time(s)',
    async (preemption, expected) => {
      const url = await servers.start({ SENTENCE_PREEMPTION: String(preemption) });
      const text = Array.from({ length: 10 }, (_, i) => `This is sentence ${i + 1}.`).join(' ');
      const long = await fetch(`${url}/tts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text, stream: true }),
      });
      expect(long.status).toBe(200);
      const reader = long.body!.getReader();
      // Its first sentence is out: both workers now speak its next ones.
      let bytes = (await reader.read()).value?.length ?? 0;
      await request(url).post('/tts').send({ text: 'Hello.' }).expect(200);
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        bytes += chunk.value.length;
      }
      // Ten sentences of about a second each, whole.
      expect(bytes).toBeGreaterThan(44 + 2 * 22050 * 8);
      const metrics = await request(url).get('/metrics').expect(200);
      expect(metricSample(metrics.text, 'piper_preemptions_total')).toBe(expected);
    },
  );
});
