/**
 * npm run bench:wyoming — the Wyoming protocol against HTTP on the same built server,
 * the generated benchmark voice, the audio cache off (every request synthesizes):
 *
 * 1. time to the first audio-chunk of a 3-sentence `synthesize`, against the first byte
 *    of the same text streamed by POST /tts (`"stream": true, "format": "pcm"`), rounds
 *    alternating (target ≤ 1.05×);
 * 2. throughput, 20 concurrent Wyoming clients against 20 concurrent HTTP clients
 *    (streamed pcm), audio-seconds per second (target: within 10%): an untimed warm-up
 *    of each, then three timed runs of each alternating (W, H, H, W, W, H), means compared.
 *
 * The Wyoming client here is a plain socket with the server's own framing (a Python
 * client per request would time its own start-up). Requires `npm run build` first.
 * Timings are printed, never asserted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBenchVoice } from '@app/piper';
import { encodeEvent, WyomingFrameParser } from '../apps/tts-server/src/wyoming/wyoming-frames';
import { freePort, startBuiltServer, type BuiltServer } from '../test/support/processes';
import { median, percentile } from './support';

const TEXT =
  'The old lighthouse stood alone at the edge of the cliff. ' +
  'Every night its lamp turned slowly over the dark water. ' +
  'Sailors far away could see the light and find their way home.';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CLIENTS = 20;
const REQUESTS_PER_CLIENT = Number(process.env.BENCH_REQUESTS_PER_CLIENT ?? 2);
const SAMPLE_RATE = 22050;
type Protocol = 'Wyoming' | 'HTTP';
/** Timed runs of part 2, alternating so that drift on a shared machine hits both alike. */
const ORDER: Protocol[] = ['Wyoming', 'HTTP', 'HTTP', 'Wyoming', 'Wyoming', 'HTTP'];

interface Timing {
  firstAudioMs: number;
  totalMs: number;
  audioSeconds: number;
}

/** One `synthesize` on a fresh connection, timed from the write to each audio event. */
function wyomingSynthesize(port: number, text: string): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let started = 0;
    let firstAudioMs = Number.NaN;
    let bytes = 0;
    const parser = new WyomingFrameParser(
      16 * 1024 * 1024,
      (event) => {
        if (event.type === 'audio-chunk') {
          if (bytes === 0) firstAudioMs = performance.now() - started;
          bytes += event.payload?.length ?? 0;
        } else if (event.type === 'audio-stop') {
          socket.end();
          resolve({
            firstAudioMs,
            totalMs: performance.now() - started,
            audioSeconds: bytes / 2 / SAMPLE_RATE,
          });
        } else if (event.type === 'error') {
          socket.destroy();
          reject(new Error(`Wyoming error: ${JSON.stringify(event.data)}`));
        }
      },
      (error) => reject(error),
    );
    socket.on('data', (chunk: Buffer) => parser.push(chunk));
    socket.on('error', reject);
    socket.once('connect', () => {
      started = performance.now();
      socket.write(encodeEvent({ type: 'synthesize', data: { text } }));
    });
  });
}

