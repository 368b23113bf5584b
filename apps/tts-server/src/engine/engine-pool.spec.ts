/**
 * EnginePool with real worker processes and voices generated in a temporary folder:
 * the test voice (cheap, its audio a known function of the ids) for content, the bench
 * voice (a medium voice's compute, ~0.1–0.2 s per sentence here) wherever a job must
 * still be running when the test acts on it. Every pool a test starts is shut down
 * after it, and the specs check that no worker process outlives its pool.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import {
  PiperVoice,
  writeBenchVoice,
  writeTestVoice,
  type GeneratedVoiceFiles,
  type SentenceAudio,
} from '@app/piper';
import { waitFor } from '../../../../test/support/processes';
import { EnginePool, type Dispatch, type EnginePoolOptions, type SettledJob } from './engine-pool';
import {
  EngineBusyError,
  EngineStoppedError,
  SynthesisTimeoutError,
  WorkerCrashedError,
  WorkerReportedError,
} from './engine.errors';
import type {
  EngineSentence,
  EngineSynthesisOptions,
  EngineSynthesisRequest,
} from './piper-engine';

const FOUR_SENTENCES = 'Hello world. This is a test! How are you today? The end.';

/** `count` sentences of about 40 phonemes each. */
function longText(count: number): string {
  return Array.from(
    { length: count },
    (_, i) => `This is sentence number ${i + 1} of a rather long text.`,
  ).join(' ');
}

