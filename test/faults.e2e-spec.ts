/**
 * What a client and an operator see when synthesis goes wrong: a full queue, a
 * synthesis past SYNTH_TIMEOUT_MS, a worker process that dies mid-request. Each case
 * runs the real app and real worker subprocesses on the generated voices; the long
 * requests use `bench-voice`, whose compute makes a few hundred characters take
 * seconds, and the checks afterwards use the nearly free `test-voice`.
 */
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { decodeWav } from '@app/piper';
import { PoolPiperEngine } from '../apps/tts-server/src/engine/pool-piper-engine';
import {
  binary,
  isRunning,
  listenOnLoopback,
  longText,
  STACK_FRAME,
  waitFor,
} from './support/processes';
import { makeModelDir, removeDir, startServer } from './support/test-server';

const UNLIMITED_RATE = { RATE_LIMIT_REQUESTS: '1000', TTS_RATE_LIMIT_REQUESTS: '1000' };

/** Several seconds of synthesis on the bench voice. */
const LONG_TEXT_CHARACTERS = 400;

/** The error envelope of a 5xx, with its domain code, and never a stack frame. */
function expectErrorEnvelope(res: request.Response, statusCode: number, code: string): void {
  expect(res.status).toBe(statusCode);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body).toEqual({
    statusCode,
    error: expect.any(String),
    message: expect.any(String),
    requestId: expect.any(String),
    code,
  });
  expect(res.body.requestId).toBe(res.headers['x-request-id']);
  expect(res.text).not.toMatch(STACK_FRAME);
}

/** A short request on the cheap voice, answered with a real WAV. */
async function expectShortSynthesisWorks(url: string): Promise<void> {
  const res = await request(url)
    .post('/tts')
    .send({ text: 'Still here.', model: 'test-voice' })
    .buffer(true)
    .parse(binary)
    .expect(200);
  expect(res.headers['content-type']).toMatch(/^audio\/wav/);
  expect(decodeWav(res.body as Buffer).pcm.length).toBeGreaterThan(0);
}

async function waitUntilReady(url: string): Promise<void> {
  await waitFor('/health/ready to answer 200', async () => {
    const res = await request(url).get('/health/ready');
    return res.status === 200;
  });
}

/** The one worker's pid once the one that had `previousPid` is gone and replaced. */
async function waitForReplacement(engine: PoolPiperEngine, previousPid: number): Promise<number> {
  return waitFor(`worker ${previousPid} to be replaced`, () => {
    const pids = engine.workerPids();
    return pids.length === 1 && pids[0] !== previousPid && !isRunning(previousPid) && pids[0];
  });
}

describe('TTS server under load', () => {
  let modelDir: string;
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    modelDir = await makeModelDir({ benchVoice: true });
    app = await startServer({
      ...UNLIMITED_RATE,
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'bench-voice',
      MAX_TEXT_LENGTH: '5000',
      MAX_CONCURRENT_REQUESTS: '1',
      MAX_QUEUE: '1',
    });
    url = await listenOnLoopback(app);
  });

  afterAll(async () => {
    await app?.close();
    if (modelDir) await removeDir(modelDir);
  });

  it('503s with Retry-After past one running and one queued request, then serves again', async () => {
    // Distinct texts: identical ones would share one synthesis through the cache.
    const responses = await Promise.all(
      ['first', 'second', 'third', 'fourth'].map((label) =>
        request(url)
          .post('/tts')
          .send({ text: longText(label, LONG_TEXT_CHARACTERS) }),
      ),
    );

    const accepted = responses.filter((res) => res.status === 200);
    const refused = responses.filter((res) => res.status === 503);
    // One slot and one queue place: two are served, the others refused at once.
    expect(accepted).toHaveLength(2);
    expect(refused).toHaveLength(2);
    for (const res of accepted) expect(res.headers['content-type']).toMatch(/^audio\/wav/);
    for (const res of refused) {
      expectErrorEnvelope(res, 503, 'ENGINE_BUSY');
      expect(res.body.error).toBe('Service Unavailable');
      expect(res.body.message).toMatch(/busy/);
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }

    await expectShortSynthesisWorks(url);
  });
});

describe('TTS server synthesis timeout', () => {
  let modelDir: string;
  let app: NestExpressApplication;
  let url: string;
  let engine: PoolPiperEngine;

  beforeAll(async () => {
    modelDir = await makeModelDir({ benchVoice: true });
    app = await startServer({
      ...UNLIMITED_RATE,
      MODEL_DIR: modelDir,
      // The replacement worker preloads the cheap voice, so the request after the
      // timeout fits well within it.
      DEFAULT_MODEL: 'test-voice',
      MAX_TEXT_LENGTH: '5000',
      SYNTH_TIMEOUT_MS: '1000',
    });
    url = await listenOnLoopback(app);
    engine = app.get(PoolPiperEngine);
  });

  afterAll(async () => {
    await app?.close();
    if (modelDir) await removeDir(modelDir);
  });

  it('504s a synthesis past SYNTH_TIMEOUT_MS, replaces its worker and serves the next request', async () => {
    const [stuckPid] = engine.workerPids();

    const res = await request(url)
      .post('/tts')
      .send({ text: longText('slow', LONG_TEXT_CHARACTERS), model: 'bench-voice' });

    expectErrorEnvelope(res, 504, 'SYNTHESIS_TIMEOUT');
    expect(res.body.error).toBe('Gateway Timeout');
    expect(res.body.message).toMatch(/1000 ms/);
    const replacementPid = await waitForReplacement(engine, stuckPid);
    expect(isRunning(replacementPid)).toBe(true);
    await expectShortSynthesisWorks(url);
    await waitUntilReady(url);
  });
});

describe('TTS server worker crash', () => {
  let modelDir: string;
  let app: NestExpressApplication;
  let url: string;
  let engine: PoolPiperEngine;

  beforeAll(async () => {
    modelDir = await makeModelDir({ benchVoice: true });
    app = await startServer({
      ...UNLIMITED_RATE,
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'bench-voice',
      MAX_TEXT_LENGTH: '5000',
    });
    url = await listenOnLoopback(app);
    engine = app.get(PoolPiperEngine);
  });

  afterAll(async () => {
    await app?.close();
    if (modelDir) await removeDir(modelDir);
  });

  it('502s the request whose worker is killed, replaces the worker and keeps serving', async () => {
    const [workerPid] = engine.workerPids();
    const inFlight = request(url)
      .post('/tts')
      .send({ text: longText('doomed', LONG_TEXT_CHARACTERS) })
      .then((res) => res);
    await waitFor('the long request to hold a synthesis slot', () => {
      return engine.stats().activeRequests === 1;
    });

    process.kill(workerPid, 'SIGKILL');
    const res = await inFlight;

    expectErrorEnvelope(res, 502, 'WORKER_CRASHED');
    expect(res.body.error).toBe('Bad Gateway');
    expect(res.body.message).toMatch(/SIGKILL/);
    await request(url).get('/health/live').expect(200);
    const replacementPid = await waitForReplacement(engine, workerPid);
    expect(isRunning(replacementPid)).toBe(true);
    await expectShortSynthesisWorks(url);
    await waitUntilReady(url);
  });
});
