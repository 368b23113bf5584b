/**
 * Graceful shutdown as an operator sees it: a request in flight when the server is
 * told to stop still gets its audio, the process ends on its own, and no synthesis
 * worker outlives it.
 *
 * First in-process (app.close(), what SIGTERM runs through the shutdown hooks), then —
 * when `npm run build` has produced it — the built server started with `node` and
 * stopped with a real SIGTERM.
 */
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { decodeWav } from '@app/piper';
import { PoolPiperEngine } from '../apps/tts-server/src/engine/pool-piper-engine';
import {
  binary,
  BUILT_SERVER_MAIN,
  builtServerMissing,
  childPids,
  cpuTicks,
  exitWithin,
  isRunning,
  killIfRunning,
  listenOnLoopback,
  longText,
  startBuiltServer,
  waitFor,
  type BuiltServer,
  type Exit,
} from './support/processes';
import { describeUnless } from './support/skips';
import { makeModelDir, removeDir, startServer } from './support/test-server';

const UNLIMITED_RATE = { RATE_LIMIT_REQUESTS: '1000', TTS_RATE_LIMIT_REQUESTS: '1000' };

/** Several seconds of synthesis on the bench voice. */
const LONG_TEXT_CHARACTERS = 400;

/** How long the built server may take from SIGTERM to exit (its drain included). */
const EXIT_TIMEOUT_MS = 30_000;

function expectWav(body: Buffer): void {
  const wav = decodeWav(body);
  expect(wav.sampleRate).toBe(22050);
  expect(wav.pcm.length).toBeGreaterThan(0);
}

describe('TTS server shutdown', () => {
  let modelDir: string;
  let app: NestExpressApplication | undefined;

  beforeAll(async () => {
    modelDir = await makeModelDir({ benchVoice: true });
  });

  afterEach(async () => {
    // Only reached with the app still open when a test failed before closing it.
    await app?.close();
    app = undefined;
  });

  afterAll(async () => {
    if (modelDir) await removeDir(modelDir);
  });

  it('app.close() lets a request in flight finish with its audio, then ends every worker', async () => {
    app = await startServer({
      ...UNLIMITED_RATE,
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'bench-voice',
      MAX_TEXT_LENGTH: '5000',
      WORKERS: '2',
    });
    const url = await listenOnLoopback(app);
    const engine = app.get(PoolPiperEngine);
    const workerPids = engine.workerPids();
    expect(workerPids).toHaveLength(2);
    const inFlight = request(url)
      .post('/tts')
      .send({ text: longText('farewell', LONG_TEXT_CHARACTERS) })
      .buffer(true)
      .parse(binary)
      .then((res) => res);
    await waitFor('the long request to hold a synthesis slot', () => {
      return engine.stats().activeRequests === 1;
    });

    const closing = app.close();
    app = undefined;
    const res = await inFlight;
    await closing;

    expect(res.status).toBe(200);
    expectWav(res.body as Buffer);
    for (const pid of workerPids) expect(isRunning(pid)).toBe(false);
  });

  it('answers queued requests 503 at once and stops what outlives SHUTDOWN_TIMEOUT_MS', async () => {
    app = await startServer({
      ...UNLIMITED_RATE,
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'bench-voice',
      MAX_TEXT_LENGTH: '5000',
      MAX_CONCURRENT_REQUESTS: '1',
      MAX_QUEUE: '5',
      SHUTDOWN_TIMEOUT_MS: '0',
    });
    const url = await listenOnLoopback(app);
    const engine = app.get(PoolPiperEngine);
    const send = (label: string) =>
      request(url)
        .post('/tts')
        .send({ text: longText(label, LONG_TEXT_CHARACTERS) })
        .then((res) => res);
    const running = send('running');
    await waitFor('a request to hold the only slot', () => engine.stats().activeRequests === 1);
    const queued = send('queued');
    await waitFor(
      'a second request to wait in the queue',
      () => engine.stats().queuedRequests === 1,
    );

    const closing = app.close();
    app = undefined;
    const [runningRes, queuedRes] = await Promise.all([running, queued]);
    await closing;

    // Neither waited for the other's synthesis: with no grace period both are told to retry.
    expect(queuedRes.status).toBe(503);
    expect(queuedRes.body).toMatchObject({ statusCode: 503, code: 'ENGINE_STOPPED' });
    expect(runningRes.status).toBe(503);
    expect(runningRes.body).toMatchObject({ code: 'ENGINE_STOPPED' });
  });
});

