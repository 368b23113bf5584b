/**
 * The models endpoints over HTTP, on a small Nest app: ModelsModule as wired for
 * production, the real settings module and exception filter, and the generated test
 * voice. Only EngineModule is swapped: its worker pool becomes @app/piper's PiperVoice
 * run in this process, which records requests and can be held or made to fail, so
 * single-flight and retry behaviour are observable.
 */
import { INestApplication, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import request from 'supertest';
import { PiperVoice, decodeWav, encodeWav, writeTestVoice } from '@app/piper';
import { DomainExceptionFilter } from '../common/filters/domain-exception.filter';
import { SettingsModule } from '../config/settings.module';
import { EngineBusyError } from '../engine/engine.errors';
import { EngineModule } from '../engine/engine.module';
import {
  EngineAudio,
  EngineSentence,
  EngineStats,
  EngineSynthesisRequest,
  PhonemizedSentence,
  PiperEngine,
} from '../engine/piper-engine';
import type { VoiceIdentity } from '../engine/worker-protocol';
import { DEMO_SENTENCES } from './demo-sentences';
import { ModelsController } from './models.controller';
import { ModelsModule } from './models.module';
import { ModelsService } from './models.service';
import { VoiceRegistryService } from './voice-registry.service';

/** PiperEngine over in-process PiperVoice instances, recording every synthesis. */
class InProcessEngine extends PiperEngine {
  readonly requests: EngineSynthesisRequest[] = [];
  /** While set, syntheses wait for it. */
  hold: Promise<void> | undefined;
  /** Thrown (once) by the next synthesis. */
  failNext: Error | undefined;
  private readonly voices = new Map<string, Promise<PiperVoice>>();

  async synthesizeAll(synthesis: EngineSynthesisRequest): Promise<EngineAudio> {
    this.requests.push(synthesis);
    await this.hold;
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure) throw failure;
    const voice = await this.voice(synthesis);
    const result = await voice.synthesizeAll(synthesis.text, synthesis.options);
    return {
      pcm: result.pcm,
      sampleRate: result.sampleRate,
      sentenceCount: result.sentences.length,
      synthesisMs: 0,
    };
  }

  synthesize(): AsyncIterable<EngineSentence> {
    throw new Error('not used by the models endpoints');
  }

  phonemize(): Promise<PhonemizedSentence[]> {
    throw new Error('not used by the models endpoints');
  }

  setPinnedVoices(): Promise<void> {
    return Promise.resolve();
  }

  preloadVoices(): Promise<void> {
    return Promise.resolve();
  }

  retireVoice({ modelPath }: VoiceIdentity): void {
    this.voices.delete(modelPath);
  }

  isReady(): boolean {
    return true;
  }

  stats(): EngineStats {
    return {
      workers: 0,
      readyWorkers: 0,
      busyWorkers: 0,
      idleWorkers: 0,
      replacedWorkers: 0,
      preemptions: 0,
      memoryReplacedWorkers: 0,
      loadedVoices: this.voices.size,
      loadedVoiceDetails: [],
      estimatedVoiceBytes: 0,
      voiceEvictions: 0,
      maxLoadedVoices: 0,
      voiceMemoryBytes: 0,
      activeRequests: 0,
      queuedRequests: 0,
      maxConcurrentRequests: 1,
      maxQueue: 0,
    };
  }

  async release(): Promise<void> {
    for (const voice of this.voices.values()) await (await voice).release();
  }

  private voice({ modelPath, configPath }: EngineSynthesisRequest): Promise<PiperVoice> {
    let voice = this.voices.get(modelPath);
    if (!voice) {
      voice = PiperVoice.load(modelPath, { configPath });
      this.voices.set(modelPath, voice);
    }
    return voice;
  }
}

const engine = new InProcessEngine();

/** Stands in for EngineModule: the same export, without worker processes. */
@Module({
  providers: [{ provide: PiperEngine, useValue: engine }],
  exports: [PiperEngine],
})
class InProcessEngineModule {}

/** The WAV the test voice gives for this text, computed without the server. */
async function expectedWav(modelPath: string, text: string): Promise<Buffer> {
  const voice = await PiperVoice.load(modelPath);
  try {
    const { pcm, sampleRate } = await voice.synthesizeAll(text);
    return encodeWav(pcm, sampleRate);
  } finally {
    await voice.release();
  }
}

