/**
 * npm run bench:server — the built server against its floors, on the generated
 * benchmark voice (the compute of a published medium voice), all on this machine:
 *
 * 1. cache miss: POST /tts latency against the same text synthesized in-process by
 *    the engine with the same thread count (target ≤ 1.10×);
 * 2. cache hit: requests/s and p50/p99 of POST /tts answered from the cache against a
 *    bare node:http server returning the same bytes (autocannon, 16 connections;
 *    target ≥ 0.5×);
 * 3. throughput: audio-seconds synthesized per second under 8 concurrent clients with
 *    1 worker and with 2 workers (target ≥ 1.7× on 2 cores).
 *
 * Requires `npm run build` first. Timings are printed, never asserted.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { PiperVoice, writeBenchVoice } from '@app/piper';
import { freePort, startBuiltServer, type BuiltServer } from '../test/support/processes';
import { median, percentile, postJson } from './support';

const SENTENCE = 'The brown fox jumps over the lazy dog.';
const MISS_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const HIT_SECONDS = Number(process.env.BENCH_HIT_SECONDS ?? 5);
const THROUGHPUT_REQUESTS = Number(process.env.BENCH_THROUGHPUT_REQUESTS ?? 48);
const CORES = availableParallelism();

const UNLIMITED = { RATE_LIMIT_REQUESTS: '100000000', TTS_RATE_LIMIT_REQUESTS: '100000000' };

/** SIGTERM, then wait for the graceful exit. */
async function stop(server: BuiltServer): Promise<void> {
  server.process.kill('SIGTERM');
  await server.exited;
}

async function cacheMiss(modelDir: string, modelPath: string): Promise<void> {
  const server = await startBuiltServer(
    {
      ...UNLIMITED,
      MODEL_DIR: modelDir,
      WORKERS: '1',
      WORKER_THREADS: String(CORES),
      ENABLE_CACHING: 'false',
    },
    tmpdir(),
  );
  const voice = await PiperVoice.load(modelPath, { intraOpThreads: CORES });
  const serverMs: number[] = [];
  const engineMs: number[] = [];
  try {
    for (let round = 0; round < MISS_ROUNDS + 2; round++) {
      // Alternate the order; the first two rounds warm both paths up.
      const timeServer = async (): Promise<number> => {
        const started = performance.now();
        const res = await postJson(`${server.url}/tts`, { text: SENTENCE });
        if (res.status !== 200) throw new Error(`POST /tts answered ${res.status}`);
        return performance.now() - started;
      };
      const timeEngine = async (): Promise<number> => {
        const started = performance.now();
        await voice.synthesizeAll(SENTENCE);
        return performance.now() - started;
      };
      let serverElapsed: number;
      let engineElapsed: number;
      if (round % 2) {
        serverElapsed = await timeServer();
        engineElapsed = await timeEngine();
      } else {
        engineElapsed = await timeEngine();
        serverElapsed = await timeServer();
      }
      if (round >= 2) {
        serverMs.push(serverElapsed);
        engineMs.push(engineElapsed);
      }
    }
  } finally {
    await voice.release();
    await stop(server);
  }
  const ratio = median(serverMs) / median(engineMs);
  console.log(
    `cache miss (${CORES} threads): POST /tts ${median(serverMs).toFixed(1)} ms, in-process engine ` +
      `${median(engineMs).toFixed(1)} ms, ratio ${ratio.toFixed(3)} (target ≤ 1.10)`,
  );
}

async function load(url: string, body?: string): Promise<autocannon.Result> {
  return autocannon({
    url,
    method: body ? 'POST' : 'GET',
    body,
    headers: body ? { 'content-type': 'application/json' } : undefined,
    connections: 16,
    duration: HIT_SECONDS,
  });
}

