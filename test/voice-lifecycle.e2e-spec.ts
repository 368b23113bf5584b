/**
 * Voices over the server's life: DEFAULT_MODEL downloaded at start while /health/live
 * answers and /health/ready does not; MODEL_DIR hot-reloaded (voices added, replaced,
 * removed and broken appear and disappear within seconds, requests in flight finish);
 * invalid voices listed with their reasons in GET /health/detailed.
 */
import type { NestExpressApplication } from '@nestjs/platform-express';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import request from 'supertest';
import { writeBenchVoice, writeTestVoice } from '@app/piper';
import type { HealthDetails } from '../apps/tts-server/src/health/health-details.service';
import { binary, listenOnLoopback, longText, waitFor } from './support/processes';
import { metricSample, removeDir, startServer } from './support/test-server';
import {
  startVoiceCatalogueServer,
  type VoiceCatalogueServer,
} from './support/voice-catalogue-server';

const LIMITS = { RATE_LIMIT_REQUESTS: '10000', TTS_RATE_LIMIT_REQUESTS: '10000' };

interface Listed {
  name: string;
  speakers: { index: string; id: string }[];
}

async function listedVoices(url: string): Promise<Listed[]> {
  const res = await request(url).get('/voices').expect(200);
  const voices = res.body as Record<string, Omit<Listed, 'name'>>;
  return Object.entries(voices).map(([name, voice]) => ({ name, ...voice }));
}

async function voiceNames(url: string): Promise<string[]> {
  return (await listedVoices(url)).map(({ name }) => name);
}

/** Seconds of audio in a WAV of 16-bit mono PCM with a 44-byte header. */
function wavSeconds(wav: Buffer): number {
  return (wav.length - 44) / 2 / wav.readUInt32LE(24);
}

describe('Default voice download at start', () => {
  let workDir: string;
  let modelDir: string;
  let catalogue: VoiceCatalogueServer;
  let app: NestExpressApplication | undefined;
  let releaseNetwork: () => void;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'voice-lifecycle-'));
    modelDir = join(workDir, 'models');
    await writeTestVoice(modelDir, { name: 'local-voice' });
    const held = new Promise<void>((resolve) => (releaseNetwork = resolve));
    catalogue = await startVoiceCatalogueServer(join(workDir, 'catalogue'), [
      { name: 'en_US-fresh-medium', faults: { 'en_US-fresh-medium.onnx': { holdUntil: held } } },
    ]);
  });

  afterAll(async () => {
    releaseNetwork();
    await app?.close();
    await catalogue.close();
    await removeDir(workDir);
  });

  it('is live but not ready while DEFAULT_MODEL downloads, serves what it has, then uses it', async () => {
    app = await startServer({
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'en_US-fresh-medium',
      VOICES_BASE_URL: catalogue.baseUrl,
      ...LIMITS,
    });
    const url = await listenOnLoopback(app);

    await request(url).get('/health/live').expect(200);
    const notReady = await request(url).get('/health/ready').expect(503);
    expect(JSON.stringify(notReady.body)).toContain('downloading DEFAULT_MODEL en_US-fresh-medium');
    const during = await request(url).get('/health/detailed').expect(200);
    expect(during.body).toMatchObject({
      ready: false,
      default_voice_install: { state: 'downloading', voice: 'en_US-fresh-medium' },
      voices: { installed: ['local-voice'] },
    });
    // The voices it has are served meanwhile.
    await request(url).post('/tts').send({ text: 'Still here.', model: 'local-voice' }).expect(200);
    expect(await voiceNames(url)).toEqual(['local-voice']);

    releaseNetwork();
    await waitFor('readiness after the download', async () => {
      const res = await request(url).get('/health/ready');
      return res.status === 200;
    });
    const after = await request(url).get('/health/detailed').expect(200);
    expect(after.body).toMatchObject({
      status: 'ok',
      ready: true,
      default_voice: 'en_US-fresh-medium',
      default_voice_install: { state: 'installed', voice: 'en_US-fresh-medium' },
      voices: { installed: ['en_US-fresh-medium', 'local-voice'], invalid: [] },
    });
    const spoken = await request(url)
      .post('/tts')
      .send({ text: 'Now with the new voice.' })
      .expect(200);
    expect(spoken.headers['content-disposition']).toContain('tts_en_US-fresh-medium_');
  });
});

