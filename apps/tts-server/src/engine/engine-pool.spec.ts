/**
 * EnginePool with real worker processes: what a request gets (the same audio as PiperVoice
 * in this process), admission, failures of workers and cancellation.
 * Voices and hooks: test/support/engine-pool-fixtures.ts.
 */
import { join } from 'node:path';
import { type PiperVoice, type GeneratedVoiceFiles, type SentenceAudio } from '@app/piper';
import {
  FOUR_SENTENCES,
  longText,
  request,
  collect,
  isAlive,
  waitUntilGone,
  usePoolFixtures,
} from '../../../../test/support/engine-pool-fixtures';
import { EnginePool, type SettledJob } from './engine-pool';
import {
  EngineBusyError,
  SynthesisTimeoutError,
  WorkerCrashedError,
  WorkerReportedError,
} from './engine.errors';
import type { EngineSentence } from './piper-engine';

describe(EnginePool.name, () => {
  const fixtures = usePoolFixtures();
  const { logged, logger, startPool, createPool } = fixtures;
  let dir: string;
  let testVoice: GeneratedVoiceFiles;
  let multiVoice: GeneratedVoiceFiles;
  let benchVoice: GeneratedVoiceFiles;
  let localTest: PiperVoice;
  let localMulti: PiperVoice;
  beforeAll(() => {
    ({ dir, testVoice, multiVoice, benchVoice, localTest, localMulti } = fixtures);
  });

  describe('a started pool', () => {
    let pool: EnginePool;

    beforeAll(async () => {
      // Shared by the tests of this block, so not in `pools` (shut down after each test).
      pool = new EnginePool({
        workers: 2,
        intraOpThreads: 1,
        maxConcurrent: 4,
        maxQueue: 4,
        timeoutMs: 60_000,
        preload: [testVoice, multiVoice],
        logger,
      });
      await pool.start();
    });

    afterAll(async () => {
      const pids = pool.workerPids();
      await pool.shutdown(1_000);
      expect(pids.filter(isAlive)).toEqual([]);
    });

    it('is ready with every worker up', () => {
      expect(pool.isReady()).toBe(true);
      expect(pool.workerPids()).toHaveLength(2);
      expect(pool.stats()).toEqual({
        workers: 2,
        readyWorkers: 2,
        busyWorkers: 0,
        idleWorkers: 2,
        replacedWorkers: 0,
        preemptions: 0,
        memoryReplacedWorkers: 0,
        // Each worker preloaded both voices.
        loadedVoices: 4,
        loadedVoiceDetails: expect.arrayContaining(
          [testVoice, multiVoice].map(({ modelPath }) => ({
            modelPath,
            workers: 2,
            sessions: 2,
            loadingSessions: 0,
            estimatedBytes: expect.any(Number),
            pinned: true,
            activeRequests: 0,
            lastUsed: expect.any(Number),
          })),
        ),
        estimatedVoiceBytes: expect.any(Number),
        voiceEvictions: 0,
        maxLoadedVoices: 0,
        voiceMemoryBytes: 0,
        activeRequests: 0,
        queuedRequests: 0,
        maxConcurrentRequests: 4,
        maxQueue: 4,
      });
    });

    it('synthesizes the same PCM as PiperVoice in this process, bit for bit', async () => {
      const local = await localTest.synthesizeAll(FOUR_SENTENCES);
      const audio = await pool.synthesizeAll(request(testVoice, FOUR_SENTENCES));
      expect(audio.sentenceCount).toBe(4);
      expect(audio.sampleRate).toBe(22050);
      expect(audio.pcm).toBeInstanceOf(Int16Array);
      expect(audio.pcm).toEqual(local.pcm);
      expect(audio.synthesisMs).toBeGreaterThan(0);
    });

    it('passes speaker and synthesis options through to the voice', async () => {
      const options = {
        speaker: 2,
        lengthScale: 1.5,
        noiseScale: 0.3,
        noiseW: 0.2,
        volume: 0.5,
        sentenceSilenceSeconds: 0.1,
      };
      const local = await localMulti.synthesizeAll(FOUR_SENTENCES, options);
      const audio = await pool.synthesizeAll(request(multiVoice, FOUR_SENTENCES, options));
      expect(audio.pcm).toEqual(local.pcm);
      // and not by accident: another speaker sounds different
      const speaker1 = await pool.synthesizeAll(
        request(multiVoice, FOUR_SENTENCES, { ...options, speaker: 1 }),
      );
      expect(speaker1.pcm).toHaveLength(local.pcm.length);
      expect(speaker1.pcm).not.toEqual(local.pcm);
    });

    it('streams the sentences in order, each as PiperVoice speaks it', async () => {
      const local: SentenceAudio[] = await collect(localTest.synthesize(FOUR_SENTENCES));
      const streamed: EngineSentence[] = await collect(
        pool.synthesize(request(testVoice, FOUR_SENTENCES)),
      );
      expect(streamed.map((sentence) => sentence.index)).toEqual([0, 1, 2, 3]);
      expect(streamed.map((sentence) => sentence.phonemes)).toEqual(
        local.map((sentence) => sentence.phonemes),
      );
      streamed.forEach((sentence, i) => {
        expect(sentence.phonemeIds).toEqual(local[i].phonemeIds);
        expect(sentence.pcm).toEqual(local[i].pcm);
        expect(sentence.sampleRate).toBe(22050);
      });
    });

    it('phonemizes into the sentences that synthesis speaks', async () => {
      const sentences = await pool.phonemize(
        testVoice.modelPath,
        testVoice.configPath,
        FOUR_SENTENCES,
      );
      const expected = localTest
        .phonemize(FOUR_SENTENCES)
        .map((phonemes) => ({ phonemes, phonemeIds: localTest.phonemesToIds(phonemes) }));
      expect(sentences).toEqual(expected);
      expect(sentences).toHaveLength(4);
    });

    it("reports the engine's typed errors by code, and the worker keeps serving", async () => {
      const pids = pool.workerPids();
      const failure = pool.synthesizeAll(request(multiVoice, 'Hello.', { speaker: 3 }));
      await expect(failure).rejects.toBeInstanceOf(WorkerReportedError);
      await expect(failure).rejects.toMatchObject({
        code: 'SPEAKER_NOT_FOUND',
        workerErrorName: 'SpeakerNotFoundError',
        message: expect.stringContaining('speaker 3 not found in voice multi-voice') as string,
      });
      await expect(pool.synthesizeAll(request(testVoice, '   '))).rejects.toMatchObject({
        code: 'TEXT_EMPTY',
      });
      await expect(
        pool.synthesizeAll(request(testVoice, 'Hello.', { lengthScale: -1 })),
      ).rejects.toMatchObject({ code: 'SYNTHESIS_OPTION_INVALID' });
      // Files gone (a voice removed from MODEL_DIR while the server runs): not a fault.
      await expect(
        pool.phonemize(join(dir, 'missing.onnx'), join(dir, 'missing.onnx.json'), 'Hello.'),
      ).rejects.toMatchObject({ code: 'VOICE_FILES_MISSING' });
      await expect(
        pool.synthesizeAll({ ...request(testVoice, 'Hello.'), modelPath: join(dir, 'gone.onnx') }),
      ).rejects.toMatchObject({ code: 'VOICE_FILES_MISSING' });

      const audio = await pool.synthesizeAll(request(testVoice, FOUR_SENTENCES));
      expect(audio.sentenceCount).toBe(4);
      expect(pool.workerPids()).toEqual(pids);
      expect(pool.stats()).toMatchObject({ activeRequests: 0, readyWorkers: 2 });
    });

    it('surfaces errors of a stream at its first sentence', async () => {
      const sentences = pool.synthesize(request(multiVoice, 'Hello.', { speaker: 'nobody' }));
      await expect(collect(sentences)).rejects.toMatchObject({ code: 'SPEAKER_NOT_FOUND' });
    });
  });

  describe('admission', () => {
    it('queues beyond maxConcurrent and refuses beyond maxQueue with EngineBusyError', async () => {
      const pool = await startPool({ maxConcurrent: 1, maxQueue: 1 });
      const text = longText(40);
      const running = pool.synthesizeAll(request(testVoice, text));
      const queued = pool.synthesizeAll(request(testVoice, text));
      const refused = pool.synthesizeAll(request(testVoice, text));
      expect(pool.stats()).toMatchObject({ activeRequests: 1, queuedRequests: 1 });

      await expect(refused).rejects.toBeInstanceOf(EngineBusyError);
      const busy = (await refused.catch((error: unknown) => error)) as EngineBusyError;
      expect(busy.code).toBe('ENGINE_BUSY');
      expect(busy.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect((await running).sentenceCount).toBe(40);
      expect((await queued).sentenceCount).toBe(40);
      expect(pool.stats()).toMatchObject({ activeRequests: 0, queuedRequests: 0 });
    });

    it('serves requests holding a slot in order as workers free up', async () => {
      const settled: SettledJob[] = [];
      const pool = await startPool({ maxConcurrent: 3, onJobSettled: (job) => settled.push(job) });
      const texts = ['One.', 'One. Two.', 'One. Two. Three.'];
      const audios = await Promise.all(
        texts.map((text) => pool.synthesizeAll(request(testVoice, text))),
      );
      expect(audios.map((audio) => audio.sentenceCount)).toEqual([1, 2, 3]);
      expect(settled.map((job) => job.sentenceCount)).toEqual([1, 2, 3]);
    });

    it('rejects calls before start() as a programming error', async () => {
      const pool = createPool();
      expect(pool.isReady()).toBe(false);
      await expect(pool.synthesizeAll(request(testVoice, 'Hello.'))).rejects.toThrow(/start\(\)/);
    });
  });

  describe('failures', () => {
    it('kills and replaces a worker whose job runs past the timeout', async () => {
      const pool = await startPool({ timeoutMs: 300, preload: [benchVoice, testVoice] });
      const [firstPid] = pool.workerPids();

      const slow = pool.synthesizeAll(request(benchVoice, longText(20)));
      await expect(slow).rejects.toBeInstanceOf(SynthesisTimeoutError);
      await expect(slow).rejects.toMatchObject({ code: 'SYNTHESIS_TIMEOUT', timeoutMs: 300 });
      await waitUntilGone([firstPid]);

      const audio = await pool.synthesizeAll(request(testVoice, FOUR_SENTENCES));
      expect(audio.sentenceCount).toBe(4);
      expect(pool.workerPids()).toHaveLength(1);
      expect(pool.workerPids()).not.toContain(firstPid);
      expect(logged.some((line) => line.startsWith('warn:') && line.includes('300 ms'))).toBe(true);
    });

    it('fails the job of a worker that dies with WorkerCrashedError and replaces the worker', async () => {
      const settled: SettledJob[] = [];
      const pool = await startPool({
        preload: [benchVoice, testVoice],
        onJobSettled: (job) => settled.push(job),
      });
      const [firstPid] = pool.workerPids();

      const sentences = pool.synthesize(request(benchVoice, longText(20)))[Symbol.asyncIterator]();
      const first = await sentences.next();
      expect(first.done).toBe(false);
      process.kill(firstPid, 'SIGKILL');
      await expect(collect({ [Symbol.asyncIterator]: () => sentences })).rejects.toThrow(
        WorkerCrashedError,
      );
      expect(settled).toMatchObject([{ outcome: 'crashed', workerPid: firstPid }]);

      const audio = await pool.synthesizeAll(request(testVoice, FOUR_SENTENCES));
      expect(audio.sentenceCount).toBe(4);
      expect(pool.workerPids()).not.toContain(firstPid);
      expect(pool.stats().replacedWorkers).toBe(1);
      expect(logged.some((line) => line.startsWith('error:') && line.includes('SIGKILL'))).toBe(
        true,
      );
    });

    it('rejects start() when a voice cannot be preloaded, and still serves other voices', async () => {
      const pool = createPool({
        preload: [
          { modelPath: join(dir, 'missing.onnx'), configPath: join(dir, 'missing.onnx.json') },
        ],
      });
      await expect(pool.start()).rejects.toMatchObject({ code: 'VOICE_FILES_MISSING' });
      expect(pool.isReady()).toBe(false);
      expect(pool.stats()).toMatchObject({ workers: 1, readyWorkers: 0 });
      const audio = await pool.synthesizeAll(request(testVoice, 'Hello.'));
      expect(audio.sentenceCount).toBe(1);
    });
  });

  describe('cancellation', () => {
    const total = 20;
    let pool: EnginePool;
    let settled: SettledJob[];

    beforeEach(async () => {
      settled = [];
      pool = await startPool({
        maxConcurrent: 1,
        maxQueue: 1,
        preload: [benchVoice, testVoice],
        onJobSettled: (job) => settled.push(job),
      });
    });

    it('stops the worker when the consumer stops iterating, and frees it for the next request', async () => {
      const received: EngineSentence[] = [];
      for await (const sentence of pool.synthesize(request(benchVoice, longText(total)))) {
        received.push(sentence);
        break;
      }
      // With one slot and one worker, this request runs only once the worker has given
      // up the first text: it synthesized a sentence or two more, not the other 19.
      const next = await pool.synthesizeAll(request(testVoice, FOUR_SENTENCES));
      expect(received).toHaveLength(1);
      expect(next.sentenceCount).toBe(4);
      expect(settled.map((job) => job.outcome)).toEqual(['cancelled', 'done']);
      expect(settled[0].sentenceCount).toBeLessThanOrEqual(5);
    });

    it('stops a stream when its signal aborts', async () => {
      const controller = new AbortController();
      const received: EngineSentence[] = [];
      for await (const sentence of pool.synthesize(
        request(benchVoice, longText(total)),
        controller.signal,
      )) {
        received.push(sentence);
        controller.abort();
      }
      expect(received).toHaveLength(1);

      const next = await pool.synthesizeAll(request(testVoice, FOUR_SENTENCES));
      expect(next.sentenceCount).toBe(4);
      expect(settled.map((job) => job.outcome)).toEqual(['cancelled', 'done']);
      expect(settled[0].sentenceCount).toBeLessThanOrEqual(5);
    });

    it('rejects synthesizeAll with the abort reason rather than return part of the audio', async () => {
      const controller = new AbortController();
      // The pool is idle: the job is on the worker as soon as the call returns.
      const all = pool.synthesizeAll(request(benchVoice, longText(total)), controller.signal);
      setImmediate(() => controller.abort());
      await expect(all).rejects.toMatchObject({ name: 'AbortError' });

      const next = await pool.synthesizeAll(request(testVoice, FOUR_SENTENCES));
      expect(next.sentenceCount).toBe(4);
      expect(settled.map((job) => job.outcome)).toEqual(['cancelled', 'done']);
      expect(settled[0].sentenceCount).toBeLessThanOrEqual(5);
    });

    it('gives up the queue place of a request whose signal aborts while it waits', async () => {
      const running = pool.synthesizeAll(request(benchVoice, longText(3)));
      const controller = new AbortController();
      const waiting = collect(pool.synthesize(request(testVoice, 'Hello.'), controller.signal));
      await new Promise((resolve) => setImmediate(resolve));
      expect(pool.stats()).toMatchObject({ activeRequests: 1, queuedRequests: 1 });
      controller.abort();
      await expect(waiting).resolves.toEqual([]);
      expect(pool.stats()).toMatchObject({ activeRequests: 1, queuedRequests: 0 });
      expect((await running).sentenceCount).toBe(3);
    });
  });
});
