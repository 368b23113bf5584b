/**
 * npm run bench:cache — the audio cache's tiers on the built server, one text (a WAV of
 * about 200 KB on the generated benchmark voice), POST /tts:
 *
 * 1. memory hits (CACHE_DIR set, memory tier on);
 * 2. disk hits: a second server on the same CACHE_DIR with the memory tier off
 *    (CACHE_MAX_BYTES=0), so every hit opens, checks and sends the entry the first
 *    server wrote;
 * 3. misses (caching off, every request synthesizes).
 *
 * Hits: one connection, memory and disk requests alternating (latency without queueing,
 * p50/p99 from the client's clock, the machine's noise on both alike), then 16
 * connections with autocannon (requests/s under load). Target: disk-hit latency within
 * a few milliseconds of a memory hit.
 *
 * Requires `npm run build` first. Timings are printed, never asserted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { writeBenchVoice } from '@app/piper';
import { startBuiltServer, waitFor, type BuiltServer } from '../test/support/processes';
import { percentile, postJson } from './support';

const TEXT = 'The quick brown fox jumps over the lazy dog beside the riverbank.';
const SEQUENTIAL_REQUESTS = Number(process.env.BENCH_REQUESTS ?? 300);
const MISS_REQUESTS = Number(process.env.BENCH_MISS_REQUESTS ?? 12);
const LOAD_SECONDS = Number(process.env.BENCH_HIT_SECONDS ?? 5);
const CORES = availableParallelism();
const UNLIMITED = { RATE_LIMIT_REQUESTS: '100000000', TTS_RATE_LIMIT_REQUESTS: '100000000' };

interface Sequential {
  p50: number;
  p99: number;
  perSecond: number;
}

async function stop(server: BuiltServer): Promise<void> {
  server.process.kill('SIGTERM');
  await server.exited;
}

/** One POST of the text, checking the answer's cache headers; its latency in ms. */
async function timedPost(
  server: BuiltServer,
  expected: { cache: string; tier: string | null },
): Promise<number> {
  const t0 = performance.now();
  const res = await postJson(`${server.url}/tts`, { text: TEXT });
  const elapsed = performance.now() - t0;
  const cache = res.headers.get('x-cache');
  const tier = res.headers.get('x-cache-tier');
  if (res.status !== 200 || cache !== expected.cache || tier !== expected.tier) {
    throw new Error(
      `expected ${expected.cache}/${expected.tier}, got ${res.status} ${cache}/${tier}`,
    );
  }
  return elapsed;
}

function summary(latencies: number[]): Sequential {
  const totalSeconds = latencies.reduce((sum, ms) => sum + ms, 0) / 1000;
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    perSecond: latencies.length / totalSeconds,
  };
}

async function underLoad(server: BuiltServer): Promise<autocannon.Result> {
  const result = await autocannon({
    url: `${server.url}/tts`,
    method: 'POST',
    body: JSON.stringify({ text: TEXT }),
    headers: { 'content-type': 'application/json' },
    connections: 16,
    duration: LOAD_SECONDS,
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${result.non2xx} non-2xx answers and ${result.errors} errors under load`);
  }
  return result;
}

function report(label: string, one: Sequential, load?: autocannon.Result): void {
  const loaded = load
    ? `; 16 connections ${load.requests.average.toFixed(0)} req/s p50 ${load.latency.p50} ms p99 ${load.latency.p99} ms`
    : '';
  console.log(
    `${label} 1 connection ${one.perSecond.toFixed(one.perSecond < 10 ? 1 : 0)} req/s p50 ${one.p50.toFixed(2)} ms ` +
      `p99 ${one.p99.toFixed(2)} ms${loaded}`,
  );
}

async function main(): Promise<void> {
  const modelDir = await mkdtemp(join(tmpdir(), 'bench-cache-models-'));
  const cacheDir = await mkdtemp(join(tmpdir(), 'bench-cache-dir-'));
  try {
    await writeBenchVoice(modelDir);
    const base = { ...UNLIMITED, MODEL_DIR: modelDir, WORKERS: '1', CACHE_DIR: cacheDir };
    const memoryHit = { cache: 'HIT', tier: 'memory' };
    const diskHit = { cache: 'HIT', tier: 'disk' };

    // Both servers share the directory; the disk one keeps nothing in memory.
    const [memoryServer, diskServer] = await Promise.all([
      startBuiltServer(base, tmpdir()),
      startBuiltServer({ ...base, CACHE_MAX_BYTES: '0' }, tmpdir()),
    ]);
    let bytes: number;
    const memory: number[] = [];
    const disk: number[] = [];
    let memoryLoad: autocannon.Result;
    let diskLoad: autocannon.Result;
    try {
      bytes = (await postJson(`${memoryServer.url}/tts`, { text: TEXT })).bytes.length;
      await waitFor('the entry on disk', async () => {
        const res = await postJson(`${diskServer.url}/tts`, { text: TEXT });
        return res.headers.get('x-cache-tier') === 'disk';
      });
      // Alternating, so that the machine's noise falls on both tiers alike.
      for (let round = 0; round < SEQUENTIAL_REQUESTS + 20; round++) {
        let memoryMs: number;
        let diskMs: number;
        if (round % 2) {
          memoryMs = await timedPost(memoryServer, memoryHit);
          diskMs = await timedPost(diskServer, diskHit);
        } else {
          diskMs = await timedPost(diskServer, diskHit);
          memoryMs = await timedPost(memoryServer, memoryHit);
        }
        if (round < 20) continue; // warm-up
        memory.push(memoryMs);
        disk.push(diskMs);
      }
      memoryLoad = await underLoad(memoryServer);
      diskLoad = await underLoad(diskServer);
    } finally {
      await Promise.all([stop(memoryServer), stop(diskServer)]);
    }
    const audioSeconds = (bytes - 44) / 2 / 22050;
    console.log(
      `bench:cache on ${CORES} cores, generated benchmark voice, one text: ` +
        `${(bytes / 1024).toFixed(0)} KB WAV (${audioSeconds.toFixed(1)} s of audio), POST /tts`,
    );
    const memorySummary = summary(memory);
    const diskSummary = summary(disk);
    report('memory hit:', memorySummary, memoryLoad);
    report('disk hit:  ', diskSummary, diskLoad);
    console.log(
      `disk hit − memory hit, 1 connection: p50 ${(diskSummary.p50 - memorySummary.p50).toFixed(2)} ms, ` +
        `p99 ${(diskSummary.p99 - memorySummary.p99).toFixed(2)} ms (target: within a few ms)`,
    );

    const missServer = await startBuiltServer(
      { ...base, CACHE_DIR: '', WORKER_THREADS: String(CORES), ENABLE_CACHING: 'false' },
      tmpdir(),
    );
    try {
      const miss: number[] = [];
      await timedPost(missServer, { cache: 'MISS', tier: null }); // warm-up
      for (let i = 0; i < MISS_REQUESTS; i++) {
        miss.push(await timedPost(missServer, { cache: 'MISS', tier: null }));
      }
      report(`miss (synthesis, 1 worker × ${CORES} threads):`, summary(miss));
    } finally {
      await stop(missServer);
    }
  } finally {
    await rm(modelDir, { recursive: true, force: true });
    await rm(cacheDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