describe('Hot reload of MODEL_DIR', () => {
  let modelDir: string;
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    modelDir = await mkdtemp(join(tmpdir(), 'voice-reload-'));
    await writeTestVoice(modelDir, { name: 'test-voice' });
    await writeBenchVoice(modelDir, { name: 'bench-voice' });
    app = await startServer({
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'test-voice',
      MODEL_RELOAD_INTERVAL_MS: '200',
      MAX_TEXT_LENGTH: '2000',
      ...LIMITS,
    });
    url = await listenOnLoopback(app);
  });

  afterAll(async () => {
    await app.close();
    await removeDir(modelDir);
  });

  it('serves a voice copied into MODEL_DIR within seconds, without a restart', async () => {
    await writeTestVoice(join(modelDir, 'en_GB-added-low'), { name: 'en_GB-added-low' });
    await waitFor('the added voice in /voices', async () =>
      (await voiceNames(url)).includes('en_GB-added-low'),
    );
    const res = await request(url)
      .post('/tts')
      .send({ text: 'A voice that arrived late.', model: 'en_GB-added-low' })
      .buffer(true)
      .parse(binary)
      .expect(200);
    expect((res.body as Buffer).subarray(0, 4).toString()).toBe('RIFF');
  });

  it('speaks with the new files of a replaced voice, not the old session', async () => {
    await writeTestVoice(modelDir, { name: 'swapped' });
    await waitFor('the first version', async () => (await voiceNames(url)).includes('swapped'));
    await request(url).post('/tts').send({ text: 'Version one.', model: 'swapped' }).expect(200);

    // Replaced by a three-speaker voice, written beside it and renamed over it.
    const staging = join(modelDir, '.staging');
    const next = await writeTestVoice(staging, { name: 'swapped', speakers: 3 });
    await copyFile(next.modelPath, join(modelDir, 'swapped.onnx'));
    await copyFile(next.configPath, join(modelDir, 'swapped.onnx.json'));
    await waitFor('three speakers listed', async () => {
      const swapped = (await listedVoices(url)).find(({ name }) => name === 'swapped');
      return swapped?.speakers.length === 3;
    });
    // Speaker 2 exists only in the new network: an old session would refuse it.
    await request(url)
      .post('/tts')
      .send({ text: 'Version two.', model: 'swapped', speaker_id: '2' })
      .expect(200);
    await rm(staging, { recursive: true, force: true });
  });

  it('finishes a request in flight on a voice removed meanwhile, then stops serving it', async () => {
    // Streamed, so that the first sentence's audio proves the voice is loaded and
    // speaking before its files are taken away under it.
    const body = JSON.stringify({
      text: longText('removal', 700),
      model: 'bench-voice',
      stream: true,
    });
    const chunks: Buffer[] = [];
    let firstAudio!: () => void;
    const speaking = new Promise<void>((resolve) => (firstAudio = resolve));
    const response = new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const req = httpRequest(
        `${url}/tts`,
        { method: 'POST', headers: { 'content-type': 'application/json' } },
        (res) => {
          res.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            // Past the 44-byte streaming WAV header: a sentence has been synthesized.
            if (Buffer.concat(chunks).length > 44) firstAudio();
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    await speaking;
    await rm(join(modelDir, 'bench-voice.onnx'));
    await rm(join(modelDir, 'bench-voice.onnx.json'));
    await waitFor('bench-voice gone from /voices', async () => {
      return !(await voiceNames(url)).includes('bench-voice');
    });

    const res = await response;
    expect(res.status).toBe(200);
    // Far more than one sentence: the whole text was spoken, not cut at the removal.
    expect(wavSeconds(res.body)).toBeGreaterThan(10);
    const gone = await request(url)
      .post('/tts')
      .send({ text: 'Anyone there?', model: 'bench-voice' })
      .expect(404);
    expect(gone.body.message).toContain('bench-voice');
  });

  it('lists a broken voice with its reason in /health/detailed, and serves it once fixed', async () => {
    const good = await writeTestVoice(join(modelDir, '.staging-fix'), { name: 'half-copied' });
    const network = await readFile(good.modelPath);
    const dir = join(modelDir, 'half-copied');
    await mkdir(dir);
    await writeFile(join(dir, 'half-copied.onnx'), network.subarray(0, network.length >> 1));
    await copyFile(good.configPath, join(dir, 'half-copied.onnx.json'));

    const detailed = await waitFor('the broken voice in /health/detailed', async () => {
      const res = await request(url).get('/health/detailed').expect(200);
      const body = res.body as HealthDetails;
      return body.voices.invalid.length > 0 ? body : undefined;
    });
    expect(detailed.status).toBe('degraded');
    expect(detailed.voices.invalid).toEqual([
      {
        name: 'half-copied',
        path: 'half-copied/half-copied.onnx',
        reasons: [
          expect.stringMatching(/^half-copied\/half-copied\.onnx: the network file is truncated/),
        ],
      },
    ]);
    expect(JSON.stringify(detailed)).not.toContain(modelDir);
    expect(await voiceNames(url)).not.toContain('half-copied');
    // The server still answers everything else.
    await request(url).post('/tts').send({ text: 'Unbothered.' }).expect(200);

    await writeFile(join(dir, 'half-copied.onnx'), network);
    await waitFor('the fixed voice in /voices', async () =>
      (await voiceNames(url)).includes('half-copied'),
    );
    const healthy = await request(url).get('/health/detailed').expect(200);
    expect(healthy.body.voices.invalid).toEqual([]);
    expect(healthy.body.status).toBe('ok');
    await request(url)
      .post('/tts')
      .send({ text: 'Whole again.', model: 'half-copied' })
      .expect(200);
    await rm(join(modelDir, '.staging-fix'), { recursive: true, force: true });
  });
});

