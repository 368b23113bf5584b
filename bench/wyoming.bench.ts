/**
 * npm run bench:wyoming — the Wyoming protocol against HTTP on the same built server,
 * the generated benchmark voice, the audio cache off (every request synthesizes):
 *
 * 1. time to the first audio-chunk of a 3-sentence `synthesize`, against the first byte
 *    of the same text streamed by POST /tts (`"stream": true, "format": "pcm"`), rounds
 *    alternating (target ≤ 1.05×);
 * 2. throughput, 20 concurrent Wyoming clients against 20 concurrent HTTP clients
 *    (streamed pcm), audio-seconds per second (target: within 10%): an untimed warm-up
 *    of each, then three timed runs of each alternating (W, H, H, W, W, H), means compared;
 * 3. 10 Wyoming and 10 HTTP clients at once, each protocol's mean request time (the same
 *    moments of a shared machine's load for both).
 *
 * Each run of part 2 also prints the CPU its synthesis workers used (/proc, Linux): on a
 * shared machine the wall time of a run follows what the other jobs leave, the work
 * done for it does not.
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
import {
  childPids,
  cpuTicks,
  freePort,
  startBuiltServer,
  type BuiltServer,
} from '../test/support/processes';
import { median, percentile } from './support';

const TEXT =
  'The old lighthouse stood alone at the edge of the cliff. ' +
  'Every night its lamp turned slowly over the dark water. ' +
  'Sailors far away could see the light and find their way home.';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CLIENTS = 20;
const REQUESTS_PER_CLIENT = Number(process.env.BENCH_REQUESTS_PER_CLIENT ?? 2);
const SAMPLE_RATE = 22050;
/** USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on Linux everywhere). */
const CLOCK_TICKS_PER_SECOND = 100;
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

/** Seconds of CPU the server's synthesis workers (its child processes) have used. */
async function workerCpuSeconds(server: BuiltServer): Promise<number> {
  const ticks = await Promise.all((await childPids(server.pid)).map((pid) => cpuTicks(pid)));
  return ticks.reduce((sum, value) => sum + value, 0) / CLOCK_TICKS_PER_SECOND;
}

interface Throughput {
  /** Audio seconds per wall second. */
  rate: number;
  /** Audio seconds per second of the workers' CPU: what a shared machine's load leaves alone. */
  perCpuSecond: number;
}

/** CLIENTS clients, each sending REQUESTS_PER_CLIENT requests one after another. */
async function throughput(
  label: string,
  request: (text: string) => Promise<Timing>,
  workerCpu: () => Promise<number>,
): Promise<Throughput> {
  const cpuBefore = await workerCpu();
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
  const cpu = (await workerCpu()) - cpuBefore;
  console.log(
    `  ${label.padEnd(8)} ${rate.toFixed(1)} audio-s/s (${all.length} requests, ` +
      `p50 ${median(totals).toFixed(0)} ms, p99 ${percentile(totals, 99).toFixed(0)} ms; ` +
      `workers ${cpu.toFixed(1)} CPU-s in ${seconds.toFixed(1)} s, ${(audio / cpu).toFixed(2)} audio-s per CPU-s)`,
  );
  return { rate, perCpuSecond: audio / cpu };
}

/** CLIENTS clients at once, even ones Wyoming, odd ones HTTP; each protocol's mean request time. */
async function mixedRun(
  wyoming: (text: string) => Promise<Timing>,
  http: (text: string) => Promise<Timing>,
): Promise<Record<Protocol, number>> {
  const totals: Record<Protocol, number[]> = { Wyoming: [], HTTP: [] };
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      const protocol: Protocol = client % 2 === 0 ? 'Wyoming' : 'HTTP';
      for (let round = 0; round < REQUESTS_PER_CLIENT; round++) {
        const text = `${TEXT} Client ${client}, round ${round}.`;
        const timing = await (protocol === 'Wyoming' ? wyoming(text) : http(text));
        totals[protocol].push(timing.totalMs);
      }
    }),
  );
  const mean = (values: number[]): number =>
    values.reduce((sum, value) => sum + value, 0) / values.length;
  return { Wyoming: mean(totals.Wyoming), HTTP: mean(totals.HTTP) };
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
    const workerCpu = (): Promise<number> => workerCpuSeconds(httpServer);
    const runs = {
      Wyoming: (label = 'Wyoming') =>
        throughput(label, (text) => wyomingSynthesize(wyomingPort, text), workerCpu),
      HTTP: (label = 'HTTP') =>
        throughput(label, (text) => httpSynthesize(httpServer, text), workerCpu),
    };
    // The first burst of 20 concurrent requests on fresh workers is the slowest whichever
    // protocol it is: both are warmed up before anything is timed.
    await runs.Wyoming('(warm-up Wyoming)');
    await runs.HTTP('(warm-up HTTP)');
    const rates: Record<Protocol, Throughput[]> = { Wyoming: [], HTTP: [] };
    for (const protocol of ORDER) rates[protocol].push(await runs[protocol]());
    const mean = (values: number[]): number =>
      values.reduce((sum, value) => sum + value, 0) / values.length;
    const means = (protocol: Protocol, field: keyof Throughput): number =>
      mean(rates[protocol].map((run) => run[field]));
    console.log(
      `   means: Wyoming ${means('Wyoming', 'rate').toFixed(1)}, HTTP ${means('HTTP', 'rate').toFixed(1)} audio-s/s; ` +
        `Wyoming / HTTP ${((means('Wyoming', 'rate') / means('HTTP', 'rate')) * 100).toFixed(1)}% (target within 10%)`,
    );
    console.log(
      `   per worker CPU-second: Wyoming ${means('Wyoming', 'perCpuSecond').toFixed(2)}, ` +
        `HTTP ${means('HTTP', 'perCpuSecond').toFixed(2)} audio-s; Wyoming / HTTP ` +
        `${((means('Wyoming', 'perCpuSecond') / means('HTTP', 'perCpuSecond')) * 100).toFixed(1)}%`,
    );

    // Runs minutes apart see different loads on a shared machine; clients of both
    // protocols at once share the same moments, so their times compare directly.
    const mixed = await mixedRun(
      (text) => wyomingSynthesize(wyomingPort, text),
      (text) => httpSynthesize(httpServer, text),
    );
    console.log(
      `3. mixed, ${CLIENTS / 2} Wyoming and ${CLIENTS / 2} HTTP clients at once × ${REQUESTS_PER_CLIENT} requests: ` +
        `mean request time Wyoming ${mixed.Wyoming.toFixed(0)} ms, HTTP ${mixed.HTTP.toFixed(0)} ms ` +
        `(Wyoming's throughput ${((mixed.HTTP / mixed.Wyoming) * 100).toFixed(1)}% of HTTP's)`,
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
