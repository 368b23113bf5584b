/**
 * npm run bench:ssml — throughput of SSML against the same plain text, on the built
 * server with the generated benchmark voice and the cache off, so every request
 * synthesizes. The SSML document speaks exactly the plain text (sentences in <p>/<s>,
 * one word through <sub>, one through <say-as>, a <mark>), so the difference is the
 * parsing, the segments and the joining. Rounds alternate plain and SSML, each round
 * CONCURRENCY clients posting back to back, so the machine's noise falls on both.
 * Target (issue 18): SSML within 5% of plain text.
 *
 * Requires `npm run build` first. Timings are printed, never asserted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBenchVoice } from '@app/piper';
import { startBuiltServer, type BuiltServer } from '../test/support/processes';
import { postJson } from './support';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const REQUESTS_PER_ROUND = Number(process.env.BENCH_REQUESTS ?? 16);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);

const PLAIN =
  'The quick brown fox jumps over the lazy dog. It was the World Wide Web in 2024. ' +
  'Every sentence here is spoken twice. The last one ends the text.';
const SSML =
  '<speak version="1.1" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="en-US"><p>' +
  '<s>The quick brown fox jumps over the lazy dog.</s> ' +
  '<s>It was the <sub alias="World Wide Web">WWW</sub> in <say-as interpret-as="cardinal">2024</say-as>.</s> ' +
  '<s>Every sentence here is spoken <mark name="m"/>twice.</s> <s>The last one ends the text.</s>' +
  '</p></speak>';

async function round(server: BuiltServer, text: string): Promise<number> {
  let next = 0;
  const started = performance.now();
  const client = async (): Promise<void> => {
    while (next < REQUESTS_PER_ROUND) {
      next++;
      const res = await postJson(`${server.url}/tts`, { text, format: 'pcm' });
      if (res.status !== 200) throw new Error(`status ${res.status}: ${res.bytes.toString()}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  return (REQUESTS_PER_ROUND / (performance.now() - started)) * 1000;
}

async function main(): Promise<void> {
  const modelDir = await mkdtemp(join(tmpdir(), 'bench-ssml-models-'));
  let server: BuiltServer | undefined;
  try {
    await writeBenchVoice(modelDir);
    server = await startBuiltServer(
      {
        MODEL_DIR: modelDir,
        ENABLE_CACHING: 'false',
        MAX_TEXT_LENGTH: '1000',
        RATE_LIMIT_REQUESTS: '100000000',
        TTS_RATE_LIMIT_REQUESTS: '100000000',
      },
      tmpdir(),
    );
    const plainPcm = await postJson(`${server.url}/tts`, { text: PLAIN, format: 'pcm' });
    const ssmlPcm = await postJson(`${server.url}/tts`, { text: SSML, format: 'pcm' });
    console.log(
      `audio: plain ${plainPcm.bytes.length} bytes, SSML ${ssmlPcm.bytes.length} bytes, identical: ${plainPcm.bytes.equals(ssmlPcm.bytes)}`,
    );
    await round(server, PLAIN); // warm-up, not counted
    const plain: number[] = [];
    const ssml: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      plain.push(await round(server, PLAIN));
      ssml.push(await round(server, SSML));
    }
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    console.log(`plain text: ${plain.map((v) => v.toFixed(2)).join(' ')} requests/s`);
    console.log(`SSML:       ${ssml.map((v) => v.toFixed(2)).join(' ')} requests/s`);
    console.log(
      `means: plain ${mean(plain).toFixed(2)}/s, SSML ${mean(ssml).toFixed(2)}/s, SSML/plain ${(
        (mean(ssml) / mean(plain)) *
        100
      ).toFixed(1)}% (target ≥ 95%)`,
    );
  } finally {
    if (server) {
      server.process.kill('SIGTERM');
      await server.exited;
    }
    await rm(modelDir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
