/**
 * The OpenAI-compatible speech API, driven by the official `openai` npm client against
 * the running server (real workers, generated voices).
 */
import type { NestExpressApplication } from '@nestjs/platform-express';
import OpenAI from 'openai';
import request from 'supertest';
import { decodeWav } from '@app/piper';
import { decodeAudio, decodeMp3, decoderMissing, maxExtraSeconds } from './support/audio-decoders';
import { binary, listenOnLoopback } from './support/processes';
import { itUnless } from './support/skips';
import { makeModelDir, removeDir, startServer } from './support/test-server';

describe('OpenAI speech API', () => {
  let modelDir: string;
  let app: NestExpressApplication;
  let url: string;
  let client: OpenAI;

  beforeAll(async () => {
    modelDir = await makeModelDir();
    app = await startServer({
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'multi-voice',
      RATE_LIMIT_REQUESTS: '1000',
      TTS_RATE_LIMIT_REQUESTS: '1000',
      OPENAI_VOICE_MAP: JSON.stringify({ nova: 'test-voice' }),
    });
    url = await listenOnLoopback(app);
    client = new OpenAI({ apiKey: 'not-needed', baseURL: `${url}/v1`, maxRetries: 0 });
  });

  afterAll(async () => {
    await app.close();
    await removeDir(modelDir);
  });

  async function speak(params: Partial<OpenAI.Audio.SpeechCreateParams>): Promise<Buffer> {
    const response = await client.audio.speech.create({
      model: 'tts-1',
      voice: 'alloy',
      input: 'Hello from Piper. How are you?',
      response_format: 'wav',
      ...params,
    });
    return Buffer.from(await response.arrayBuffer());
  }

  it('speaks WAV through client.audio.speech.create, streamed', async () => {
    const wav = decodeWav(await speak({}));
    expect(wav.sampleRate).toBe(22050);
    expect(wav.pcm.length).toBeGreaterThan(0);
  });

  it('speaks raw PCM at 24 kHz, as OpenAI clients play it', async () => {
    const wav = decodeWav(await speak({}));
    const response = await client.audio.speech.create({
      model: 'tts-1',
      voice: 'alloy',
      input: 'Hello from Piper. How are you?',
      response_format: 'pcm',
    });
    expect(response.headers.get('content-type')).toBe('audio/pcm;rate=24000;channels=1');
    const pcm = Buffer.from(await response.arrayBuffer());
    const expectedSamples = (wav.pcm.length * 24000) / 22050;
    expect(Math.abs(pcm.length / 2 - expectedSamples)).toBeLessThanOrEqual(2);
  });

  for (const format of ['mp3', 'opus', 'aac', 'flac'] as const) {
    itUnless(decoderMissing(format))(
      `speaks ${format}, streamed, decoding to the duration of the WAV`,
      async () => {
        const wav = decodeWav(await speak({}));
        const audio = await decodeAudio(format, await speak({ response_format: format }), 22050);
        const extra = audio.samples.length / audio.sampleRate - wav.pcm.length / wav.sampleRate;
        expect(extra).toBeGreaterThanOrEqual(-1e-6);
        expect(extra).toBeLessThanOrEqual(maxExtraSeconds(format, 22050) + 1e-6);
      },
    );
  }

  it('answers mp3 when no response_format is given, as OpenAI does', async () => {
    const res = await request(url)
      .post('/v1/audio/speech')
      .send({ model: 'tts-1', voice: 'alloy', input: 'Hello.' })
      .buffer(true)
      .parse(binary)
      .expect(200);
    expect(res.headers['content-type']).toBe('audio/mpeg');
    expect((await decodeMp3(res.body as Buffer)).samples.length).toBeGreaterThan(0);
  });

  it('maps speed to length_scale = 1 / speed', async () => {
    const normal = decodeWav(await speak({ input: 'Speed test.' }));
    const slow = decodeWav(await speak({ input: 'Speed test.', speed: 0.5 }));
    // The test voice gives round(4 × length_scale) frames per id: 4 → 8.
    expect(slow.pcm.length).toBe(normal.pcm.length * 2);
  });

  it('maps OpenAI voices to installed voices and speakers', async () => {
    // Compare samples: a streamed WAV and a cached one differ in their header's sizes.
    const samples = async (params: Partial<OpenAI.Audio.SpeechCreateParams>): Promise<number[]> =>
      Array.from(decodeWav(await speak(params)).pcm);
    const alloy = await samples({ voice: 'alloy' });
    const ash = await samples({ voice: 'ash' });
    expect(alloy).not.toEqual(ash); // speakers 0 and 1 of multi-voice
    expect(await samples({ voice: 'multi-voice:1' })).toEqual(ash);
    // OPENAI_VOICE_MAP sends nova to test-voice.
    expect(await samples({ voice: 'nova' })).toEqual(
      await samples({ model: 'test-voice', voice: 'test-voice' }),
    );
  });

  it('streams Server-Sent Events with base64 deltas and a final done event', async () => {
    const res = await request(url)
      .post('/v1/audio/speech')
      .send({
        model: 'tts-1',
        voice: 'alloy',
        input: 'One. Two. Three.',
        response_format: 'pcm',
        stream_format: 'sse',
      })
      .expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = res.text
      .split('\n\n')
      .filter(Boolean)
      .map((block) => JSON.parse(block.replace(/^data: /, '')) as { type: string; audio?: string });
    expect(events.at(-1)?.type).toBe('speech.audio.done');
    const deltas = events.filter((event) => event.type === 'speech.audio.delta');
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    const audio = Buffer.concat(deltas.map((event) => Buffer.from(event.audio ?? '', 'base64')));
    const direct = await speak({ input: 'One. Two. Three.', response_format: 'pcm' });
    expect(audio.equals(direct)).toBe(true);
  });

  it('lists models and voices in the shapes OpenAI clients expect', async () => {
    const models = await client.models.list();
    const ids = models.data.map((model) => model.id);
    expect(ids).toEqual(expect.arrayContaining(['tts-1', 'tts-1-hd', 'multi-voice', 'test-voice']));
    const voices = await request(url).get('/v1/audio/voices').expect(200);
    expect(voices.body.voices).toEqual(
      expect.arrayContaining([
        { id: 'alloy', name: 'alloy', voice: 'multi-voice', speaker: '0', language: 'en_US' },
        { id: 'nova', name: 'nova', voice: 'test-voice', speaker: '0', language: 'en_US' },
      ]),
    );
  });

  it("reports errors in OpenAI's error shape", async () => {
    const cases: Array<[Partial<OpenAI.Audio.SpeechCreateParams>, number, RegExp]> = [
      [
        { response_format: 'ogg' as 'mp3' },
        400,
        /response_format must be one of.*mp3, opus, aac, flac, wav, pcm/,
      ],
      [{ voice: 'nobody' }, 404, /nobody/],
      [{ model: 'gpt-9' }, 404, /gpt-9/],
      [{ speed: 9 }, 400, /speed/],
      [{ input: '' }, 400, /input/],
    ];
    for (const [params, status, message] of cases) {
      let caught: unknown;
      try {
        await speak(params);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(OpenAI.APIError);
      const apiError = caught as InstanceType<typeof OpenAI.APIError>;
      expect(apiError.status).toBe(status);
      expect(apiError.message).toMatch(message);
      expect((apiError.error as { type?: string }).type).toBe('invalid_request_error');
    }
  });
});