function request(
  voice: GeneratedVoiceFiles,
  text: string,
  options: EngineSynthesisOptions = {},
): EngineSynthesisRequest {
  return { modelPath: voice.modelPath, configPath: voice.configPath, text, options };
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Alive and not a zombie waiting for a parent that is gone. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Polls until every pid is gone (bounded by the test's timeout). */
async function waitUntilGone(pids: number[]): Promise<void> {
  while (pids.some(isAlive)) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe(EnginePool.name, () => {
  let dir: string;
  let testVoice: GeneratedVoiceFiles;
  let multiVoice: GeneratedVoiceFiles;
  let benchVoice: GeneratedVoiceFiles;
  let localTest: PiperVoice;
  let localMulti: PiperVoice;
  const pools: EnginePool[] = [];
  const logged: string[] = [];
  const logger = {
    log: (message: string) => logged.push(`log: ${message}`),
    warn: (message: string) => logged.push(`warn: ${message}`),
    error: (message: string) => logged.push(`error: ${message}`),
  };

  /** A started pool of one worker with the test voice preloaded, unless `options` say otherwise. */
  async function startPool(options: Partial<EnginePoolOptions> = {}): Promise<EnginePool> {
    const pool = createPool(options);
    await pool.start();
    return pool;
  }

  function createPool(options: Partial<EnginePoolOptions> = {}): EnginePool {
    const pool = new EnginePool({
      workers: 1,
      intraOpThreads: 1,
      maxConcurrent: 4,
      maxQueue: 4,
      timeoutMs: 60_000,
      preload: [testVoice],
      logger,
      ...options,
    });
    pools.push(pool);
    return pool;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'engine-pool-'));
    testVoice = await writeTestVoice(dir, { name: 'test-voice' });
    multiVoice = await writeTestVoice(dir, { name: 'multi-voice', speakers: 3 });
    benchVoice = await writeBenchVoice(dir);
    localTest = await PiperVoice.load(testVoice.modelPath, { intraOpThreads: 1 });
    localMulti = await PiperVoice.load(multiVoice.modelPath, { intraOpThreads: 1 });
  });

  afterEach(async () => {
    const pids = pools.flatMap((pool) => pool.workerPids());
    await Promise.all(pools.splice(0).map((pool) => pool.shutdown(1_000)));
    expect(pids.filter(isAlive)).toEqual([]);
    logged.length = 0;
  });

  afterAll(async () => {
    await localTest?.release();
    await localMulti?.release();
    await rm(dir, { recursive: true, force: true });
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

  describe('sentence scheduling', () => {
    /** `kind:request:sentence` of each job handed to a worker, in order. */
    function label(dispatch: Dispatch): string {
      return dispatch.kind === 'sentence'
        ? `sentence:${dispatch.requestId}:${dispatch.sentenceIndex}`
        : `${dispatch.kind}:${dispatch.requestId}`;
    }

    it('spreads one request over the idle workers and puts its sentences back in order', async () => {
      const dispatched: Dispatch[] = [];
      const pool = await startPool({ workers: 2, onDispatch: (d) => dispatched.push(d) });
      const text = `${longText(1)} Hi. ${longText(3)} Yes.`;
      const local: SentenceAudio[] = await collect(localTest.synthesize(text));
      const streamed = await collect(pool.synthesize(request(testVoice, text)));

      expect(streamed.map((sentence) => sentence.index)).toEqual(local.map((s) => s.index));
      streamed.forEach((sentence, i) => expect(sentence.pcm).toEqual(local[i].pcm));
      expect(dispatched.map(label)).toEqual(['plan:1', ...local.map((_, i) => `sentence:1:${i}`)]);
      // Both workers were idle when the plan came back: the first two sentences ran at once.
      const [first, second] = dispatched.filter((d) => d.kind === 'sentence');
      expect(first.workerPid).not.toBe(second.workerPid);
      expect(new Set(dispatched.map((d) => d.workerPid))).toEqual(new Set(pool.workerPids()));
    });

    it('runs a sentence on every core only while the rest of the pool is idle', async () => {
      const dispatched: Dispatch[] = [];
      const pool = await startPool({
        workers: 2,
        idleIntraOpThreads: 2,
        onDispatch: (d) => dispatched.push(d),
      });
      const local = await localTest.synthesizeAll('Hello.');
      const alone = await pool.synthesizeAll(request(testVoice, 'Hello.'));
      expect(alone.pcm).toEqual(local.pcm);
      expect(dispatched.filter((d) => d.kind === 'sentence').map((d) => d.wide)).toEqual([true]);

      dispatched.length = 0;
      await pool.synthesizeAll(request(testVoice, FOUR_SENTENCES));
      const wide = dispatched.filter((d) => d.kind === 'sentence').map((d) => d.wide);
      // The first two start side by side, one thread each.
      expect(wide.slice(0, 2)).toEqual([false, false]);
      // A voice that was not preloaded has no wide session: never wide.
      dispatched.length = 0;
      await pool.synthesizeAll(request(multiVoice, 'Hello.'));
      expect(dispatched.filter((d) => d.kind === 'sentence').map((d) => d.wide)).toEqual([false]);
    });

    it('cuts a long first sentence at clauses when asked, as PiperVoice does', async () => {
      const pool = await startPool();
      const text = 'One, two, three, four, five, six, seven. Done.';
      const options = { firstSentenceClauseSplitPhonemes: 10 };
      const local = await collect(localTest.synthesize(text, options));
      const streamed = await collect(pool.synthesize(request(testVoice, text, options)));
      expect(local.length).toBeGreaterThan(2);
      expect(streamed.map((sentence) => sentence.phonemes)).toEqual(local.map((s) => s.phonemes));
      streamed.forEach((sentence, i) => expect(sentence.pcm).toEqual(local[i].pcm));
    });

    it('serves a short request behind a long one after at most one more of its sentences', async () => {
      const dispatched: string[] = [];
      const settled: SettledJob[] = [];
      const pool = await startPool({
        preload: [benchVoice, testVoice],
        onDispatch: (d) => dispatched.push(label(d)),
        onJobSettled: (job) => settled.push(job),
      });
      const long = pool.synthesize(request(benchVoice, longText(20)))[Symbol.asyncIterator]();
      await long.next();
      const arrivedAt = dispatched.length;
      const short = await pool.synthesizeAll(request(testVoice, 'Hello.'));
      expect(short.sentenceCount).toBe(1);

      const afterArrival = dispatched.slice(arrivedAt);
      const shortSentence = afterArrival.indexOf('sentence:2:0');
      expect(afterArrival[0]).toBe('plan:2');
      // The long request's sentences handed out between the short one's arrival and
      // its sentence: at most the one already running on the only worker.
      expect(
        afterArrival.slice(0, shortSentence).filter((item) => item.startsWith('sentence:1:')),
      ).toHaveLength(0);
      expect(settled.map((job) => job.outcome)).toEqual(['done']);
      await long.return(undefined);
    });

    it('cancelling one request stops its sentences and leaves the others running', async () => {
      const dispatched: string[] = [];
      const settled: SettledJob[] = [];
      const pool = await startPool({
        preload: [benchVoice, testVoice],
        onDispatch: (d) => dispatched.push(label(d)),
        onJobSettled: (job) => settled.push(job),
      });
      const controller = new AbortController();
      const cancelled = collect(
        pool.synthesize(request(benchVoice, longText(20)), controller.signal),
      );
      const other = pool.synthesizeAll(request(benchVoice, longText(3)));
      await new Promise<void>((resolve) => {
        const poll = (): void => {
          if (dispatched.includes('sentence:2:0')) resolve();
          else setTimeout(poll, 5);
        };
        poll();
      });
      controller.abort();
      const sentencesAtAbort = dispatched.filter((item) => item.startsWith('sentence:1:')).length;

      expect((await other).sentenceCount).toBe(3);
      expect((await cancelled).length).toBeLessThan(20);
      expect(dispatched.filter((item) => item.startsWith('sentence:1:'))).toHaveLength(
        sentencesAtAbort,
      );
      expect(settled.map((job) => job.outcome).sort()).toEqual(['cancelled', 'done']);
      expect(pool.stats()).toMatchObject({ activeRequests: 0, busyWorkers: 0 });
    });

    it('fails only the request whose sentence ran on a worker that dies', async () => {
      const settled: SettledJob[] = [];
      const pool = await startPool({
        preload: [benchVoice, testVoice],
        onJobSettled: (job) => settled.push(job),
      });
      const [firstPid] = pool.workerPids();
      const long = pool.synthesize(request(benchVoice, longText(20)))[Symbol.asyncIterator]();
      await long.next();
      // Waits for a worker: the only one is running the long request's next sentence.
      const short = pool.synthesizeAll(request(testVoice, FOUR_SENTENCES));
      process.kill(firstPid, 'SIGKILL');

      await expect(collect({ [Symbol.asyncIterator]: () => long })).rejects.toThrow(
        WorkerCrashedError,
      );
      expect((await short).sentenceCount).toBe(4);
      expect(settled.map((job) => job.outcome)).toEqual(['crashed', 'done']);
      expect(settled[0].workerPid).toBe(firstPid);
      expect(pool.workerPids()).not.toContain(firstPid);
    });

    it('times a request out as a whole and kills the workers running its sentences', async () => {
      const pool = await startPool({
        workers: 2,
        timeoutMs: 400,
        preload: [benchVoice, testVoice],
      });
      const pids = pool.workerPids();
      const slow = pool.synthesizeAll(request(benchVoice, longText(30)));
      await expect(slow).rejects.toBeInstanceOf(SynthesisTimeoutError);
      await waitUntilGone(pids);
      // Both workers were running its sentences: both are replaced, and the pool serves.
      const audio = await pool.synthesizeAll(request(testVoice, FOUR_SENTENCES));
      expect(audio.sentenceCount).toBe(4);
      expect(pool.stats().replacedWorkers).toBe(2);
    });
  });

  describe('preemption', () => {
    /** The scheduling state of a process: 'T' while it is stopped (SIGSTOP). */
    function processState(pid: number): string {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2)[0];
    }

    /** A pool of two one-thread workers with all-cores sessions of the bench voice. */
    function startPreemptingPool(options: Partial<EnginePoolOptions> = {}): Promise<EnginePool> {
      return startPool({
        workers: 2,
        idleIntraOpThreads: 2,
        preemption: true,
        preload: [benchVoice],
        ...options,
      });
    }

    /** Resolves once both workers run sentences of request 1 with more of them waiting. */
    async function longTextOnEveryWorker(dispatched: Dispatch[]): Promise<void> {
      await waitFor(
        'both workers on the long text',
        () => dispatched.some((d) => d.requestId === 1 && d.sentenceIndex === 1),
        { intervalMs: 5 },
      );
    }

    /** One sentence, about 0.2 s on every core: long enough to sample the paused worker. */
    const SHORT_SENTENCE = 'Hello there, and welcome to the news of this morning.';

    let localBench: PiperVoice;
    beforeAll(async () => {
      localBench = await PiperVoice.load(benchVoice.modelPath, { intraOpThreads: 1 });
    });
    afterAll(async () => {
      await localBench?.release();
    });

    it('pauses the workers speaking a long text while a lone short request runs on every core, and the long text is unchanged', async () => {
      const dispatched: Dispatch[] = [];
      const pool = await startPreemptingPool({ onDispatch: (d) => dispatched.push(d) });
      const text = longText(8);
      const long = collect(pool.synthesize(request(benchVoice, text)));
      await longTextOnEveryWorker(dispatched);

      // Sampled while the short request runs: the paused worker is stopped.
      const seen = new Map<number, Set<string>>();
      const sampler = setInterval(() => {
        for (const d of dispatched.filter((d) => d.pausedWorkerPids)) {
          for (const pid of d.pausedWorkerPids ?? []) {
            const states = seen.get(pid) ?? new Set();
            states.add(processState(pid));
            seen.set(pid, states);
          }
        }
      }, 5);
      const short = await pool.synthesizeAll(request(benchVoice, SHORT_SENTENCE));
      clearInterval(sampler);
      expect(short.sentenceCount).toBe(1);

      const shortJobs = dispatched.filter((d) => d.requestId === 2);
      expect(shortJobs.map((d) => [d.kind, d.wide ?? false])).toEqual([
        ['plan', false],
        ['sentence', true],
      ]);
      const [pausedPid] = shortJobs[0].pausedWorkerPids ?? [];
      expect(shortJobs[0].pausedWorkerPids).toEqual([pausedPid]);
      expect(pool.workerPids()).toContain(pausedPid);
      expect(pausedPid).not.toBe(shortJobs[0].workerPid);
      expect(seen.get(pausedPid)).toContain('T');
      // Resumed when the short request ended, before its audio came back.
      expect(processState(pausedPid)).not.toBe('T');
      expect(pool.stats().preemptions).toBe(1);

      const local = await collect(localBench.synthesize(text));
      const sentences = await long;
      expect(sentences).toHaveLength(local.length);
      sentences.forEach((sentence, i) => expect(sentence.pcm).toEqual(local[i].pcm));
    });

    it('pauses nothing when it is off, or when other requests wait (load)', async () => {
      const dispatched: Dispatch[] = [];
      const off = await startPreemptingPool({
        preemption: false,
        onDispatch: (d) => dispatched.push(d),
      });
      const long = collect(off.synthesize(request(benchVoice, longText(6))));
      await longTextOnEveryWorker(dispatched);
      await off.synthesizeAll(request(benchVoice, 'Hello there.'));
      expect(dispatched.filter((d) => d.requestId === 2).map((d) => d.wide ?? false)).toEqual([
        false,
        false,
      ]);
      await long;
      expect(dispatched.some((d) => d.pausedWorkerPids)).toBe(false);
      expect(off.stats().preemptions).toBe(0);

      dispatched.length = 0;
      const busy = await startPreemptingPool({ onDispatch: (d) => dispatched.push(d) });
      const busyLong = collect(busy.synthesize(request(benchVoice, longText(6))));
      await longTextOnEveryWorker(dispatched);
      // Two short requests wait at once: the first to start runs narrow, pausing
      // nothing, while the other waits. (The second may preempt once it is alone
      // beside the long text, depending on which worker frees up first.)
      await Promise.all([
        busy.synthesizeAll(request(benchVoice, 'Hello there.')),
        busy.synthesizeAll(request(benchVoice, 'Good morning.')),
      ]);
      await busyLong;
      const firstShort = dispatched.find((d) => d.requestId !== 1);
      expect(firstShort).toMatchObject({ kind: 'plan', pausedWorkerPids: undefined });
      expect(dispatched.filter((d) => d.requestId === firstShort?.requestId)).toEqual([
        expect.objectContaining({ kind: 'plan', pausedWorkerPids: undefined }),
        expect.objectContaining({ kind: 'sentence', wide: false, pausedWorkerPids: undefined }),
      ]);
      expect(busy.stats().preemptions).toBeLessThanOrEqual(1);
    });

    it('pauses each sentence of the long text once at most, however many short requests come', async () => {
      const dispatched: Dispatch[] = [];
      const pool = await startPreemptingPool({ onDispatch: (d) => dispatched.push(d) });
      const text = longText(10);
      let longDone = false;
      const long = collect(pool.synthesize(request(benchVoice, text))).finally(
        () => (longDone = true),
      );
      await longTextOnEveryWorker(dispatched);
      // One client asking again as soon as it has its answer.
      for (let n = 0; !longDone && n < 12; n++) {
        await pool.synthesizeAll(request(benchVoice, `Number ${n}.`));
      }
      const sentences = await long;

      /** The sentence of request 1 each worker ran when it was paused. */
      const running = new Map<number, string>();
      const paused: string[] = [];
      for (const d of dispatched) {
        for (const pid of d.kind === 'plan' ? (d.pausedWorkerPids ?? []) : []) {
          paused.push(running.get(pid) ?? 'none');
        }
        if (d.requestId === 1 && d.kind === 'sentence') {
          running.set(d.workerPid, `sentence ${d.sentenceIndex}`);
        }
      }
      expect(paused.length).toBeGreaterThan(0);
      expect(paused).not.toContain('none');
      expect(new Set(paused).size).toBe(paused.length);
      const local = await collect(localBench.synthesize(text));
      sentences.forEach((sentence, i) => expect(sentence.pcm).toEqual(local[i].pcm));
    });

    it('resumes the paused workers when the preempting worker dies', async () => {
      const dispatched: Dispatch[] = [];
      const pool = await startPreemptingPool({
        onDispatch: (d) => {
          dispatched.push(d);
          // The worker given the short request dies as it starts on it.
          if (d.pausedWorkerPids && d.kind === 'plan') process.kill(d.workerPid, 'SIGKILL');
        },
      });
      const text = longText(6);
      const long = collect(pool.synthesize(request(benchVoice, text)));
      await longTextOnEveryWorker(dispatched);
      await expect(pool.synthesizeAll(request(benchVoice, 'Hello there.'))).rejects.toBeInstanceOf(
        WorkerCrashedError,
      );
      const [pausedPid] = dispatched.find((d) => d.pausedWorkerPids)?.pausedWorkerPids ?? [];
      expect(processState(pausedPid)).not.toBe('T');
      // The long text goes on, on the paused worker and the dead one's replacement.
      const local = await collect(localBench.synthesize(text));
      const sentences = await long;
      sentences.forEach((sentence, i) => expect(sentence.pcm).toEqual(local[i].pcm));
    });
  });

  describe('worker memory (maxWorkerRssBytes)', () => {
    function residentBytes(pid: number): number {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) * 1024;
    }
    /** One sentence of about 400 phonemes (no full stop until the end). */
    const LONG_SENTENCE = `${Array.from({ length: 24 }, (_, i) => `word number ${i + 1}`).join(' and ')}.`;

    it('replaces a worker that a long sentence leaves above the bound, and serves on', async () => {
      const probe = await startPool({ preload: [benchVoice] });
      const freshBytes = residentBytes(probe.workerPids()[0]);
      await probe.shutdown(1_000);

      const pool = await startPool({
        preload: [benchVoice],
        maxWorkerRssBytes: freshBytes + 150 * 2 ** 20,
      });
      const [first] = pool.workerPids();
      // A sentence of usual length stays within what the warm-up sized.
      await pool.synthesizeAll(request(benchVoice, 'A short sentence.'));
      expect(pool.workerPids()).toEqual([first]);

      const long = await pool.synthesizeAll(request(benchVoice, LONG_SENTENCE));
      expect(long.sentenceCount).toBe(1);
      await waitUntilGone([first]);
      await waitFor('its replacement', () => pool.workerPids().some((pid) => pid !== first));
      expect(pool.stats()).toMatchObject({ memoryReplacedWorkers: 1, replacedWorkers: 1 });
      expect(logged.some((line) => line.startsWith('error:'))).toBe(false);
      expect(logged).toContainEqual(expect.stringMatching(/above WORKER_MAX_RSS_MB.*replacing it/));
      const next = await pool.synthesizeAll(request(benchVoice, 'A short sentence.'));
      expect(next.sentenceCount).toBe(1);
      expect(pool.workerPids()).toHaveLength(1);
      expect(pool.workerPids()).not.toContain(first);
    });

    it('keeps a worker that is above the bound with only its voices loaded, with one warning', async () => {
      const pool = await startPool({ workers: 2, maxWorkerRssBytes: 2 ** 20 });
      const pids = pool.workerPids();
      await pool.synthesizeAll(request(testVoice, FOUR_SENTENCES));
      await pool.synthesizeAll(request(testVoice, FOUR_SENTENCES));
      expect(pool.workerPids()).toEqual(pids);
      expect(pool.stats().memoryReplacedWorkers).toBe(0);
      expect(
        logged.filter((line) => /workers are not replaced for memory/.test(line)),
      ).toHaveLength(1);
    });
  });

  describe('shutdown', () => {
    it('finishes running requests, rejects queued and new ones, and ends every worker', async () => {
      const pool = await startPool({ workers: 2, maxConcurrent: 1, maxQueue: 2 });
      const pids = pool.workerPids();
      expect(pids).toHaveLength(2);

      const running = pool.synthesizeAll(request(testVoice, longText(40)));
      const queued = pool.synthesizeAll(request(testVoice, 'Hello.'));
      const stopped = pool.shutdown(30_000);
      expect(pool.isReady()).toBe(false);
      await expect(queued).rejects.toBeInstanceOf(EngineStoppedError);
      expect((await running).sentenceCount).toBe(40);
      await stopped;

      for (const pid of pids)
        expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
      expect(pool.workerPids()).toEqual([]);
      await expect(pool.synthesizeAll(request(testVoice, 'Hello.'))).rejects.toBeInstanceOf(
        EngineStoppedError,
      );
      await expect(collect(pool.synthesize(request(testVoice, 'Hello.')))).rejects.toBeInstanceOf(
        EngineStoppedError,
      );
      await expect(
        pool.phonemize(testVoice.modelPath, testVoice.configPath, 'Hi.'),
      ).rejects.toBeInstanceOf(EngineStoppedError);
      await expect(pool.start()).rejects.toBeInstanceOf(EngineStoppedError);
    });

    it('admits the requests of a DrainHold taken before it, refuses the others, and waits for its release', async () => {
      const pool = await startPool();
      const hold = pool.holdDrain();
      let stoppedYet = false;
      const stopped = pool.shutdown(30_000).then(() => (stoppedYet = true));

      expect(() => pool.holdDrain()).toThrow(EngineStoppedError);
      await expect(pool.synthesizeAll(request(testVoice, 'Hello.'))).rejects.toBeInstanceOf(
        EngineStoppedError,
      );
      const held = await pool.synthesizeAll({
        ...request(testVoice, 'Accepted before. It still speaks.'),
        drainHold: hold,
      });
      expect(held.sentenceCount).toBe(2);
      expect(stoppedYet).toBe(false);

      hold.release();
      await stopped;
      await expect(
        pool.synthesizeAll({ ...request(testVoice, 'Hello.'), drainHold: hold }),
      ).rejects.toBeInstanceOf(EngineStoppedError);
    });

    it('fails what still runs at the deadline with EngineStoppedError', async () => {
      const pool = await startPool({ preload: [benchVoice] });
      const pids = pool.workerPids();
      const sentences = pool.synthesize(request(benchVoice, longText(20)))[Symbol.asyncIterator]();
      await sentences.next();
      await pool.shutdown(0);
      await expect(collect({ [Symbol.asyncIterator]: () => sentences })).rejects.toBeInstanceOf(
        EngineStoppedError,
      );
      for (const pid of pids) expect(isAlive(pid)).toBe(false);
    });

    it('while the workers are still starting, rejects start() with EngineStoppedError', async () => {
      const pool = createPool({ workers: 2 });
      const started = expect(pool.start()).rejects.toBeInstanceOf(EngineStoppedError);
      const pids = pool.workerPids();
      expect(pids).toHaveLength(2);
      await pool.shutdown(1_000);
      await started;
      expect(pids.filter(isAlive)).toEqual([]);
    });

    it('of a pool never started resolves at once', async () => {
      const pool = createPool();
      await pool.shutdown(1_000);
      await expect(pool.synthesizeAll(request(testVoice, 'Hello.'))).rejects.toBeInstanceOf(
        EngineStoppedError,
      );
    });

    /**
     * Runs `script` in a bare Node process (a server that will die without a shutdown)
     * with `EnginePool` in scope; resolves to the first line it prints, and kills it.
     */
    async function killedServer(script: string): Promise<string> {
      const server = spawn(
        process.execPath,
        [
          '-r',
          require.resolve('ts-node/register/transpile-only'),
          '-r',
          require.resolve('tsconfig-paths/register'),
          '-e',
          `const { EnginePool } = require(${JSON.stringify(join(__dirname, 'engine-pool.ts'))});
          const logger = { log() {}, warn: console.error, error: console.error };
          ${script}`,
        ],
        {
          env: { ...process.env, TS_NODE_PROJECT: resolve(__dirname, '../../../../tsconfig.json') },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const exited = once(server, 'exit');
      try {
        const [line] = (await once(createInterface({ input: server.stdout }), 'line')) as [string];
        return line;
      } finally {
        server.kill('SIGKILL');
        await exited;
      }
    }

    it('leaves no worker behind when the server process itself is killed', async () => {
      // Its workers see their IPC channel close and exit.
      const line = await killedServer(`
        const pool = new EnginePool({ workers: 2, intraOpThreads: 1, maxConcurrent: 1, maxQueue: 0, timeoutMs: 60000, logger });
        pool.start().then(() => console.log(JSON.stringify(pool.workerPids())));
      `);
      const pids = JSON.parse(line) as number[];
      expect(pids).toHaveLength(2);
      await waitUntilGone(pids);
      expect(pids.filter(isAlive)).toEqual([]);
    });

    it('leaves no worker behind when the server is killed while it has paused one', async () => {
      // A stopped process would not see its channel close: the preempting worker,
      // told which ones the pool paused, resumes them as it exits.
      const voice = JSON.stringify({ ...benchVoice, options: {} });
      const line = await killedServer(`
        const voice = ${voice};
        let pool;
        pool = new EnginePool({
          workers: 2, intraOpThreads: 1, idleIntraOpThreads: 2, preemption: true,
          maxConcurrent: 4, maxQueue: 4, timeoutMs: 60000, preload: [voice], logger,
          onDispatch: (d) => {
            if (d.kind === 'plan' && d.pausedWorkerPids) {
              console.log(JSON.stringify({ pids: pool.workerPids(), paused: d.pausedWorkerPids }));
            }
          },
        });
        pool.start().then(async () => {
          const long = pool.synthesizeAll({ ...voice, text: ${JSON.stringify(longText(8))} });
          while (pool.stats().busyWorkers < 2) await new Promise((r) => setTimeout(r, 5));
          await pool.synthesizeAll({ ...voice, text: 'Hello there, and welcome to the news of this morning.' });
          await long;
        });
      `);
      const { pids, paused } = JSON.parse(line) as { pids: number[]; paused: number[] };
      expect(paused).toHaveLength(1);
      expect(pids).toContain(paused[0]);
      await waitUntilGone(pids);
      expect(pids.filter(isAlive)).toEqual([]);
    });
  });
});
