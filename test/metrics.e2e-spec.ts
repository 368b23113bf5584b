/**
 * GET /metrics: Prometheus text with request counts by route pattern, synthesis
 * time, audio seconds and real-time factor per voice, and the worker pool's state.
 */
import request from 'supertest';
import { decodeWav } from '@app/piper';
import { binary } from './support/processes';
import { metricSample, useTestServer } from './support/test-server';

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
