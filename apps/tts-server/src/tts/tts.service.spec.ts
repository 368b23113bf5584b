/**
 * TtsService on the real engine: the worker pool (one worker) over the project's
 * generated test voices, the real voice registry and audio cache, and no HTTP. The
 * audio is compared with what @app/piper's PiperVoice gives in this process for the
 * same text, so a job that lost a parameter on its way to the engine shows.
 */
import type { TestingModule } from '@nestjs/testing';
import { Test } from '@nestjs/testing';
import { ThrottlerModule } from '@nestjs/throttler';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { PiperVoice, SpeakerNotFoundError, decodeWav, type SynthesisOptions } from '@app/piper';
import { makeModelDir, removeDir } from '../../../../test/support/test-server';
import { waitFor } from '../../../../test/support/processes';
import { TextTooLongError } from '../common/server-errors';
import { SettingsModule } from '../config/settings.module';
import { EngineWarmupService } from '../engine-warmup.service';
import { EngineModule } from '../engine/engine.module';
import { MetricsModule } from '../metrics/metrics.module';
import { ModelsModule } from '../models/models.module';
import { RedisModule } from '../redis/redis.module';
import type { CachedAudioResponse } from './cached-audio-response';
import type { SynthesizeDto } from './dto/synthesize.dto';
import { TtsModule } from './tts.module';
import { TtsService } from './tts.service';

const MAX_TEXT_LENGTH = 40;
/** The test voice's rate (its config). */
const SAMPLE_RATE = 22050;