async function cacheHit(modelDir: string): Promise<void> {
  const server = await startBuiltServer(
    { ...UNLIMITED, MODEL_DIR: modelDir, WORKERS: '1' },
    tmpdir(),
  );
  const body = JSON.stringify({ text: SENTENCE });
  let wav: Buffer;
  let served: autocannon.Result;
  try {
    wav = (await postJson(`${server.url}/tts`, { text: SENTENCE })).bytes;
    const check = await postJson(`${server.url}/tts`, { text: SENTENCE });
    if (check.headers.get('x-cache') !== 'HIT')
      throw new Error('second request was not a cache hit');
    served = await load(`${server.url}/tts`, body);
  } finally {
    await stop(server);
  }
  // The floor: a bare node:http server in its own process returning the same bytes.
  const port = await freePort();
  const bare = spawn(
    process.execPath,
    [
      '-e',
      `process.once('message', (wav) => {
         const body = Buffer.from(wav, 'base64');
         require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => {
           res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': body.length }); res.end(body); }); })
           .listen(${port}, '127.0.0.1', () => process.send('up'));
       });`,
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  bare.send(wav.toString('base64'));
  await once(bare, 'message');
  let floor: autocannon.Result;
  try {
    floor = await load(`http://127.0.0.1:${port}/tts`, body);
  } finally {
    bare.kill();
  }
  const ratio = served.requests.average / floor.requests.average;
  console.log(
    `cache hit (${(wav.length / 1024).toFixed(0)} KB, 16 connections): server ${served.requests.average.toFixed(0)} req/s ` +
      `p50 ${served.latency.p50} ms p99 ${served.latency.p99} ms; bare node:http ${floor.requests.average.toFixed(0)} req/s ` +
      `p50 ${floor.latency.p50} ms p99 ${floor.latency.p99} ms; ratio ${ratio.toFixed(2)} (target ≥ 0.5)`,
  );
}

async function throughput(modelDir: string, workers: number, threads: number): Promise<number> {
  const server = await startBuiltServer(
    {
      ...UNLIMITED,
      MODEL_DIR: modelDir,
      WORKERS: String(workers),
      WORKER_THREADS: String(threads),
      ENABLE_CACHING: 'false',
      MAX_QUEUE: '1000',
    },
    tmpdir(),
  );
  let audioSeconds = 0;
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  try {
    const client = async (): Promise<void> => {
      while (next < THROUGHPUT_REQUESTS) {
        const n = next++;
        const t0 = performance.now();
        const res = await postJson(`${server.url}/tts`, { text: `${SENTENCE} Number ${n}.` });
        if (res.status !== 200) throw new Error(`POST /tts answered ${res.status}`);
        latencies.push(performance.now() - t0);
        audioSeconds += (res.bytes.length - 44) / 2 / 22050;
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
  } finally {
    await stop(server);
  }
  const elapsedSeconds = (performance.now() - started) / 1000;
  const rate = audioSeconds / elapsedSeconds;
  console.log(
    `throughput, ${workers} worker(s) × ${threads} thread(s), 8 clients: ${rate.toFixed(1)} audio-s/s ` +
      `(p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms)`,
  );
  return rate;
}

async function main(): Promise<void> {
  const modelDir = await mkdtemp(join(tmpdir(), 'bench-server-'));
  try {
    const { modelPath } = await writeBenchVoice(modelDir);
    console.log(`bench:server on ${CORES} cores, generated benchmark voice`);
    await cacheMiss(modelDir, modelPath);
    await cacheHit(modelDir);
    const one = await throughput(modelDir, 1, 1);
    const two = await throughput(modelDir, 2, 1);
    console.log(
      `throughput ratio 2 workers / 1 worker (1 thread each): ${(two / one).toFixed(2)} (target ≥ 1.7)`,
    );
    const oneAllCores = await throughput(modelDir, 1, CORES);
    console.log(
      `throughput ratio 2×1 threads / 1×${CORES} threads: ${(two / oneAllCores).toFixed(2)} (the default split is WORKERS=cores, 1 thread each)`,
    );
  } finally {
    await rm(modelDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
