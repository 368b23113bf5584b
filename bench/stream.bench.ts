/**
 * npm run bench:stream — streaming and encoding, on the generated benchmark voice:
 *
 * 1. time to first byte of a streamed POST /tts of ten sentences, against the same
 *    server answering the first sentence alone, not streamed (target ≤ 1.2×), for
 *    every format;
 * 2. total time of the streamed request against the same text not streamed (target
 *    ≤ 1.05×);
 * 3. encoder cost: seconds of speech encoded per second, each format, fed sentence by
 *    sentence as the server feeds it (target: mp3 and opus ≥ 50× real time on one core).
 *
 * Requires `npm run build` first. Timings are printed, never asserted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIO_FORMATS, createAudioEncoder, type AudioFormat } from '@app/audio-formats';
import { PiperVoice, writeBenchVoice } from '@app/piper';
import { startBuiltServer, type BuiltServer } from '../test/support/processes';
import { median } from './support';

const SENTENCES = [
  'The old lighthouse stood alone at the edge of the cliff.',
  'Every night its lamp turned slowly over the dark water.',
  'Sailors far away could see the light and find their way home.',
  'One winter the keeper grew too old to climb the stairs.',
  'His granddaughter came to help him with the heavy work.',
  'She carried oil up the narrow steps every evening.',
  'Storms came often, and the wind shook the windows.',
  'Still, the lamp never went out while she was there.',
  'In spring the ships returned with gifts for the family.',
  'The lighthouse still stands, and the light still turns.',
];
const TEXT = SENTENCES.join(' ');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const CORES = availableParallelism();

async function post(
  server: BuiltServer,
  body: Record<string, unknown>,
): Promise<{ firstByteMs: number; totalMs: number; bytes: number }> {
  const started = performance.now();
  const res = await fetch(`${server.url}/tts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200 || !res.body) throw new Error(`POST /tts answered ${res.status}`);
  let firstByteMs = Number.NaN;
  let bytes = 0;
  for await (const chunk of res.body) {
    if (bytes === 0) firstByteMs = performance.now() - started;
    bytes += (chunk as Uint8Array).length;
  }
  return { firstByteMs, totalMs: performance.now() - started, bytes };
}

async function serverTimings(modelDir: string): Promise<void> {
  const server = await startBuiltServer(
    {
      RATE_LIMIT_REQUESTS: '100000000',
      TTS_RATE_LIMIT_REQUESTS: '100000000',
      MODEL_DIR: modelDir,
      WORKERS: '1',
      WORKER_THREADS: String(CORES),
      ENABLE_CACHING: 'false',
      MAX_TEXT_LENGTH: '5000',
    },
    tmpdir(),
  );
  try {
    console.log(
      `\nserver: 1 worker × ${CORES} threads, cache off, ${SENTENCES.length} sentences (${TEXT.length} characters), median of ${ROUNDS} rounds`,
    );
    // Warm every path up once.
    for (const format of AUDIO_FORMATS) await post(server, { text: TEXT, stream: true, format });
    const firstAlone: number[] = [];
    const whole: number[] = [];
    const streamedTotal: number[] = [];
    const ttfb = new Map<AudioFormat, number[]>(AUDIO_FORMATS.map((format) => [format, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // Side by side in each round, so machine noise hits all of them alike.
      firstAlone.push((await post(server, { text: SENTENCES[0] })).totalMs);
      whole.push((await post(server, { text: TEXT })).totalMs);
      for (const format of AUDIO_FORMATS) {
        const streamed = await post(server, { text: TEXT, stream: true, format });
        ttfb.get(format)?.push(streamed.firstByteMs);
        if (format === 'wav') streamedTotal.push(streamed.totalMs);
      }
    }
    const alone = median(firstAlone);
    console.log(`first sentence alone, not streamed: ${alone.toFixed(0)} ms`);
    for (const format of AUDIO_FORMATS) {
      const first = median(ttfb.get(format) ?? []);
      console.log(
        `  streamed ${format.padEnd(4)} time to first byte: ${first.toFixed(0)} ms, ratio ${(first / alone).toFixed(2)} (target ≤ 1.2)`,
      );
    }
    const total = median(streamedTotal);
    const notStreamed = median(whole);
    console.log(
      `total: streamed wav ${total.toFixed(0)} ms, not streamed ${notStreamed.toFixed(0)} ms, ratio ${(total / notStreamed).toFixed(3)} (target ≤ 1.05)`,
    );
  } finally {
    server.process.kill('SIGTERM');
    await server.exited;
  }
}

async function encoderCost(modelPath: string): Promise<void> {
  const voice = await PiperVoice.load(modelPath, { intraOpThreads: CORES });
  const sentences: Int16Array[] = [];
  let sampleRate = 0;
  try {
    for await (const chunk of voice.synthesize(TEXT)) {
      sentences.push(chunk.pcm);
      sampleRate = chunk.sampleRate;
    }
  } finally {
    await voice.release();
  }
  const seconds = sentences.reduce((sum, pcm) => sum + pcm.length, 0) / sampleRate;
  console.log(
    `\nencoders: ${seconds.toFixed(1)} s of speech at ${sampleRate} Hz, fed sentence by sentence, streaming; median of ${ROUNDS} after one warm-up`,
  );
  for (const format of AUDIO_FORMATS) {
    const elapsed: number[] = [];
    for (let round = 0; round <= ROUNDS; round++) {
      let bytes = 0;
      const started = performance.now();
      const encoder = await createAudioEncoder(
        format,
        { sampleRate, streaming: true },
        (data) => (bytes += data.length),
      );
      for (const pcm of sentences) await encoder.write(pcm);
      await encoder.end();
      if (round > 0) elapsed.push(performance.now() - started);
      if (bytes === 0) throw new Error(`${format} produced nothing`);
    }
    const ms = median(elapsed);
    const target = format === 'mp3' || format === 'opus' ? ' (target ≥ 50×)' : '';
    const where = format === 'aac' ? ' (its own worker thread, start included)' : '';
    console.log(
      `  ${format.padEnd(4)} ${(ms / seconds).toFixed(2)} ms per audio-second = ${(seconds / (ms / 1000)).toFixed(0)}× real time${where}${target}`,
    );
  }
}

async function main(): Promise<void> {
  const modelDir = await mkdtemp(join(tmpdir(), 'bench-stream-'));
  try {
    const { modelPath } = await writeBenchVoice(modelDir);
    console.log(`bench:stream on ${CORES} cores, generated benchmark voice`);
    await encoderCost(modelPath);
    await serverTimings(modelDir);
  } finally {
    await rm(modelDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
