/**
 * A streamed response body: each sentence's samples are encoded and sent as soon as
 * the engine delivers them (WAV starts with a header of unknown size). The encoder is
 * set up while the first sentence is synthesized, and that sentence is awaited before
 * the body is returned, so a busy pool, an unknown speaker or a timeout on it still
 * gets a proper error status. A stream that completes is handed over whole (for the
 * cache); one the client left is not.
 */
import { PassThrough, type Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import { createAudioEncoder, type AudioEncoder, type AudioFormat } from '@app/audio-formats';
import { wavHeader } from '@app/piper';
import type { CachedAudio } from '../cache/audio-cache.service';

/**
 * Compressed formats get each sentence in slices this long, with a turn of the event
 * loop between them, so the first bytes leave after a slice is encoded, not the whole
 * sentence (a 4 s sentence costs 15 to 20 ms of MP3 or Opus encoding).
 */
const ENCODE_SLICE_SECONDS = 0.25;

export interface AudioStreamOptions {
  format: AudioFormat;
  /** The rate of the samples the sentences carry. */
  sampleRate: number;
  /** Resample to this rate (wav and pcm); unset: `sampleRate`. */
  outputSampleRate?: number;
  /** The client went away: encoding stops and `onComplete` is not called. */
  clientGone?: AbortSignal;
  /** The whole audio, once the body has been written to its end. */
  onComplete(audio: CachedAudio): Promise<unknown>;
  /** A failure after the body was returned; the body is cut (destroyed) with it. */
  onFailure(error: unknown): void;
}

/** The body and Content-Type of `sentences` encoded as they come. */
export async function streamAudio(
  sentences: AsyncIterable<{ pcm: Int16Array }>,
  options: AudioStreamOptions,
): Promise<{ body: Readable; contentType: string }> {
  const { format, sampleRate, outputSampleRate, clientGone } = options;
  const iterator = sentences[Symbol.asyncIterator]();
  // Object mode keeps each encoder output a chunk of its own (one SSE event each)
  // instead of merging what a slow reader has not taken yet.
  const body = new PassThrough({ objectMode: true });
  const sent: Buffer[] = [];
  const encoderReady = createAudioEncoder(
    format,
    { sampleRate, outputSampleRate, streaming: true },
    (bytes) => {
      const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      sent.push(chunk);
      body.write(chunk);
    },
  );
  let first: IteratorResult<{ pcm: Int16Array }>;
  try {
    first = await iterator.next();
  } catch (error) {
    void encoderReady.then((encoder) => encoder.close()).catch(() => undefined);
    throw error;
  }
  let encoder: AudioEncoder;
  try {
    encoder = await encoderReady;
  } catch (error) {
    await iterator.return?.(undefined);
    throw error;
  }
  // With an error, Nest cuts the connection so a truncated file never looks complete.
  const stop = (error?: Error): void => {
    encoder.close();
    body.destroy(error);
  };
  clientGone?.addEventListener('abort', () => stop(), { once: true });

  const pump = async (): Promise<void> => {
    let durationSamples = 0;
    for (let next = first; !next.done; next = await iterator.next()) {
      durationSamples += next.value.pcm.length;
      await writeInSlices(encoder, next.value.pcm, sampleRate);
    }
    if (clientGone?.aborted) return;
    await encoder.end();
    body.end();
    await options.onComplete({
      body: format === 'wav' ? withExactWavSizes(sent, encoder.sampleRate) : Buffer.concat(sent),
      contentType: encoder.contentType,
      sampleRate: encoder.sampleRate,
      durationSeconds: durationSamples / sampleRate,
    });
  };
  pump().catch((error: unknown) => {
    // Headers are sent: the only way left to tell the client is to cut the stream.
    if (clientGone?.aborted) return stop();
    options.onFailure(error);
    stop(error instanceof Error ? error : new Error(String(error)));
  });
  return { body, contentType: encoder.contentType };
}

async function writeInSlices(
  encoder: AudioEncoder,
  pcm: Int16Array,
  sampleRate: number,
): Promise<void> {
  if (encoder.format === 'wav' || encoder.format === 'pcm') return encoder.write(pcm);
  const slice = Math.round(sampleRate * ENCODE_SLICE_SECONDS);
  for (let offset = 0; offset < pcm.length; offset += slice) {
    await encoder.write(pcm.subarray(offset, offset + slice));
    await setImmediate();
  }
}

/** A streamed WAV as a file: the header's unknown sizes replaced by the real ones. */
function withExactWavSizes(sent: Buffer[], sampleRate: number): Buffer {
  const file = Buffer.concat(sent);
  const header = wavHeader({ sampleRate }, file.length - 44);
  header.copy(file, 0);
  return file;
}