const describeBuilt = describeUnless(builtServerMissing());

describeBuilt('Built TTS server on SIGTERM', () => {
  let modelDir: string;
  let server: BuiltServer | undefined;
  let workerPids: number[] = [];

  beforeAll(async () => {
    modelDir = await makeModelDir({ benchVoice: true });
  });

  beforeEach(async () => {
    server = await startBuiltServer(
      {
        MODEL_DIR: modelDir,
        DEFAULT_MODEL: 'test-voice',
        WORKERS: '2',
        WORKER_THREADS: '1',
        MAX_TEXT_LENGTH: '5000',
        ...UNLIMITED_RATE,
      },
      modelDir,
    );
    const pid = server.pid;
    // Ready means every worker has started: they are the server's children.
    workerPids = await waitFor('the two workers to be listed', async () => {
      const children = await childPids(pid);
      return children.length === 2 && children;
    });
  });

  afterEach(async () => {
    // Only does something when a test failed with processes left behind.
    if (server && server.process.exitCode === null && server.process.signalCode === null) {
      await killIfRunning(server.pid, BUILT_SERVER_MAIN);
      await exitWithin(server, 5_000);
    }
    for (const pid of workerPids) await killIfRunning(pid, 'synth-worker');
    server = undefined;
    workerPids = [];
  });

  afterAll(async () => {
    if (modelDir) await removeDir(modelDir);
  });

  /** Sends SIGTERM and waits (bounded) for the process to end; how it ended. */
  async function stopWithSigterm(running: BuiltServer): Promise<Exit> {
    expect(running.process.kill('SIGTERM')).toBe(true);
    const exit = await exitWithin(running, EXIT_TIMEOUT_MS);
    if (exit === undefined) {
      throw new Error(`still running ${EXIT_TIMEOUT_MS} ms after SIGTERM:\n${running.output()}`);
    }
    return exit;
  }

  /** The workers ended before the server did: none was left behind as an orphan. */
  function expectNoWorkerLeft(): void {
    for (const pid of workerPids) expect(isRunning(pid)).toBe(false);
  }

  it('stops on SIGTERM and leaves no worker behind', async () => {
    const running = server!;
    await request(running.url).get('/health/ready').expect(200);

    await stopWithSigterm(running);

    expectNoWorkerLeft();
  });

  it('exits with code 0 after a graceful SIGTERM', async () => {
    // A supervisor (Docker, Kubernetes, systemd) reads a stop it asked for as a
    // failure when the process ends with 143 / "killed by SIGTERM" instead of 0.
    const exit = await stopWithSigterm(server!);

    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('finishes a request in flight at SIGTERM before exiting', async () => {
    const running = server!;
    const before = await Promise.all(workerPids.map((pid) => cpuTicks(pid)));
    const inFlight = request(running.url)
      .post('/tts')
      .send({ text: longText('last-words', LONG_TEXT_CHARACTERS), model: 'bench-voice' })
      .buffer(true)
      .parse(binary)
      .then((res) => res);
    // The request is in flight once a worker is spending CPU on it (idle workers use
    // next to none): 30 ticks is 0.3 s of a synthesis that takes seconds.
    await waitFor('a worker to be busy synthesizing', async () => {
      const now = await Promise.all(workerPids.map((pid) => cpuTicks(pid)));
      return now.some((ticks, index) => ticks - before[index] >= 30);
    });

    const stopped = stopWithSigterm(running);
    const res = await inFlight;
    await stopped;

    expect(res.status).toBe(200);
    expectWav(res.body as Buffer);
    expectNoWorkerLeft();
  });
});