describe(ModelsController.name, () => {
  let modelDir: string;
  let app: INestApplication;
  let server: Server;
  let shippedDemo: Buffer;
  let plainModelPath: string;

  beforeAll(async () => {
    modelDir = await mkdtemp(join(tmpdir(), 'models-controller-'));
    const seedDir = join(modelDir, 'en_GB-seed-medium');
    await writeTestVoice(seedDir, { name: 'en_GB-seed-medium', speakers: 3 });
    await writeFile(join(seedDir, 'MODEL_CARD'), '# Seed voice\n\nLicense: CC0 — ünïcode\n');
    shippedDemo = encodeWav(new Int16Array([0, 1000, -1000, 0]), 22050);
    await writeFile(join(seedDir, 'demo.wav'), shippedDemo);
    await writeTestVoice(modelDir, { name: 'en_US-flat-medium' });
    await writeFile(join(modelDir, 'en_US-flat-medium.md'), '# Flat voice\n');
    ({ modelPath: plainModelPath } = await writeTestVoice(modelDir, { name: 'plain' }));
    await mkdir(join(modelDir, 'empty'));

    const moduleRef = await Test.createTestingModule({
      imports: [
        SettingsModule.forRoot({ MODEL_DIR: modelDir, DEFAULT_MODEL: 'plain' }),
        ModelsModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: DomainExceptionFilter }],
    })
      .overrideModule(EngineModule)
      .useModule(InProcessEngineModule)
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    server = app.getHttpServer() as Server;
  });

  afterAll(async () => {
    await app.close();
    await engine.release();
    await rm(modelDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    engine.requests.length = 0;
  });

  describe('GET /voices', () => {
    it('describes every installed voice as the Python server did', async () => {
      const response = await request(server).get('/voices').expect(200);

      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      const language = {
        code: 'en_US',
        family: 'en',
        region: 'US',
        name_native: 'English',
        name_english: 'English',
        country_english: 'United States',
      };
      const common = {
        language,
        quality: 'medium',
        sample_rate: 22050,
        phoneme_type: 'espeak',
        espeak_voice: 'en-us',
        inference: { noise_scale: 0.667, length_scale: 1, noise_w: 0.8 },
      };
      expect(response.body).toEqual({
        'en_GB-seed-medium': {
          ...common,
          speakers: [
            { index: '0', id: 'speaker_0' },
            { index: '1', id: 'speaker_1' },
            { index: '2', id: 'speaker_2' },
          ],
          model_card: '/model_card/en_GB-seed-medium',
          demo: '/demo/en_GB-seed-medium',
          num_speakers: 3,
          default: false,
        },
        'en_US-flat-medium': {
          ...common,
          speakers: [{ index: '0', id: 'default' }],
          model_card: '/model_card/en_US-flat-medium',
          demo: '/demo/en_US-flat-medium',
          num_speakers: 1,
          default: false,
        },
        plain: {
          ...common,
          speakers: [{ index: '0', id: 'default' }],
          model_card: null,
          demo: '/demo/plain',
          num_speakers: 1,
          default: true,
        },
      });
      expect(Object.keys(response.body as object)).toEqual([
        'en_GB-seed-medium',
        'en_US-flat-medium',
        'plain',
      ]);
    });
  });

  describe('GET /model_card/:model', () => {
    it('serves the card as UTF-8 Markdown', async () => {
      const response = await request(server).get('/model_card/en_GB-seed-medium').expect(200);

      expect(response.headers['content-type']).toBe('text/markdown; charset=utf-8');
      expect(response.text).toBe('# Seed voice\n\nLicense: CC0 — ünïcode\n');
    });

    it('serves the card of a flat-layout voice', async () => {
      const response = await request(server).get('/model_card/en_US-flat-medium').expect(200);

      expect(response.text).toBe('# Flat voice\n');
    });

    it('is a 404 for a voice without a card', async () => {
      const response = await request(server).get('/model_card/plain').expect(404);

      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.body).toMatchObject({
        statusCode: 404,
        code: 'MODEL_CARD_NOT_FOUND',
        message: 'voice "plain" has no model card',
      });
    });

    it('is a 404 naming the installed voices for an unknown voice', async () => {
      const response = await request(server).get('/model_card/en_US-nope-low').expect(404);

      expect(response.body).toMatchObject({
        statusCode: 404,
        code: 'VOICE_NOT_FOUND',
        message:
          'voice "en_US-nope-low" is not installed; installed voices: ' +
          'en_GB-seed-medium, en_US-flat-medium, plain',
      });
    });
  });

  describe('GET /demo/:model and /demo/:model/raw', () => {
    it.each(['/demo/en_GB-seed-medium', '/demo/en_GB-seed-medium/raw'])(
      '%s serves the demo shipped with the voice, without synthesis',
      async (path) => {
        const response = await request(server).get(path).responseType('blob').expect(200);

        expect(response.headers['content-type']).toBe('audio/wav');
        expect(response.headers['content-disposition']).toBe(
          'inline; filename=demo_en_GB-seed-medium.wav',
        );
        expect(response.body).toEqual(shippedDemo);
        expect(engine.requests).toEqual([]);
      },
    );

    it('synthesizes the English demo sentence once for a voice without a demo', async () => {
      const raw = await request(server).get('/demo/plain/raw').responseType('blob').expect(200);
      const plain = await request(server).get('/demo/plain').responseType('blob').expect(200);

      expect(raw.headers['content-type']).toBe('audio/wav');
      expect(raw.headers['content-disposition']).toBe('inline; filename=demo_plain.wav');
      const wav = raw.body as Buffer;
      expect(wav).toEqual(await expectedWav(plainModelPath, DEMO_SENTENCES['en']));
      const { sampleRate, pcm } = decodeWav(wav);
      expect(sampleRate).toBe(22050);
      expect(pcm.length).toBeGreaterThan(22050 / 2);
      expect(plain.body).toEqual(wav);
      expect(engine.requests).toEqual([
        {
          modelPath: plainModelPath,
          configPath: `${plainModelPath}.json`,
          revision: expect.any(String) as string,
          text: DEMO_SENTENCES['en'],
          options: {},
        },
      ]);
    });

    it('synthesizes once for concurrent first requests', async () => {
      const demo = jest.spyOn(app.get(ModelsService), 'demo');
      let release = (): void => undefined;
      engine.hold = new Promise((resolve) => (release = resolve));
      try {
        const responses = Promise.all(
          ['', '/raw', '', '/raw', ''].map((suffix) =>
            request(server).get(`/demo/en_US-flat-medium${suffix}`).responseType('blob'),
          ),
        );
        while (demo.mock.calls.length < 5) await new Promise((resolve) => setTimeout(resolve, 5));
        release();
        const bodies = (await responses).map((response) => {
          expect(response.status).toBe(200);
          return response.body as Buffer;
        });

        expect(engine.requests).toHaveLength(1);
        expect(new Set(bodies.map((body) => body.toString('base64'))).size).toBe(1);
      } finally {
        engine.hold = undefined;
        demo.mockRestore();
      }
    });

    it('does not remember a failed synthesis: the next request tries again', async () => {
      await app.get(VoiceRegistryService).scan(); // fresh entries: no demo synthesized yet
      engine.failNext = new EngineBusyError(2);

      const busy = await request(server).get('/demo/plain/raw').expect(503);
      expect(busy.headers['retry-after']).toBe('2');
      expect(busy.body).toMatchObject({ code: 'ENGINE_BUSY' });

      const retry = await request(server).get('/demo/plain/raw').responseType('blob').expect(200);
      expect(decodeWav(retry.body as Buffer).sampleRate).toBe(22050);
      expect(engine.requests).toHaveLength(2);
    });

    it('is a 404 for an unknown voice', async () => {
      const response = await request(server).get('/demo/en_US-nope-low/raw').expect(404);

      expect(response.body).toMatchObject({ code: 'VOICE_NOT_FOUND' });
      expect(engine.requests).toEqual([]);
    });
  });

  describe('names that try to leave the registry', () => {
    it.each([
      '/demo/..%2f..%2f..%2fetc%2fpasswd',
      '/demo/..%2fplain/raw',
      '/demo/%2e%2e/raw',
      '/demo/%2Fetc%2Fpasswd',
      '/demo/plain%00/raw',
      '/demo/a%00b',
      '/demo/empty/raw',
      '/model_card/..%2fen_US-flat-medium',
      '/model_card/..%252fen_US-flat-medium',
      '/model_card/en_US-flat-medium.md',
      '/model_card/%2e%2e%2fMODEL_CARD',
      '/model_card/__proto__',
      '/model_card/constructor',
    ])('%s is a voice-not-found 404', async (path) => {
      const response = await request(server).get(path).expect(404);

      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.body).toMatchObject({ statusCode: 404, code: 'VOICE_NOT_FOUND' });
      expect(engine.requests).toEqual([]);
    });

    it.each(['/demo/../../etc/passwd', '/model_card/../../etc/passwd', '/demo/', '/model_card/'])(
      '%s matches no route',
      async (path) => {
        const response = await request(server).get(path).expect(404);

        expect(response.headers['content-type']).toMatch(/^application\/json/);
        expect(response.text).not.toContain('root:');
      },
    );
  });
});
