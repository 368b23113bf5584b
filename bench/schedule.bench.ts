/**
 * npm run bench:schedule — sentence scheduling in the built server, on the generated
 * benchmark voice (the compute of a published medium voice), all on this machine:
 *
 * 1. parallel sentences: a 4-sentence text on an idle server with default settings
 *    against a bare onnxruntime session synthesizing the same four sentences' ids one
 *    after another with every core (target ≤ 0.77×); beside them, the floor of the
 *    server's split (one bare one-thread session per core, in processes of their own)
 *    and one of those processes alone, which tells what running side by side costs;
 * 2. fairness: one 50-sentence request with one-sentence requests arriving every
 *    500 ms; p50/p99 latency of the short ones against the same short request on an
 *    idle server (target p50 ≤ 2×), with default settings and then, side by side,
 *    without preemption (SENTENCE_PREEMPTION=false);
 * 3. throughput: audio-seconds synthesized per second with 8 concurrent clients, with
 *    default settings against the best worker × thread split of a sweep (target ≥ 90%).
 *
 * Requires `npm run build` first. BENCH_PARTS=1,2 runs only those parts. Timings are
 * printed, never asserted; on a shared machine run it when the load is low, and more
 * than once.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PiperVoice, writeBenchVoice } from '@app/piper';
import { startBuiltServer, type BuiltServer } from '../test/support/processes';
import { median, percentile, postJson } from './support';

const CORES = availableParallelism();
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const LONG_SENTENCES = 50;
const SHORT_EVERY_MS = 500;
const THROUGHPUT_REQUESTS = Number(process.env.BENCH_THROUGHPUT_REQUESTS ?? 32);
const CLIENTS = 8;
/** Pause between two timed runs of part 1. */
const SETTLE_MS = 200;
/** Which parts to run, e.g. BENCH_PARTS=1,2 (default all three). */
const PARTS = new Set((process.env.BENCH_PARTS ?? '1,2,3').split(','));

const FOUR_SENTENCES =
  'The brown fox jumps over the lazy dog. A quiet river runs past the old mill. ' +
  'Bring your coat, it may rain tonight. We will meet again in the morning.';
/** One sentence, numbered so that no two requests are alike. */
function short(label: string): string {
  return `The brown fox number ${label} jumps over the lazy dog.`;
}

/** Server settings every run shares: no cache (every request is synthesized), no rate limit. */
function serverEnv(modelDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MODEL_DIR: modelDir,
    ENABLE_CACHING: 'false',
    RATE_LIMIT_REQUESTS: '100000000',
    TTS_RATE_LIMIT_REQUESTS: '100000000',
    MAX_TEXT_LENGTH: '10000',
    MAX_QUEUE: '1000',
    // A long request shares the workers with every other one; on a machine shared
    // with other work the fairness run must not end in a 504.
    SYNTH_TIMEOUT_MS: '600000',
    ...extra,
  };
}

async function stop(server: BuiltServer): Promise<void> {
  server.process.kill('SIGTERM');
  await server.exited;
}

async function timePost(url: string, text: string): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  const res = await postJson(`${url}/tts`, { text });
  if (res.status !== 200) throw new Error(`POST /tts answered ${res.status}`);
  return { ms: performance.now() - started, bytes: res.bytes.length };
}

/** The four sentences' network inputs, as the server feeds them (the voice's own scales). */
async function fourSentenceFeeds(modelPath: string): Promise<ort.InferenceSession.FeedsType[]> {
  const voice = await PiperVoice.load(modelPath, { intraOpThreads: 1 });
  try {
    const { noiseScale, lengthScale, noiseW } = voice.config.inference;
    return voice.phonemize(FOUR_SENTENCES).map((phonemes) => {
      const ids = voice.phonemesToIds(phonemes);
      return {
        input: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
        input_lengths: new ort.Tensor('int64', BigInt64Array.of(BigInt(ids.length)), [1]),
        scales: new ort.Tensor('float32', Float32Array.of(noiseScale, lengthScale, noiseW), [3]),
      };
    });
  } finally {
    await voice.release();
  }
}

function bareSession(modelPath: string, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
}

/**
 * A process of the floor in part 1: one bare one-thread session that runs the sentence
 * whose index it is sent and answers when done.
 */