describe('Default voice replaced in place', () => {
  let modelDir: string;
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    modelDir = await mkdtemp(join(tmpdir(), 'voice-default-swap-'));
    // A published medium voice's size: its load takes long enough to be seen.
    await writeBenchVoice(modelDir, { name: 'bench-voice' });
    app = await startServer({
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'bench-voice',
      MODEL_RELOAD_INTERVAL_MS: '200',
      ...LIMITS,
    });
    url = await listenOnLoopback(app);
  });

  afterAll(async () => {
    await app.close();
    await removeDir(modelDir);
  });

  it('stays ready while the workers load the new files, then speaks with them', async () => {
    const speak = async (): Promise<Buffer> =>
      (
        await request(url)
          .post('/tts')
          .send({ text: 'The same words again.' })
          .buffer(true)
          .parse(binary)
          .expect(200)
      ).body as Buffer;
    const before = await speak();
    await request(url).get('/health/ready').expect(200);
    const staging = join(modelDir, '.staging');
    const next = await writeBenchVoice(staging, { name: 'bench-voice', seed: 2 });

    // Kubernetes' view: /health/ready asked back to back through the whole swap.
    const answers: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) answers.push((await request(url).get('/health/ready')).status);
    })();
    try {
      await copyFile(next.modelPath, join(modelDir, 'bench-voice.onnx'));
      await copyFile(next.configPath, join(modelDir, 'bench-voice.onnx.json'));
      await waitFor('the new network speaking', async () => !(await speak()).equals(before), {
        timeoutMs: 30_000,
      });
    } finally {
      polling = false;
      await poller;
      await rm(staging, { recursive: true, force: true });
    }
    expect(answers.length).toBeGreaterThan(20);
    expect(answers.filter((status) => status !== 200)).toEqual([]);
  });
});

describe('Voice memory budget', () => {
  let modelDir: string;
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    modelDir = await mkdtemp(join(tmpdir(), 'voice-budget-'));
    for (const name of ['default-voice', 'preloaded', 'second', 'third']) {
      await writeTestVoice(modelDir, { name });
    }
    app = await startServer({
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'default-voice',
      WORKERS: '2',
      PRELOAD_VOICES: 'preloaded,not-installed',
      MAX_LOADED_VOICES: '3',
      ...LIMITS,
    });
    url = await listenOnLoopback(app);
  });

  afterAll(async () => {
    await app.close();
    await removeDir(modelDir);
  });

  async function loaded(): Promise<Record<string, { workers: number; pinned: boolean }>> {
    const res = await request(url).get('/health/detailed').expect(200);
    const details = (res.body as HealthDetails).engine.loadedVoiceDetails;
    return Object.fromEntries(
      details.map(({ modelPath, workers, pinned }) => [
        modelPath.replace(/\.onnx$/, ''),
        { workers, pinned },
      ]),
    );
  }

  it('loads the default voice in every worker and PRELOAD_VOICES once', async () => {
    expect(await loaded()).toEqual({
      'default-voice': { workers: 2, pinned: true },
      preloaded: { workers: 1, pinned: false },
    });
  });

  it('evicts the least recently used voice beyond MAX_LOADED_VOICES, never the default', async () => {
    await request(url).post('/tts').send({ text: 'Second.', model: 'second' }).expect(200);
    expect(Object.keys(await loaded()).sort()).toEqual(['default-voice', 'preloaded', 'second']);

    await request(url).post('/tts').send({ text: 'Third.', model: 'third' }).expect(200);
    const after = await loaded();
    expect(Object.keys(after).sort()).toEqual(['default-voice', 'second', 'third']);
    expect(after['default-voice']).toEqual({ workers: 2, pinned: true });
    const metrics = await request(url).get('/metrics').expect(200);
    expect(metricSample(metrics.text, 'piper_voice_evictions_total{voice="preloaded"}')).toBe(1);

    // The evicted voice loads again on demand and speaks as before.
    await request(url).post('/tts').send({ text: 'Back again.', model: 'preloaded' }).expect(200);
    expect(Object.keys(await loaded()).sort()).toEqual(['default-voice', 'preloaded', 'third']);
  });
});