/** The same text streamed by POST /tts as pcm, timed to its first and last byte. */
async function httpSynthesize(server: BuiltServer, text: string): Promise<Timing> {
  const started = performance.now();
  const res = await fetch(`${server.url}/tts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text, format: 'pcm', stream: true }),
  });
  if (res.status !== 200 || !res.body) throw new Error(`POST /tts answered ${res.status}`);
  let firstAudioMs = Number.NaN;
  let bytes = 0;
  for await (const chunk of res.body) {
    if (bytes === 0) firstAudioMs = performance.now() - started;
    bytes += (chunk as Uint8Array).length;
  }
  return {
    firstAudioMs,
    totalMs: performance.now() - started,
    audioSeconds: bytes / 2 / SAMPLE_RATE,
  };
}

/** CLIENTS clients, each sending REQUESTS_PER_CLIENT requests one after another. */
async function throughput(
  label: string,
  request: (text: string) => Promise<Timing>,
): Promise<number> {
  const started = performance.now();
  const timings = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      const mine: Timing[] = [];
      for (let round = 0; round < REQUESTS_PER_CLIENT; round++) {
        mine.push(await request(`${TEXT} Client ${client}, round ${round}.`));
      }
      return mine;
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const all = timings.flat();
  const audio = all.reduce((sum, timing) => sum + timing.audioSeconds, 0);
  const totals = all.map((timing) => timing.totalMs);
  const rate = audio / seconds;
  console.log(
    `  ${label.padEnd(8)} ${rate.toFixed(1)} audio-s/s (${all.length} requests, ` +
      `p50 ${median(totals).toFixed(0)} ms, p99 ${percentile(totals, 99).toFixed(0)} ms)`,
  );
  return rate;
}

async function main(): Promise<void> {
  const modelDir = await mkdtemp(join(tmpdir(), 'bench-wyoming-'));
  let server: BuiltServer | undefined;
  try {
    await writeBenchVoice(modelDir, { name: 'bench-voice' });
    const wyomingPort = await freePort();
    server = await startBuiltServer(
      {
        MODEL_DIR: modelDir,
        DEFAULT_MODEL: 'bench-voice',
        ENABLE_CACHING: 'false',
        RATE_LIMIT_REQUESTS: '100000',
        TTS_RATE_LIMIT_REQUESTS: '100000',
        MAX_CONCURRENT_REQUESTS: String(CLIENTS),
        WYOMING_PORT: String(wyomingPort),
      },
      tmpdir(),
      undefined,
      // BENCH_CPU_PROF=<dir>: the server writes a V8 CPU profile there when it exits.
      process.env.BENCH_CPU_PROF
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
        : [],
    );
    console.log(
      `bench:wyoming on ${availableParallelism()} cores, generated benchmark voice, cache off, default workers`,
    );
    // Warm-up: both paths once.
    await wyomingSynthesize(wyomingPort, TEXT);
    await httpSynthesize(server, TEXT);

    const wyoming: number[] = [];
    const http: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating which goes first, so drift on a shared machine hits both alike.
      const first = round % 2 === 0;
      if (first) wyoming.push((await wyomingSynthesize(wyomingPort, TEXT)).firstAudioMs);
      http.push((await httpSynthesize(server, TEXT)).firstAudioMs);
      if (!first) wyoming.push((await wyomingSynthesize(wyomingPort, TEXT)).firstAudioMs);
    }
    const wyomingFirst = median(wyoming);
    const httpFirst = median(http);
    console.log(
      `1. 3-sentence text, median of ${ROUNDS}: Wyoming first audio-chunk ${wyomingFirst.toFixed(1)} ms, ` +
        `HTTP stream first byte ${httpFirst.toFixed(1)} ms: ${(wyomingFirst / httpFirst).toFixed(3)}× (target ≤ 1.05)`,
    );

    console.log(
      `2. throughput, ${CLIENTS} concurrent clients × ${REQUESTS_PER_CLIENT} requests, ` +
        `after an untimed ${CLIENTS}-client warm-up of each; timed ${ORDER.join(', ')} (the means count):`,
    );
    const httpServer = server;
    const runs = {
      Wyoming: (label = 'Wyoming') =>
        throughput(label, (text) => wyomingSynthesize(wyomingPort, text)),
      HTTP: (label = 'HTTP') => throughput(label, (text) => httpSynthesize(httpServer, text)),
    };
    // The first burst of 20 concurrent requests on fresh workers is the slowest whichever
    // protocol it is: both are warmed up before anything is timed.
    await runs.Wyoming('(warm-up Wyoming)');
    await runs.HTTP('(warm-up HTTP)');
    const rates: Record<Protocol, number[]> = { Wyoming: [], HTTP: [] };
    for (const protocol of ORDER) rates[protocol].push(await runs[protocol]());
    const mean = (values: number[]): number =>
      values.reduce((sum, value) => sum + value, 0) / values.length;
    console.log(
      `   means: Wyoming ${mean(rates.Wyoming).toFixed(1)}, HTTP ${mean(rates.HTTP).toFixed(1)} audio-s/s; ` +
        `Wyoming / HTTP ${((mean(rates.Wyoming) / mean(rates.HTTP)) * 100).toFixed(1)}% (target within 10%)`,
    );
  } finally {
    if (server) {
      server.process.kill('SIGTERM');
      await server.exited;
    }
    await rm(modelDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