async function oneThreadChild(modelPath: string): Promise<void> {
  const feeds = await fourSentenceFeeds(modelPath);
  const session = await bareSession(modelPath, 1);
  for (const feed of feeds) await session.run(feed);
  process.on('message', (index: number) => {
    void session.run(feeds[index]).then(() => process.send?.(index));
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.('ready');
}

/**
 * 1. A 4-sentence text: the server (sentences in parallel) against a bare session with
 * every core, sentences in turn; and, side by side, the floor of the server's split:
 * one bare one-thread session per core in processes of their own, each taking the
 * next sentence when it is done, with no server around them.
 */
async function parallelSentences(server: BuiltServer, modelPath: string): Promise<void> {
  const feeds = await fourSentenceFeeds(modelPath);
  const bare = await bareSession(modelPath, CORES);
  const children = Array.from({ length: CORES }, () =>
    fork(__filename, ['one-thread-child', modelPath], {
      execArgv: process.execArgv,
      serialization: 'advanced',
    }),
  );
  await Promise.all(children.map((child) => once(child, 'message')));
  const timeBare = async (): Promise<number> => {
    const started = performance.now();
    for (const feed of feeds) await bare.run(feed);
    return performance.now() - started;
  };
  // The sentences in turn over these processes, each taking the next when it is done.
  const timeProcesses = async (processes: ChildProcess[]): Promise<number> => {
    const started = performance.now();
    let next = 0;
    await Promise.all(
      processes.map(async (child) => {
        while (next < feeds.length) {
          child.send(next++);
          await once(child, 'message');
        }
      }),
    );
    return performance.now() - started;
  };
  const timeFloor = (): Promise<number> => timeProcesses(children);
  // One of those processes alone: half of it is what the split would take if two
  // one-thread sessions side by side ran as fast as one alone.
  const timeAlone = (): Promise<number> => timeProcesses(children.slice(0, 1));
  const timeServer = async (): Promise<number> => (await timePost(server.url, FOUR_SENTENCES)).ms;
  const timed: [number[], () => Promise<number>][] = [
    [[], timeServer],
    [[], timeBare],
    [[], timeFloor],
    [[], timeAlone],
  ];
  // Each is timed on an otherwise idle machine: onnxruntime's threads keep spinning for
  // a moment after a run (about 30 ms of CPU here), which would tax whichever comes next.
  const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  try {
    for (let round = 0; round < ROUNDS + 2; round++) {
      // The order turns each round; the first two rounds warm everything up.
      for (let i = 0; i < timed.length; i++) {
        const [times, time] = timed[(round + i) % timed.length];
        const ms = await time();
        if (round >= 2) times.push(ms);
        await settle();
      }
    }
  } finally {
    await bare.release();
    for (const child of children) child.disconnect();
  }
  const [serverMs, bareMs, floorMs, aloneMs] = timed.map(([times]) => median(times));
  const idealMs = aloneMs / CORES;
  console.log(
    `1. ${feeds.length}-sentence text, idle server (defaults) ${serverMs.toFixed(0)} ms, ` +
      `bare session ${CORES} thread(s), sentences in turn ${bareMs.toFixed(0)} ms: ` +
      `${(serverMs / bareMs).toFixed(2)}× (target ≤ 0.77)\n` +
      `   floor of the split, ${CORES} bare one-thread processes side by side ` +
      `${floorMs.toFixed(0)} ms: ${(floorMs / bareMs).toFixed(2)}×; one of them alone, ` +
      `sentences in turn ${aloneMs.toFixed(0)} ms (${CORES} threads are ` +
      `${(aloneMs / bareMs).toFixed(2)}× faster than one), so a split without contention ` +
      `would take ${idealMs.toFixed(0)} ms: ${(idealMs / bareMs).toFixed(2)}×; ` +
      `side by side each process runs ${((100 * (floorMs - idealMs)) / idealMs).toFixed(0)}% slower`,
  );
}

/** 2. Short requests every 500 ms while a 50-sentence request runs. */
async function fairness(server: BuiltServer, label: string): Promise<void> {
  const idle: number[] = [];
  for (let round = 0; round < ROUNDS + 1; round++) {
    const { ms } = await timePost(server.url, short(`${round}`));
    if (round > 0) idle.push(ms);
  }
  const longText = Array.from(
    { length: LONG_SENTENCES },
    (_, i) => `This is sentence number ${i + 1} of a rather long text.`,
  ).join(' ');
  const busy: number[] = [];
  // Kept, not left unhandled: the server must still be stopped when one fails.
  const failures: unknown[] = [];
  let longMs = 0;
  for (let repeat = 0; repeat < 2; repeat++) {
    let longDone = false;
    const long = timePost(server.url, longText)
      .then(
        (result) => void (longMs = result.ms),
        (error: unknown) => void failures.push(error),
      )
      .finally(() => (longDone = true));
    const shorts: Promise<void>[] = [];
    for (let n = 0; !longDone; n++) {
      await new Promise((resolve) => setTimeout(resolve, SHORT_EVERY_MS));
      if (longDone) break;
      shorts.push(
        timePost(server.url, short(`${repeat} ${n}`)).then(
          (result) => void busy.push(result.ms),
          (error: unknown) => void failures.push(error),
        ),
      );
    }
    await Promise.all(shorts);
    await long;
    if (failures.length > 0) throw failures[0];
  }
  const idleMs = median(idle);
  const p50 = percentile(busy, 50);
  const p99 = percentile(busy, 99);
  console.log(
    `2. ${label}: one-sentence requests every ${SHORT_EVERY_MS} ms behind a ${LONG_SENTENCES}-sentence one ` +
      `(${busy.length} samples, the long one took ${longMs.toFixed(0)} ms): ` +
      `p50 ${p50.toFixed(0)} ms (${(p50 / idleMs).toFixed(2)}× idle, target ≤ 2), ` +
      `p99 ${p99.toFixed(0)} ms (${(p99 / idleMs).toFixed(2)}×); idle median ${idleMs.toFixed(0)} ms`,
  );
}

/** 3. Audio-seconds per second under 8 concurrent clients of 2-sentence texts. */
async function throughput(
  modelDir: string,
  label: string,
  split: Record<string, string>,
): Promise<number> {
  const server = await startBuiltServer(serverEnv(modelDir, split), tmpdir());
  let audioSeconds = 0;
  let next = 0;
  const latencies: number[] = [];
  // One request per client first, so that every worker has run the network once.
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => timePost(server.url, `Warm ${i}.`)));
  const started = performance.now();
  try {
    const client = async (): Promise<void> => {
      while (next < THROUGHPUT_REQUESTS) {
        const n = next++;
        const { ms, bytes } = await timePost(
          server.url,
          `${short(`${n}`)} This is a second sentence.`,
        );
        latencies.push(ms);
        audioSeconds += (bytes - 44) / 2 / 22050;
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
  } finally {
    await stop(server);
  }
  const rate = audioSeconds / ((performance.now() - started) / 1000);
  console.log(
    `   ${label}: ${rate.toFixed(1)} audio-s/s ` +
      `(p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms)`,
  );
  return rate;
}

async function main(): Promise<void> {
  const modelDir = await mkdtemp(join(tmpdir(), 'bench-schedule-'));
  try {
    const { modelPath } = await writeBenchVoice(modelDir);
    console.log(`bench:schedule on ${CORES} cores, generated benchmark voice, ${ROUNDS} rounds`);
    const server = await startBuiltServer(serverEnv(modelDir), tmpdir());
    try {
      if (PARTS.has('1')) await parallelSentences(server, modelPath);
      if (PARTS.has('2')) await fairness(server, 'defaults');
    } finally {
      await stop(server);
    }
    if (PARTS.has('2')) {
      // The same run without preemption, side by side: what it buys the short requests
      // and what it costs the long one.
      const unpreempted = await startBuiltServer(
        serverEnv(modelDir, { SENTENCE_PREEMPTION: 'false' }),
        tmpdir(),
      );
      try {
        await fairness(unpreempted, 'SENTENCE_PREEMPTION=false');
      } finally {
        await stop(unpreempted);
      }
    }
    if (!PARTS.has('3')) return;

    console.log(`3. throughput, ${CLIENTS} concurrent clients, ${THROUGHPUT_REQUESTS} requests:`);
    // Defaults are timed before and after the sweep, and the mean counts: the machine's
    // speed drifts over the minutes a sweep takes.
    const defaultsLabel = 'defaults (WORKERS=cores, WORKER_THREADS=0)';
    const defaultsBefore = await throughput(modelDir, defaultsLabel, {});
    let best = { label: '', rate: 0 };
    for (let workers = 1; workers <= CORES; workers++) {
      for (let threads = 1; threads <= CORES; threads++) {
        const label = `${workers} worker(s) × ${threads} thread(s)`;
        const rate = await throughput(modelDir, label, {
          WORKERS: String(workers),
          WORKER_THREADS: String(threads),
        });
        if (rate > best.rate) best = { label, rate };
      }
    }
    const defaults = (defaultsBefore + (await throughput(modelDir, defaultsLabel, {}))) / 2;
    console.log(
      `   defaults (mean of both runs) / best (${best.label}): ` +
        `${((100 * defaults) / best.rate).toFixed(0)}% (target ≥ 90%)`,
    );
  } finally {
    await rm(modelDir, { recursive: true, force: true });
  }
}

const run = process.argv[2] === 'one-thread-child' ? oneThreadChild(process.argv[3]) : main();
run.catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
