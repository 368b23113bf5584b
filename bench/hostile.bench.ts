/**
 * npm run bench:hostile — what hostile bodies cost everyone else (issue 19): the
 * latency of GET /health/live, one probe at a time, on the built server
 *
 * 1. idle;
 * 2. while 16 connections post, back to back, `{}` (refused 400: the floor of any
 *    flood of requests on one event loop), then bodies of as many unknown keys as the
 *    JSON limit lets through (refused 400 BODY_TOO_COMPLEX);
 * 3. while 16 connections post the 939 KB body of 95,000 unknown keys that blocked the
 *    event loop for 7 s before (refused 413 from its Content-Length);
 * 4. while 300 connections sit idle or trickle a body they never finish.
 *
 * Target: every probe within 50 ms. Requires `npm run build` first. Timings are
 * printed, never asserted.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTestVoice } from '@app/piper';
import { startBuiltServer } from '../test/support/processes';
import { percentile } from './support';

const PROBES = Number(process.env.BENCH_PROBES ?? 200);
const FLOODERS = 16;
const IDLE_CONNECTIONS = 300;

function unknownKeys(count: number): string {
  const keys = Array.from({ length: count }, (_, index) => `"k${index}":0`);
  return `{"text":"hello",${keys.join(',')}}`;
}

async function probeLatencies(url: string): Promise<number[]> {
  const latencies: number[] = [];
  for (let index = 0; index < PROBES; index++) {
    const start = performance.now();
    const response = await fetch(`${url}/health/live`);
    await response.arrayBuffer();
    latencies.push(performance.now() - start);
  }
  return latencies;
}

/** Posts `body` on `connections` loops until `stop` resolves; the statuses seen. */
async function flood(url: string, body: string, stop: Promise<void>): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let stopped = false;
  void stop.then(() => (stopped = true));
  await Promise.all(
    Array.from({ length: FLOODERS }, async () => {
      while (!stopped) {
        const response = await fetch(`${url}/tts`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body,
        }).catch(() => undefined);
        await response?.arrayBuffer().catch(() => undefined);
        if (response) statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}

function report(label: string, latencies: number[], extra = ''): void {
  const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;
  console.log(
    `${label.padEnd(44)} p50 ${fmt(percentile(latencies, 50))}  p99 ${fmt(percentile(latencies, 99))}  max ${fmt(Math.max(...latencies))}${extra}`,
  );
}

async function main(): Promise<void> {
  const modelDir = await mkdtemp(join(tmpdir(), 'bench-hostile-'));
  await writeTestVoice(modelDir, { name: 'test-voice' });
  const server = await startBuiltServer(
    {
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'test-voice',
      WORKERS: '1',
      AUTO_DOWNLOAD: 'false',
      RATE_LIMIT_REQUESTS: '100000000',
    },
    modelDir,
  );
  try {
    console.log(`probe latency, ${PROBES} probes one at a time, GET /health/live`);
    report('idle', await probeLatencies(server.url));
    for (const [label, body] of [
      // The floor: the same flood of the smallest request refused 400.
      ['16 posting {} (2 bytes, 400)', '{}'],
      ['16 posting 5,000-key bodies (45 KB, 400)', unknownKeys(5000)],
      ['16 posting 95,000-key bodies (939 KB, 413)', unknownKeys(95_000)],
    ] as const) {
      // The flood runs in a process of its own: 16 fetch loops in the probe's process
      // would delay the probe on its own event loop, which is not the server's doing.
      const flooder = fork(__filename, ['flood', server.url], {
        execArgv: process.execArgv,
        serialization: 'advanced',
      });
      flooder.send(body);
      await once(flooder, 'message');
      const latencies = await probeLatencies(server.url);
      flooder.send('stop');
      const [statuses] = (await once(flooder, 'message')) as [Map<number, number>];
      await once(flooder, 'exit');
      const answered = [...statuses].map(([status, count]) => `${count}×${status}`).join(', ');
      report(label, latencies, `  (flood answered ${answered})`);
    }
    const port = Number(new URL(server.url).port);
    const sockets: Socket[] = [];
    for (let index = 0; index < IDLE_CONNECTIONS; index++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      if (index % 2 === 0)
        socket.write('POST /tts HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{');
      sockets.push(socket);
    }
    report(`${IDLE_CONNECTIONS} idle or trickling connections`, await probeLatencies(server.url));
    for (const socket of sockets) socket.destroy();
  } finally {
    server.process.kill('SIGTERM');
    await server.exited;
    await rm(modelDir, { recursive: true, force: true });
  }
}

/** The flooding child: floods the URL with the first message's body until told to stop. */
function floodChild(url: string): void {
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  process.once('message', (body: string) => {
    const flooding = flood(url, body, stopped);
    process.send?.('started');
    process.once('message', () => stop());
    void flooding.then((statuses) => process.send?.(statuses, () => process.disconnect()));
  });
}

if (process.argv[2] === 'flood') {
  floodChild(process.argv[3]);
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
