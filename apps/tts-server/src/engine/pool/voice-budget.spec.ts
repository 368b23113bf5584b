/**
 * The pool's loaded voices (issue 5): placement, the MAX_LOADED_VOICES and memory
 * bounds, pinning, retiring and revisions, with real worker processes on voices
 * generated in a temporary folder (the test voice, whose audio is a known function of
 * the ids; the bench voice where a request must still be running when the test acts).
 * What a worker has released is observed through its `unloaded` replies
 * (`onVoiceUnloaded`), what it has loaded through the pool's stats and dispatches.
 */
import { statSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PiperVoice, writeBenchVoice, writeTestVoice, type GeneratedVoiceFiles } from '@app/piper';
import {
  EnginePool,
  SECOND_COPY_WAITING_SENTENCES,
  type Dispatch,
  type EnginePoolOptions,
  type VoiceUnloaded,
} from '../engine-pool';
import type { EngineSynthesisRequest, LoadedVoiceDetail } from '../piper-engine';
import { estimateSessionBytes, SESSION_BYTES_PER_MODEL_BYTE, VoiceBudget } from './voice-budget';
import type { VoicePaths } from '../worker-protocol';

/** `count` sentences of about 40 phonemes each. */
function longText(count: number): string {
  return Array.from(
    { length: count },
    (_, i) => `This is sentence number ${i + 1} of a rather long text.`,
  ).join(' ');
}

function request(voice: VoicePaths, text: string): EngineSynthesisRequest {
  return { ...voice, text, options: {} };
}

