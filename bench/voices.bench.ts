/**
 * npm run bench:voices — the memory of loaded voices in the built server (issue 5),
 * on generated benchmark voices (the network of a published medium voice, each with its
 * own weights), all on this machine:
 *
 * 1. memory: the resident memory (VmRSS) of the whole server, its worker processes
 *    included, with 0, 1, 4 and 8 benchmark voices loaded (by synthesizing with each),
 *    against the size of those voices' files; the growth per voice over the file size
 *    is the factor behind voice-budget.ts's SESSION_BYTES_PER_MODEL_BYTE;
 * 2. eviction: with MAX_LOADED_VOICES=3 (the default voice and two more) and three
 *    benchmark voices requested in turn, each request's voice has just been evicted and
 *    must be loaded again; p50 of its latency against the same request on a voice that
 *    is loaded.
 *
 * The default voice is the tiny test voice, pinned in every worker and weighing next
 * to nothing, so what is measured is the benchmark voices. Requires `npm run build`
 * first. Timings and sizes are printed, never asserted.
 */
import { readFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBenchVoice, writeTestVoice } from '@app/piper';
import { childPids, startBuiltServer, type BuiltServer } from '../test/support/processes';
import { median, postJson } from './support';

const CORES = availableParallelism();
const VOICES = 8;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const MIB = 2 ** 20;

/** Server settings every run shares: no cache (every request is synthesized), no rate limit. */
function serverEnv(modelDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MODEL_DIR: modelDir,
    DEFAULT_MODEL: 'default-voice',
    ENABLE_CACHING: 'false',
    RATE_LIMIT_REQUESTS: '100000000',
    TTS_RATE_LIMIT_REQUESTS: '100000000',
    ...extra,
  };
}

async function stop(server: BuiltServer): Promise<void> {
  server.process.kill('SIGTERM');
  await server.exited;
}

