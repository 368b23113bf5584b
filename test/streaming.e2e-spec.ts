/**
 * Streaming POST /tts: audio goes out sentence by sentence with a WAV header of unknown
 * size, a completed stream is cached, and a client that leaves frees its worker.
 */
import { request as httpRequest } from 'node:http';
import request from 'supertest';
import { decodeWav } from '@app/piper';
import { PoolPiperEngine } from '../apps/tts-server/src/engine/pool-piper-engine';
import { binary, longText, waitFor } from './support/processes';
import { UNLIMITED_RATE, useTestServer } from './support/test-server';

describe('Streaming POST /tts', () => {
  const server = useTestServer(
    {
      ...UNLIMITED_RATE,
      DEFAULT_MODEL: 'test-voice',
      MAX_TEXT_LENGTH: '5000',
      MAX_CONCURRENT_REQUESTS: '1',
    },
    { benchVoice: true },
  );

  it('streams a WAV with unknown sizes whose samples equal the whole response', async () => {
    const body = { text: 'First sentence here. Second one! And a third?' };
    const whole = await request(server.url)
      .post('/tts')
      .send(body)
      .buffer(true)
      .parse(binary)
      .expect(200);
    const streamed = await request(server.url)
      .post('/tts')
      .send({ ...body, stream: true })
      .buffer(true)
      .parse(binary)
      .expect(200);
    expect(streamed.headers['transfer-encoding']).toBe('chunked');
    expect(streamed.headers['content-type']).toMatch(/^audio\/wav/);
    expect(streamed.headers['x-cache']).toBe('MISS');
    const bytes = streamed.body as Buffer;
    expect(bytes.toString('ascii', 0, 4)).toBe('RIFF');
    expect(bytes.readUInt32LE(40)).toBe(0xffffffff);
    expect(Array.from(decodeWav(bytes).pcm)).toEqual(
      Array.from(decodeWav(whole.body as Buffer).pcm),
    );

    // Completed, so cached: the same request is now a HIT with a normal header.
    const again = await request(server.url)
      .post('/tts')
      .send({ ...body, stream: true })
      .buffer(true)
      .parse(binary)
      .expect(200);
    expect(again.headers['x-cache']).toBe('HIT');
    expect((again.body as Buffer).readUInt32LE(40)).toBe(decodeWav(bytes).pcm.length * 2);
  });

  it('streams raw PCM and speaks a long first sentence clause by clause', async () => {
    const text =
      'This first sentence is long enough, with several clauses, that streaming splits it; then it ends. Short one.';
    const wav = await request(server.url)
      .post('/tts')
      .send({ text })
      .buffer(true)
      .parse(binary)
      .expect(200);
    const pcm = await request(server.url)
      .post('/tts')
      .send({ text, stream: true, format: 'pcm' })
      .buffer(true)
      .parse(binary)
      .expect(200);
    expect(pcm.headers['content-type']).toBe('audio/pcm;rate=22050;channels=1');
    expect(pcm.headers['content-disposition']).toBe('attachment; filename=tts_test-voice_0.pcm');
    const samples = (pcm.body as Buffer).length / 2;
    // Each clause is its own inference (its own ^ _ … $ ids), so the audio is longer.
    expect(samples).toBeGreaterThan(decodeWav(wav.body as Buffer).pcm.length);
    expect(samples % 1024).toBe(0);
  });

  it('answers errors before streaming with a status and the JSON envelope', async () => {
    const res = await request(server.url)
      .post('/tts')
      .send({ text: 'hi', model: 'multi-voice', speaker_id: 'nobody', stream: true })
      .expect(404);
    expect(res.body).toMatchObject({ code: 'SPEAKER_NOT_FOUND' });
    await request(server.url).post('/tts').send({ text: 'hi', format: 'mp4' }).expect(400);
  });

  /** Starts a streamed request, reads its headers and first chunk, then hangs up. */
  function openAndLeave(
    body: object,
  ): Promise<{ cache: string | undefined; firstChunkBytes: number }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${server.url}/tts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        res.once('data', (chunk: Buffer) => {
          req.destroy();
          resolve({
            cache: res.headers['x-cache'] as string | undefined,
            firstChunkBytes: chunk.length,
          });
        });
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ECONNRESET') reject(error);
      });
      req.end(JSON.stringify(body));
    });
  }

  it('stops synthesizing and frees the worker when the client disconnects', async () => {
    const engine = server.app.get(PoolPiperEngine);
    const body = { text: longText('leaving', 2000), model: 'bench-voice', stream: true };
    const first = await openAndLeave(body);
    expect(first.cache).toBe('MISS');
    expect(first.firstChunkBytes).toBeGreaterThan(0);
    // The only slot comes back long before the remaining sentences could have been spoken.
    await waitFor('the slot to be released', () => engine.stats().activeRequests === 0, {
      timeoutMs: 10_000,
    });
    await request(server.url).post('/tts').send({ text: 'Still here.' }).expect(200);
    // A cancelled stream is not cached: the same request synthesizes again.
    const second = await openAndLeave(body);
    expect(second.cache).toBe('MISS');
    await waitFor('the slot to be released again', () => engine.stats().activeRequests === 0, {
      timeoutMs: 10_000,
    });
  });
});