/** Polls until `condition` holds (bounded by the test's timeout). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Waits for a condition, looking again at every turn of the event loop. */
async function untilNextTurns(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

describe(VoiceBudget.name, () => {
  let dir: string;
  let defaultVoice: GeneratedVoiceFiles;
  /** Test voices other than the default: a, b, c, d. */
  let voices: GeneratedVoiceFiles[];
  let benchVoice: GeneratedVoiceFiles;
  let localTest: PiperVoice;
  const pools: EnginePool[] = [];
  let logged: string[];
  let unloaded: VoiceUnloaded[];
  let dispatched: Dispatch[];

  function startPool(options: Partial<EnginePoolOptions> = {}): Promise<EnginePool> {
    const pool = new EnginePool({
      workers: 1,
      intraOpThreads: 1,
      maxConcurrent: 8,
      maxQueue: 8,
      timeoutMs: 60_000,
      preload: [defaultVoice],
      logger: {
        log: (message) => logged.push(`log: ${message}`),
        warn: (message) => logged.push(`warn: ${message}`),
        error: (message) => logged.push(`error: ${message}`),
      },
      onVoiceUnloaded: (event) => unloaded.push(event),
      onDispatch: (dispatch) => dispatched.push(dispatch),
      ...options,
    });
    pools.push(pool);
    return pool.start().then(() => pool);
  }

  function loaded(pool: EnginePool): string[] {
    return pool.stats().loadedVoiceDetails.map((voice) => voice.modelPath);
  }

  function detail(pool: EnginePool, voice: VoicePaths): LoadedVoiceDetail | undefined {
    return pool.stats().loadedVoiceDetails.find((d) => d.modelPath === voice.modelPath);
  }

  function unloadedPaths(): string[] {
    return unloaded.flatMap((event) => event.voices.map((voice) => voice.modelPath));
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'voice-budget-'));
    defaultVoice = await writeTestVoice(dir, { name: 'default-voice' });
    voices = [];
    for (const name of ['voice-a', 'voice-b', 'voice-c', 'voice-d']) {
      voices.push(await writeTestVoice(dir, { name }));
    }
    benchVoice = await writeBenchVoice(dir);
    localTest = await PiperVoice.load(defaultVoice.modelPath, { intraOpThreads: 1 });
  });

  beforeEach(() => {
    logged = [];
    unloaded = [];
    dispatched = [];
  });

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.shutdown(1_000)));
  });

  afterAll(async () => {
    await localTest?.release();
    await rm(dir, { recursive: true, force: true });
  });

  it('estimates a session from the file size times the measured factor', () => {
    const { size } = statSync(benchVoice.modelPath);
    expect(estimateSessionBytes(benchVoice.modelPath)).toBe(
      Math.round(size * SESSION_BYTES_PER_MODEL_BYTE),
    );
    expect(estimateSessionBytes(join(dir, 'missing.onnx'))).toBe(0);
  });

  it('evicts the least recently used voice beyond MAX_LOADED_VOICES, never the default', async () => {
    const [a, b, c] = voices;
    const pool = await startPool({ maxLoadedVoices: 3 });
    await pool.synthesizeAll(request(a, 'Hello.'));
    await pool.synthesizeAll(request(b, 'Hello.'));
    // a is used again, so b is now the least recently used.
    await pool.synthesizeAll(request(a, 'Hello.'));
    await pool.synthesizeAll(request(c, 'Hello.'));

    expect(loaded(pool).sort()).toEqual([defaultVoice.modelPath, a.modelPath, c.modelPath].sort());
    expect(pool.stats().voiceEvictions).toBe(1);
    await until(() => unloaded.length === 1);
    expect(unloadedPaths()).toEqual([b.modelPath]);
    expect(unloaded[0].sessions).toBe(1);
    expect(detail(pool, defaultVoice)).toMatchObject({ pinned: true, workers: 1 });
  });

  it('evicts within the memory budget, counting every session of every worker', async () => {
    const [a, b, c] = voices;
    const sessionBytes = 100;
    // Two workers: the default voice takes two sessions (200), so a and b fit (400), c does not.
    const pool = await startPool({
      workers: 2,
      voiceMemoryBytes: 4 * sessionBytes,
      estimateVoiceBytes: () => sessionBytes,
    });
    await pool.synthesizeAll(request(a, 'Hello.'));
    await pool.synthesizeAll(request(b, 'Hello.'));
    expect(pool.stats()).toMatchObject({ estimatedVoiceBytes: 400, voiceEvictions: 0 });

    await pool.synthesizeAll(request(c, 'Hello.'));
    expect(loaded(pool).sort()).toEqual([defaultVoice.modelPath, b.modelPath, c.modelPath].sort());
    expect(pool.stats()).toMatchObject({ estimatedVoiceBytes: 400, voiceEvictions: 1 });
    await until(() => unloaded.length === 1);
    expect(unloadedPaths()).toEqual([a.modelPath]);
  });

  it('loads beyond the bound, warning, when only the default voice could go', async () => {
    const [a, b] = voices;
    const pool = await startPool({ maxLoadedVoices: 1 });
    await pool.synthesizeAll(request(a, 'Hello.'));
    await pool.synthesizeAll(request(b, 'Hello.'));

    expect(detail(pool, defaultVoice)).toMatchObject({ pinned: true });
    expect(unloadedPaths()).not.toContain(defaultVoice.modelPath);
    // Once a request ends the pool is brought back within the bound as far as it can.
    expect(loaded(pool)).toEqual([defaultVoice.modelPath]);
    await until(() => unloaded.length === 2);
    expect(unloadedPaths()).toEqual([a.modelPath, b.modelPath]);
    // One warning per voice that went beyond the bound.
    const warnings = logged.filter((line) => line.startsWith('warn:'));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/voice-a.*MAX_LOADED_VOICES=1/);
  });

  it('does not evict a voice a request is using; other voices load and go meanwhile', async () => {
    const [b, c] = voices;
    const pool = await startPool({ workers: 2, maxLoadedVoices: 2 });
    const long = pool.synthesize(request(benchVoice, longText(12)))[Symbol.asyncIterator]();
    const first = await long.next();
    expect(first.done).toBe(false);

    const fromB = await pool.synthesizeAll(request(b, 'Hello.'));
    const fromC = await pool.synthesizeAll(request(c, 'Hello.'));
    const local = await localTest.synthesizeAll('Hello.');
    expect(fromB.pcm).toEqual(local.pcm);
    expect(fromC.pcm).toEqual(local.pcm);
    expect(detail(pool, benchVoice)).toMatchObject({ activeRequests: 1 });

    let count = 1;
    for (let next = await long.next(); !next.done; next = await long.next()) count += 1;
    expect(count).toBe(12);
    expect(unloadedPaths()).not.toContain(benchVoice.modelPath);
    // b and c went again as soon as their requests ended: the bench voice was in use.
    await until(() => unloaded.length >= 2);
    expect(unloadedPaths()).toEqual(expect.arrayContaining([b.modelPath, c.modelPath]));
  });

  it('tells sessions still loading from loaded ones, for a request and for a preload', async () => {
    const [a, b] = voices;
    const pool = await startPool({ workers: 2 });
    const pinned = detail(pool, defaultVoice);
    expect(pinned).toMatchObject({ sessions: pinned?.workers, loadingSessions: 0 });

    // A request on a voice no worker has: counted (the bounds see it) but loading.
    const spoken = pool.synthesizeAll(request(a, 'Hello.'));
    // Looked at between two turns of the event loop: long before a worker can have
    // loaded a network and answered.
    await untilNextTurns(() => detail(pool, a) !== undefined);
    expect(detail(pool, a)).toMatchObject({ sessions: 1, loadingSessions: 1 });
    await spoken;
    expect(detail(pool, a)).toMatchObject({ sessions: 1, loadingSessions: 0 });

    const preloaded = pool.preloadVoices([b]);
    await untilNextTurns(() => detail(pool, b) !== undefined);
    expect(detail(pool, b)).toMatchObject({ sessions: 1, loadingSessions: 1 });
    await preloaded;
    expect(detail(pool, b)).toMatchObject({ sessions: 1, loadingSessions: 0 });
  });

  it('reloads an evicted voice, which speaks exactly as before', async () => {
    const [a, b] = voices;
    const pool = await startPool({ maxLoadedVoices: 2 });
    const text = 'Hello world. This is a test!';
    const before = await pool.synthesizeAll(request(a, text));
    await pool.synthesizeAll(request(b, text));
    await until(() => unloadedPaths().includes(a.modelPath));

    const after = await pool.synthesizeAll(request(a, text));
    expect(after.pcm).toEqual(before.pcm);
    expect(after.pcm).toEqual((await localTest.synthesizeAll(text)).pcm);
    expect(loaded(pool)).toContain(a.modelPath);
  });

  it('retires a voice once its request in flight has finished on its session', async () => {
    const pool = await startPool();
    const long = pool.synthesize(request(benchVoice, longText(8)))[Symbol.asyncIterator]();
    expect((await long.next()).done).toBe(false);
    pool.retireVoice({ modelPath: benchVoice.modelPath });
    // Still loaded for the request that uses it.
    expect(detail(pool, benchVoice)).toMatchObject({ activeRequests: 1 });

    let count = 1;
    for (let next = await long.next(); !next.done; next = await long.next()) count += 1;
    expect(count).toBe(8);
    // Nothing was unloaded while the request ran (a worker answers an unload between jobs).
    expect(unloaded).toEqual([]);
    await until(() => unloaded.length === 1);
    expect(unloaded[0]).toMatchObject({ voices: [{ modelPath: benchVoice.modelPath }] });
    expect(loaded(pool)).toEqual([defaultVoice.modelPath]);
    expect(pool.stats().voiceEvictions).toBe(0);
  });

  it('runs a new revision of the files on a new session, and unloads the old one', async () => {
    const swapDir = await mkdtemp(join(dir, 'swap-'));
    const swapped = await writeTestVoice(swapDir, { name: 'swapped' });
    const pool = await startPool();
    const text = 'Hello world.';
    const old = await pool.synthesizeAll(request({ ...swapped, revision: 'one' }, text));
    expect(old.pcm).toEqual((await localTest.synthesizeAll(text)).pcm);

    // Replace the files with another network (the bench voice: 3 frames per id, not 4).
    await copyFile(benchVoice.modelPath, swapped.modelPath);
    await copyFile(benchVoice.configPath, swapped.configPath);
    const local = await PiperVoice.load(swapped.modelPath, { intraOpThreads: 1 });
    try {
      const expected = await local.synthesizeAll(text);
      const fresh = await pool.synthesizeAll(request({ ...swapped, revision: 'two' }, text));
      expect(fresh.pcm.length).toBe(expected.pcm.length);
      expect(fresh.pcm.length).not.toBe(old.pcm.length);
    } finally {
      await local.release();
    }
    await until(() => unloaded.length === 1);
    expect(unloaded[0].voices).toEqual([{ modelPath: swapped.modelPath, revision: 'one' }]);
    expect(pool.stats().loadedVoiceDetails).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ modelPath: swapped.modelPath, revision: 'two' }),
      ]),
    );
    expect(loaded(pool)).toHaveLength(2);

    // The reloader retires the revision whose files went away, after a request loaded
    // the new one: the new one stays loaded.
    pool.retireVoice({ modelPath: swapped.modelPath, revision: 'one' });
    expect(pool.stats().loadedVoiceDetails).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ modelPath: swapped.modelPath, revision: 'two' }),
      ]),
    );
    await pool.synthesizeAll(request({ ...swapped, revision: 'two' }, text));
    expect(unloaded).toHaveLength(1);
  });

  it('runs a request that names no revision on the loaded revision of its files', async () => {
    const pool = await startPool({ preload: [{ ...defaultVoice, revision: 'one' }] });
    const audio = await pool.synthesizeAll(request(defaultVoice, 'Hello.'));
    expect(audio.pcm).toEqual((await localTest.synthesizeAll('Hello.')).pcm);
    expect(pool.stats().loadedVoiceDetails).toEqual([
      expect.objectContaining({ modelPath: defaultVoice.modelPath, revision: 'one', pinned: true }),
    ]);
    expect(unloaded).toEqual([]);
  });

  it('loads a voice other than the default in one worker under light traffic', async () => {
    const [a] = voices;
    const pool = await startPool({ workers: 2 });
    for (let i = 0; i < 4; i += 1) {
      await pool.synthesizeAll(request(a, `Hello number ${i + 1}. How are you?`));
    }
    expect(detail(pool, a)).toMatchObject({ workers: 1, sessions: 1, pinned: false });
    // Every job of it ran on the worker that has it.
    const pids = new Set(dispatched.map((d) => d.workerPid));
    expect(pids.size).toBe(1);
    // The default voice, meanwhile, is in both.
    expect(detail(pool, defaultVoice)).toMatchObject({ workers: 2, pinned: true });
  });

  it('loads a second copy of a voice when enough of its sentences wait for a busy worker', async () => {
    const pool = await startPool({ workers: 2 });
    const sentences = 4 * SECOND_COPY_WAITING_SENTENCES;
    const audio = await pool.synthesizeAll(request(benchVoice, longText(sentences)));
    expect(audio.sentenceCount).toBe(sentences);
    expect(detail(pool, benchVoice)).toMatchObject({ workers: 2, sessions: 2 });
    expect(logged.some((line) => line.includes('loading another copy'))).toBe(true);
  });

  it('spreads PRELOAD_VOICES over the workers, one copy each, within the bounds', async () => {
    const [a, b, c] = voices;
    const pool = await startPool({ workers: 2, maxLoadedVoices: 3 });
    await pool.preloadVoices([a, b, c]);
    // The default voice and two more: c did not fit without evicting a preloaded voice.
    expect(loaded(pool).sort()).toEqual([defaultVoice.modelPath, a.modelPath, b.modelPath].sort());
    expect(detail(pool, a)).toMatchObject({ workers: 1 });
    expect(detail(pool, b)).toMatchObject({ workers: 1 });
    expect(pool.stats().voiceEvictions).toBe(0);
    expect(logged.some((line) => line.startsWith('warn:') && line.includes('voice-c'))).toBe(true);

    // They are in different workers: served there without loading anything.
    dispatched.length = 0;
    await pool.synthesizeAll(request(a, 'Hello.'));
    await pool.synthesizeAll(request(b, 'Hello.'));
    const [onA, onB] = dispatched.filter((d) => d.kind === 'plan').map((d) => d.workerPid);
    expect(onA).not.toBe(onB);
  });

  it('pins a new default voice in every worker; the old one becomes evictable', async () => {
    const [a, b] = voices;
    const pool = await startPool({ workers: 2, maxLoadedVoices: 2 });
    const pinning = pool.setPinnedVoices([a]);
    // The workers served the old default voice: they stay ready while they load the new one.
    expect(pool.isReady()).toBe(true);
    expect(pool.stats().readyWorkers).toBe(2);
    await pinning;
    expect(pool.isReady()).toBe(true);
    expect(detail(pool, a)).toMatchObject({ workers: 2, pinned: true });
    expect(detail(pool, defaultVoice)).toMatchObject({ pinned: false });

    await pool.synthesizeAll(request(b, 'Hello.'));
    await until(() => unloadedPaths().includes(defaultVoice.modelPath));
    expect(loaded(pool).sort()).toEqual([a.modelPath, b.modelPath].sort());
    // Unloaded from both workers.
    expect(unloaded.filter((event) => event.sessions > 0)).toHaveLength(2);
  });

  it('is not ready while a pinned voice fails to load, and ready once a good one is pinned', async () => {
    const pool = await startPool();
    const missing = { modelPath: join(dir, 'nope.onnx'), configPath: join(dir, 'nope.onnx.json') };
    await expect(pool.setPinnedVoices([missing])).rejects.toMatchObject({
      code: 'VOICE_FILES_MISSING',
    });
    expect(pool.isReady()).toBe(false);
    await pool.setPinnedVoices([defaultVoice]);
    expect(pool.isReady()).toBe(true);
  });

  it('becomes ready only once a first default voice (none pinned at start) is loaded', async () => {
    const pool = await startPool({ workers: 2, preload: [] });
    const pinning = pool.setPinnedVoices([defaultVoice]);
    expect(pool.isReady()).toBe(false);
    await pinning;
    expect(pool.isReady()).toBe(true);
    expect(detail(pool, defaultVoice)).toMatchObject({ workers: 2, pinned: true });
  });
});
