/**
 * EnginePool's workers over their life, with real processes: replacement for memory
 * (WORKER_MAX_RSS_MB), shutdown, and no worker left behind when the server dies.
 * Voices and hooks: test/support/engine-pool-fixtures.ts.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { type GeneratedVoiceFiles } from '@app/piper';
import {
  FOUR_SENTENCES,
  longText,
  request,
  collect,
  isAlive,
  waitUntilGone,
  usePoolFixtures,
} from '../../../../test/support/engine-pool-fixtures';
import { waitFor } from '../../../../test/support/processes';
import { EnginePool } from './engine-pool';
import { EngineStoppedError } from './engine.errors';

describe(EnginePool.name, () => {
  const fixtures = usePoolFixtures();
  const { logged, startPool, createPool } = fixtures;
  let testVoice: GeneratedVoiceFiles;
  let benchVoice: GeneratedVoiceFiles;
  beforeAll(() => {
    ({ testVoice, benchVoice } = fixtures);
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
