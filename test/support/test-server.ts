/**
 * Starts the real server (AppModule + configureApp, real worker subprocesses) on a
 * temporary MODEL_DIR filled with generated voices, for e2e specs.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { writeBenchVoice, writeTestVoice } from '@app/piper';
import { AppModule } from '../../apps/tts-server/src/app.module';
import { configureApp } from '../../apps/tts-server/src/app.setup';
import { EngineWarmupService } from '../../apps/tts-server/src/engine-warmup.service';
import { listenOnLoopback } from './processes';

export interface ModelDirOptions {
  /** Also install the heavier benchmark voice (about 150 ms per 100 ids). */
  benchVoice?: boolean;
}

/**
 * A MODEL_DIR with: `test-voice` (flat Piper layout, single speaker, no card),
 * `multi-voice` (seed layout models/<voice>/, 3 speakers, MODEL_CARD) and optionally
 * `bench-voice` (flat).
 */
export async function makeModelDir(options: ModelDirOptions = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tts-models-'));
  await writeTestVoice(dir, { name: 'test-voice' });
  const seedDir = join(dir, 'multi-voice');
  await mkdir(seedDir);
  await writeTestVoice(seedDir, { name: 'multi-voice', speakers: 3 });
  await writeFile(
    join(seedDir, 'MODEL_CARD'),
    '# Multi voice\n\nA generated three-speaker test voice.\n',
  );
  if (options.benchVoice) await writeBenchVoice(dir, { name: 'bench-voice' });
  return dir;
}

export async function startServer(
  settings: Record<string, string>,
): Promise<NestExpressApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      // Wyoming off unless asked for (servers started side by side would all claim 10200);
      // test/wyoming.e2e-spec.ts listens on a free loopback port instead.
      AppModule.forRoot({
        WORKERS: '1',
        WORKER_THREADS: '1',
        LOG_LEVEL: 'error',
        WYOMING_PORT: '0',
        ...settings,
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({
    bodyParser: false,
    logger: ['error'],
  });
  configureApp(app);
  await app.init();
  await app.get(EngineWarmupService).whenStarted();
  return app;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Rate limits no spec's handful of requests reaches (the defaults would 429 a suite). */
export const UNLIMITED_RATE: Readonly<Record<string, string>> = {
  RATE_LIMIT_REQUESTS: '1000',
  TTS_RATE_LIMIT_REQUESTS: '1000',
};

/** A running server for a `describe` block (see useTestServer). */
export interface TestServer {
  /** Its base URL on loopback, e.g. http://127.0.0.1:40123. */
  readonly url: string;
  readonly app: NestExpressApplication;
  readonly modelDir: string;
}

/**
 * Starts a server on a fresh MODEL_DIR before the block's tests and stops it after
 * them (beforeAll/afterAll); `settings` get the MODEL_DIR. Read the fields inside tests.
 */
export function useTestServer(
  settings: Record<string, string>,
  dirOptions: ModelDirOptions = {},
): TestServer {
  const server = {} as { url: string; app: NestExpressApplication; modelDir: string };
  beforeAll(async () => {
    server.modelDir = await makeModelDir(dirOptions);
    server.app = await startServer({ MODEL_DIR: server.modelDir, ...settings });
    server.url = await listenOnLoopback(server.app);
  });
  afterAll(async () => {
    await server.app?.close();
    if (server.modelDir) await removeDir(server.modelDir);
  });
  return server;
}

/** Servers a block starts as its tests need them (see serverFactory). */
export interface ServerFactory {
  /** Starts one with `base()` overridden by `settings`; resolves to its loopback URL. */
  start(settings?: Record<string, string>): Promise<string>;
  /** Closes every server started so far (call it in afterAll, before removing their dirs). */
  closeAll(): Promise<void>;
}

/** For blocks that start several servers with different settings over a shared base. */
export function serverFactory(base: () => Record<string, string>): ServerFactory {
  const apps: NestExpressApplication[] = [];
  return {
    async start(settings = {}) {
      const app = await startServer({ ...base(), ...settings });
      apps.push(app);
      return listenOnLoopback(app);
    },
    async closeAll() {
      for (const app of apps.splice(0)) await app.close();
    },
  };
}

/** The value of one sample of a Prometheus text exposition (`name{label="x"} 3`), or undefined. */
export function metricSample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