describe(TtsService.name, () => {
  let modelDir: string;
  let moduleRef: TestingModule;
  let tts: TtsService;

  beforeAll(async () => {
    modelDir = await makeModelDir();
    moduleRef = await Test.createTestingModule({
      imports: [
        SettingsModule.forRoot({
          MODEL_DIR: modelDir,
          DEFAULT_MODEL: 'test-voice',
          MAX_TEXT_LENGTH: String(MAX_TEXT_LENGTH),
          MODEL_RELOAD_INTERVAL_MS: '0',
          WORKERS: '1',
          WORKER_THREADS: '1',
          LOG_LEVEL: 'error',
        }),
        MetricsModule,
        RedisModule,
        // The synthesis budget's storage (no client here, so nothing is spent).
        ThrottlerModule.forRoot({ throttlers: [] }),
        EngineModule,
        ModelsModule,
        TtsModule,
      ],
      providers: [EngineWarmupService],
    })
      .setLogger({ log() {}, warn() {}, error() {} })
      .compile();
    await moduleRef.init();
    await moduleRef.get(EngineWarmupService).whenStarted();
    tts = moduleRef.get(TtsService);
  });

  afterAll(async () => {
    await moduleRef?.close();
    if (modelDir) await removeDir(modelDir);
  });

  /** The samples PiperVoice gives in this process for `text` on `voice`. */
  async function expectedPcm(
    voice: string,
    text: string,
    options: SynthesisOptions = {},
  ): Promise<Int16Array> {
    const path =
      voice === 'multi-voice'
        ? join(modelDir, 'multi-voice', 'multi-voice.onnx')
        : join(modelDir, `${voice}.onnx`);
    const piper = await PiperVoice.load(path, { intraOpThreads: 1 });
    try {
      return (await piper.synthesizeAll(text, options)).pcm;
    } finally {
      await piper.release();
    }
  }

  const synthesize = (dto: Partial<SynthesizeDto>): Promise<CachedAudioResponse> =>
    tts.synthesize({ text: 'Hello.', ...dto });

  const headersOf = (response: CachedAudioResponse) => response.file.getHeaders();

  async function bytesOf(stream: Readable): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  describe('whole files', () => {
    it('speaks the default voice as a WAV download, then answers the same request from the cache', async () => {
      const text = 'Hello from the service.';
      const first = await synthesize({ text });
      expect(first.cache).toBe('MISS');
      expect(headersOf(first)).toMatchObject({
        type: 'audio/wav',
        disposition: 'attachment; filename=tts_test-voice_0.wav',
        length: first.whole?.body.length,
      });
      const wav = decodeWav(first.whole!.body);
      expect(wav.sampleRate).toBe(SAMPLE_RATE);
      expect(wav.pcm).toEqual(await expectedPcm('test-voice', text));

      const again = await synthesize({ text });
      expect(again.cache).toBe('HIT');
      expect(again.whole?.body.equals(first.whole!.body)).toBe(true);
    });

    it('hands the synthesis parameters to the engine', async () => {
      const text = 'Slow and quiet.';
      const response = await synthesize({
        text,
        length_scale: 2,
        volume: 0.5,
        sentence_silence: 0.25,
      });
      const options = { lengthScale: 2, volume: 0.5, sentenceSilenceSeconds: 0.25 };
      expect(decodeWav(response.whole!.body).pcm).toEqual(
        await expectedPcm('test-voice', text, options),
      );
    });

    it('offers a file inline when asked (GET /tts, for an audio element)', async () => {
      const response = await tts.synthesize({ text: 'Inline.' }, undefined, 'inline');
      expect(headersOf(response).disposition).toBe('inline; filename=tts_test-voice_0.wav');
    });

    it('resamples raw PCM to the rate a job asks for and says so in its Content-Type', async () => {
      const voice = tts.voice(undefined);
      const text = 'Raw samples.';
      const response = await tts.render({
        text,
        voice,
        speakerId: 0,
        format: 'pcm',
        outputSampleRate: 24000,
        stream: false,
      });
      expect(headersOf(response).type).toBe('audio/pcm;rate=24000;channels=1');
      const samples = response.whole!.body.length / 2;
      const expected = ((await expectedPcm('test-voice', text)).length * 24000) / SAMPLE_RATE;
      expect(Math.abs(samples - expected)).toBeLessThanOrEqual(2);
    });
  });

  describe('speakers', () => {
    it('takes a speaker by name or index and names the file after its number', async () => {
      const byName = await synthesize({ model: 'multi-voice', speaker_id: 'speaker_2' });
      const byIndex = await synthesize({ model: 'multi-voice', speaker_id: '2' });
      expect(headersOf(byName).disposition).toBe('attachment; filename=tts_multi-voice_2.wav');
      expect(byIndex.whole?.body.equals(byName.whole!.body)).toBe(true);
      expect(decodeWav(byName.whole!.body).pcm).toEqual(
        await expectedPcm('multi-voice', 'Hello.', { speaker: 2 }),
      );
    });

    it('refuses a speaker the voice does not have, listing those it has', async () => {
      await expect(synthesize({ model: 'multi-voice', speaker_id: 'speaker_9' })).rejects.toThrow(
        SpeakerNotFoundError,
      );
      await expect(synthesize({ model: 'multi-voice', speaker_id: '3' })).rejects.toThrow(
        /speakers are 0 to 2 or one of: speaker_0, speaker_1, speaker_2/,
      );
    });

    it("gives a single-speaker voice's one speaker for any request without one", () => {
      const voice = tts.voice('test-voice');
      expect(tts.speakerId(voice, undefined)).toBe(0);
      expect(tts.speakerId(voice, '')).toBe(0);
    });
  });

  describe('text', () => {
    it('counts characters as a reader does, after normalizing, before refusing a text as too long', async () => {
      // 40 é written as e + combining accent: 80 code points, 40 characters once composed.
      const composed = await tts.phonemize({ text: 'e\u0301'.repeat(MAX_TEXT_LENGTH) });
      expect(composed.sentences.length).toBeGreaterThan(0);
      await expect(synthesize({ text: 'a'.repeat(MAX_TEXT_LENGTH + 1) })).rejects.toThrow(
        TextTooLongError,
      );
    });
  });

  describe('streaming', () => {
    it('streams a WAV as it is synthesized, then serves the whole file from the cache with exact sizes', async () => {
      const text = 'One sentence. And another one.';
      const streamed = await synthesize({ text, stream: true });
      expect(streamed.cache).toBe('MISS');
      expect(streamed.whole).toBeUndefined();
      expect(headersOf(streamed).type).toBe('audio/wav');
      const bytes = await bytesOf(streamed.file.getStream());
      const expected = await expectedPcm('test-voice', text);
      const samples = new Int16Array(bytes.buffer, bytes.byteOffset + 44, (bytes.length - 44) / 2);
      expect(samples).toEqual(expected);

      const cached = await waitFor('the streamed WAV in the cache', async () => {
        const again = await synthesize({ text, stream: true });
        return again.cache === 'HIT' && again;
      });
      // The cached copy is a file whose header states its real length.
      expect(decodeWav(cached.whole!.body).pcm).toEqual(expected);
    });
  });
});