/** VmRSS of one process in bytes (0 if it is gone). */
async function rssBytes(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return kb ? Number(kb[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Resident memory of the server and every worker it has forked. */
async function serverRss(server: BuiltServer): Promise<{ total: number; processes: number }> {
  const pids = [server.pid, ...(await childPids(server.pid))];
  const sizes = await Promise.all(pids.map(rssBytes));
  return { total: sizes.reduce((sum, size) => sum + size, 0), processes: pids.length };
}

/** RSS once the allocator has settled after the last request: the median of a few reads. */
async function settledRss(server: BuiltServer): Promise<{ total: number; processes: number }> {
  const reads: { total: number; processes: number }[] = [];
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    reads.push(await serverRss(server));
  }
  const total = median(reads.map((read) => read.total));
  return { total, processes: reads[reads.length - 1].processes };
}

/** One synthesis; fails the benchmark on anything but 200. */
async function synthesize(server: BuiltServer, voice: string, text: string): Promise<number> {
  const started = performance.now();
  const res = await postJson(`${server.url}/tts`, { text, model: voice });
  const ms = performance.now() - started;
  if (res.status !== 200) {
    throw new Error(`POST /tts (${voice}) answered ${res.status}: ${res.bytes.toString('utf8')}`);
  }
  return ms;
}

/** A Prometheus sample's value from /metrics (NaN if absent). */
async function metric(server: BuiltServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let sum = Number.NaN;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !/^[^{ ]+(\{[^}]*\})? /.test(line)) continue;
    if (line.split(/[{ ]/)[0] !== name) continue;
    sum = (Number.isNaN(sum) ? 0 : sum) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const mb = (bytes: number): string => (bytes / MIB).toFixed(1);

/** 1. RSS with 0, 1, 4 and 8 voices loaded against the voices' file sizes. */
async function memory(modelDir: string, names: string[], fileBytes: number): Promise<void> {
  // Room for every voice: the default one and the eight benchmark voices.
  const server = await startBuiltServer(
    serverEnv(modelDir, { MAX_LOADED_VOICES: String(names.length + 1) }),
    tmpdir(),
  );
  try {
    // The default voice once in every worker first, so the baseline has run inference.
    for (let i = 0; i < CORES; i++) await synthesize(server, 'default-voice', `Warm up ${i}.`);
    const baseline = await settledRss(server);
    console.log(
      `1. memory, ${baseline.processes - 1} worker(s), the server and its workers together:`,
    );
    console.log(
      '   voices loaded | their files | server RSS | RSS growth | growth / files | estimated (server)',
    );
    const row = (loaded: number, rss: number, estimated: number): void => {
      const files = loaded * fileBytes;
      const growth = rss - baseline.total;
      const ratio = loaded === 0 ? '-' : (growth / files).toFixed(2);
      console.log(
        `   ${String(loaded).padStart(13)} | ${mb(files).padStart(8)} MB | ${mb(rss).padStart(7)} MB | ` +
          `${mb(growth).padStart(7)} MB | ${ratio.padStart(14)} | ${mb(estimated).padStart(8)} MB`,
      );
    };
    row(0, baseline.total, await metric(server, 'piper_loaded_voice_bytes_estimated'));
    const at: Record<number, number> = {};
    for (let loaded = 1; loaded <= names.length; loaded++) {
      // Two sentences: the voice runs inference as it does in service (its arena grows).
      await synthesize(server, names[loaded - 1], 'The first test. And a second one.');
      if (loaded === 1 || loaded === 4 || loaded === 8) {
        const rss = await settledRss(server);
        at[loaded] = rss.total;
        row(loaded, rss.total, await metric(server, 'piper_loaded_voice_bytes_estimated'));
      }
    }
    const perVoice = (at[8] - at[1]) / 7;
    console.log(
      `   per voice from 1 to 8 loaded: ${mb(perVoice)} MB = ${(perVoice / fileBytes).toFixed(2)} × ` +
        `its ${mb(fileBytes)} MB file (SESSION_BYTES_PER_MODEL_BYTE)`,
    );
  } finally {
    await stop(server);
  }
}

/** 2. Latency of a request whose voice was evicted against one whose voice is loaded. */
async function eviction(modelDir: string, names: string[]): Promise<void> {
  const server = await startBuiltServer(serverEnv(modelDir, { MAX_LOADED_VOICES: '3' }), tmpdir());
  const cycle = names.slice(0, 3);
  const evicted: number[] = [];
  const loaded: number[] = [];
  try {
    // Each voice once, so every one has been loaded (and two evicted) before timing.
    for (const voice of cycle) await synthesize(server, voice, 'Warming up.');
    for (let round = 0; round < ROUNDS; round++) {
      for (const voice of cycle) {
        // Three voices in turn with room for two: the requested one is always the one
        // evicted longest ago, and must be loaded again.
        evicted.push(await synthesize(server, voice, `Evicted round ${round}, voice ${voice}.`));
        loaded.push(await synthesize(server, voice, `Loaded round ${round}, voice ${voice}.`));
      }
    }
    const evictions = await metric(server, 'piper_voice_evictions_total');
    const [p50Evicted, p50Loaded] = [median(evicted), median(loaded)];
    console.log(
      `2. eviction, MAX_LOADED_VOICES=3 (default + 2), 3 voices in turn, ${evicted.length} requests each:`,
    );
    console.log('   request on a voice | p50 latency | min | max');
    for (const [label, times] of [
      ['evicted, reloaded', evicted],
      ['loaded', loaded],
    ] as const) {
      console.log(
        `   ${label.padStart(18)} | ${median(times).toFixed(0).padStart(8)} ms | ` +
          `${Math.min(...times).toFixed(0)} ms | ${Math.max(...times).toFixed(0)} ms`,
      );
    }
    console.log(
      `   a reload costs ${(p50Evicted - p50Loaded).toFixed(0)} ms at p50; ` +
        `${evictions} evictions counted by piper_voice_evictions_total`,
    );
  } finally {
    await stop(server);
  }
}

async function main(): Promise<void> {
  const modelDir = await mkdtemp(join(tmpdir(), 'bench-voices-'));
  try {
    await writeTestVoice(modelDir, { name: 'default-voice' });
    const names: string[] = [];
    let fileBytes = 0;
    for (let i = 1; i <= VOICES; i++) {
      const name = `bench-voice-${i}`;
      // Each with its own weights, so no two files are alike.
      const { modelPath } = await writeBenchVoice(modelDir, { name, seed: i });
      fileBytes = (await stat(modelPath)).size;
      names.push(name);
    }
    console.log(
      `bench:voices on ${CORES} cores, ${VOICES} generated benchmark voices of ${mb(fileBytes)} MB`,
    );
    await memory(modelDir, names, fileBytes);
    await eviction(modelDir, names);
  } finally {
    await rm(modelDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
