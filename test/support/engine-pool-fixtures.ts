/**
 * What the EnginePool specs share: real worker processes on voices generated in a
 * temporary folder (the test voice, cheap, its audio a known function of the ids; a
 * three-speaker one; the bench voice, a medium voice's compute, wherever a job must
 * still be running when the test acts on it). `usePoolFixtures` registers the hooks in
 * the calling describe: every pool a test starts is shut down after it, and no worker
 * process may outlive its pool.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PiperVoice, writeBenchVoice, writeTestVoice, type GeneratedVoiceFiles } from '@app/piper';
import { EnginePool, type EnginePoolOptions } from '../../apps/tts-server/src/engine/engine-pool';
import type {
  EngineSynthesisOptions,
  EngineSynthesisRequest,
} from '../../apps/tts-server/src/engine/piper-engine';

export const FOUR_SENTENCES = 'Hello world. This is a test! How are you today? The end.';

/** `count` sentences of about 40 phonemes each. */
export function longText(count: number): string {
  return Array.from(
    { length: count },
    (_, i) => `This is sentence number ${i + 1} of a rather long text.`,
  ).join(' ');
}

export function request(
  voice: GeneratedVoiceFiles,
  text: string,
  options: EngineSynthesisOptions = {},
): EngineSynthesisRequest {
  return { modelPath: voice.modelPath, configPath: voice.configPath, text, options };
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Alive and not a zombie waiting for a parent that is gone. */
export function isAlive(pid: number): boolean {
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
export async function waitUntilGone(pids: number[]): Promise<void> {
  while (pids.some(isAlive)) await new Promise((resolve) => setTimeout(resolve, 50));
}

export interface PoolFixtures {
  readonly testVoice: GeneratedVoiceFiles;
  readonly multiVoice: GeneratedVoiceFiles;
  readonly benchVoice: GeneratedVoiceFiles;
  /** The test voices loaded in this process, to compare the pool's audio with. */
  readonly localTest: PiperVoice;
  readonly localMulti: PiperVoice;
  /** What the pools' logger wrote during the current test. */
  readonly logged: string[];
  readonly logger: NonNullable<EnginePoolOptions['logger']>;
  /** The temporary folder of the voices, for a test's own files. */
  readonly dir: string;
  /** A started pool of one worker with the test voice preloaded, unless `options` say otherwise. */
  readonly startPool: (options?: Partial<EnginePoolOptions>) => Promise<EnginePool>;
  readonly createPool: (options?: Partial<EnginePoolOptions>) => EnginePool;
}

export function usePoolFixtures(): PoolFixtures {
  let dir: string | undefined;
  const voices: Partial<Record<'testVoice' | 'multiVoice' | 'benchVoice', GeneratedVoiceFiles>> =
    {};
  const local: { test?: PiperVoice; multi?: PiperVoice } = {};
  const pools: EnginePool[] = [];
  const logged: string[] = [];
  const logger = {
    log: (message: string) => logged.push(`log: ${message}`),
    warn: (message: string) => logged.push(`warn: ${message}`),
    error: (message: string) => logged.push(`error: ${message}`),
  };
  const createPool = (options: Partial<EnginePoolOptions> = {}): EnginePool => {
    const pool = new EnginePool({
      workers: 1,
      intraOpThreads: 1,
      maxConcurrent: 4,
      maxQueue: 4,
      timeoutMs: 60_000,
      preload: [fixtures.testVoice],
      logger,
      ...options,
    });
    pools.push(pool);
    return pool;
  };
  const ready = <T>(value: T | undefined, name: string): T => {
    if (value === undefined) throw new Error(`${name} is made in beforeAll`);
    return value;
  };
  const fixtures: PoolFixtures = {
    get testVoice() {
      return ready(voices.testVoice, 'testVoice');
    },
    get multiVoice() {
      return ready(voices.multiVoice, 'multiVoice');
    },
    get benchVoice() {
      return ready(voices.benchVoice, 'benchVoice');
    },
    get localTest() {
      return ready(local.test, 'localTest');
    },
    get localMulti() {
      return ready(local.multi, 'localMulti');
    },
    get dir() {
      return ready(dir, 'dir');
    },
    logged,
    logger,
    createPool,
    startPool: async (options = {}) => {
      const pool = createPool(options);
      await pool.start();
      return pool;
    },
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'engine-pool-'));
    voices.testVoice = await writeTestVoice(dir, { name: 'test-voice' });
    voices.multiVoice = await writeTestVoice(dir, { name: 'multi-voice', speakers: 3 });
    voices.benchVoice = await writeBenchVoice(dir);
    local.test = await PiperVoice.load(voices.testVoice.modelPath, { intraOpThreads: 1 });
    local.multi = await PiperVoice.load(voices.multiVoice.modelPath, { intraOpThreads: 1 });
  });

  afterEach(async () => {
    const pids = pools.flatMap((pool) => pool.workerPids());
    await Promise.all(pools.splice(0).map((pool) => pool.shutdown(1_000)));
    expect(pids.filter(isAlive)).toEqual([]);
    logged.length = 0;
  });

  afterAll(async () => {
    await local.test?.release();
    await local.multi?.release();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  return fixtures;
}
