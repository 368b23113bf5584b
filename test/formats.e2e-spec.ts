/**
 * Every audio format of POST /tts, whole and streamed, checked with real decoders: the
 * decoded audio lasts as long as the WAV of the same request, headers name the format,
 * and a repeated request is answered from the cache with the same bytes.
 */
import request from 'supertest';
import { decodeWav } from '@app/piper';
import { decodeAudio, decodeFlac, decoderMissing, maxExtraSeconds } from './support/audio-decoders';
import { binary } from './support/processes';
import { itUnless } from './support/skips';
import { useTestServer } from './support/test-server';

const TEXT = 'Hello from Piper. This is the second sentence! And is this the third?';

const CONTENT_TYPES: Record<string, RegExp> = {
  mp3: /^audio\/mpeg/,
  opus: /^audio\/ogg; codecs=opus/,
  flac: /^audio\/flac/,
  aac: /^audio\/aac/,
};

describe('Audio formats of POST /tts', () => {
  const server = useTestServer({
    DEFAULT_MODEL: 'test-voice',
    RATE_LIMIT_REQUESTS: '1000',
    TTS_RATE_LIMIT_REQUESTS: '1000',
  });
  let wavSeconds: number;
  let wavSamples: Int16Array;

  beforeAll(async () => {
    const wav = await request(server.url)
      .post('/tts')
      .send({ text: TEXT })
      .buffer(true)
      .parse(binary);
    const decoded = decodeWav(wav.body as Buffer);
    wavSamples = decoded.pcm;
    wavSeconds = decoded.pcm.length / decoded.sampleRate;
  });

  function synthesize(format: string, stream: boolean): Promise<request.Response> {
    return request(server.url)
      .post('/tts')
      .send({ text: TEXT, format, stream })
      .buffer(true)
      .parse(binary)
      .expect(200);
  }

  describe.each(Object.keys(CONTENT_TYPES))('%s', (format) => {
    for (const stream of [false, true]) {
      itUnless(decoderMissing(format))(
        `stream ${stream}: decodes to the duration of the WAV`,
        async () => {
          const res = await synthesize(format, stream);
          expect(res.headers['content-type']).toMatch(CONTENT_TYPES[format]);
          expect(res.headers['content-disposition']).toBe(
            `attachment; filename=tts_test-voice_0.${format === 'opus' ? 'ogg' : format}`,
          );
          if (stream) expect(res.headers['transfer-encoding']).toBe('chunked');
          const audio = await decodeAudio(format, res.body as Buffer, 22050);
          const extra = audio.samples.length / audio.sampleRate - wavSeconds;
          expect(extra).toBeGreaterThanOrEqual(-1e-6);
          expect(extra).toBeLessThanOrEqual(maxExtraSeconds(format, 22050) + 1e-6);
        },
      );
    }

    it('is cached: the same request again is a HIT with the same bytes', async () => {
      const first = await synthesize(format, true);
      const again = await synthesize(format, true);
      expect(again.headers['x-cache']).toBe('HIT');
      expect((again.body as Buffer).equals(first.body as Buffer)).toBe(true);
    });
  });

  it('flac carries exactly the samples of the WAV', async () => {
    const flac = await decodeFlac((await synthesize('flac', false)).body as Buffer);
    expect(Int16Array.from(flac.samples, (s) => Math.round(s * 32767))).toEqual(wavSamples);
  });

  it('refuses an unknown format, naming the formats there are', async () => {
    const res = await request(server.url)
      .post('/tts')
      .send({ text: TEXT, format: 'ogg' })
      .expect(400);
    expect(res.body.message).toEqual(
      expect.arrayContaining([expect.stringMatching(/wav, pcm, mp3, opus, flac, aac/)]),
    );
  });
});
