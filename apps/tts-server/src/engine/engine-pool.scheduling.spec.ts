/**
 * EnginePool's sentence scheduling with real worker processes: a request spread over the
 * workers, fairness between requests, all-cores sessions and preemption of long texts.
 * Voices and hooks: test/support/engine-pool-fixtures.ts.
 */
import { readFileSync } from 'node:fs';
import { PiperVoice, type GeneratedVoiceFiles, type SentenceAudio } from '@app/piper';
import {
  FOUR_SENTENCES,
  longText,
  request,
  collect,
  waitUntilGone,
  usePoolFixtures,
} from '../../../../test/support/engine-pool-fixtures';
import { waitFor } from '../../../../test/support/processes';
import { EnginePool, type Dispatch, type EnginePoolOptions, type SettledJob } from './engine-pool';
import { SynthesisTimeoutError, WorkerCrashedError } from './engine.errors';

describe(EnginePool.name, () => {
  const fixtures = usePoolFixtures();
  const { startPool } = fixtures;
  let testVoice: GeneratedVoiceFiles;
  let multiVoice: GeneratedVoiceFiles;
  let benchVoice: GeneratedVoiceFiles;
  let localTest: PiperVoice;
  beforeAll(() => {
    ({ testVoice, multiVoice, benchVoice, localTest } = fixtures);
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
});
