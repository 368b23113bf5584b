/**
 * `"stream": true, "timestamps": true`: Server-Sent Events, per sentence as it is
 * synthesized an `audio` event (the sentence's 16-bit PCM, base64, at the voice's rate)
 * and next to it a `timestamps` event (its words and phonemes, in seconds of the whole
 * stream; for SSML also the marks it reaches, the last ones in a `timestamps` event of
 * their own), then `done` with the duration; a failure after the first event is an
 * `error` event, as the status line is gone by then.
 */
import { Readable } from 'node:stream';
import type { EngineSentence } from '../engine/piper-engine';
import type { RenderJob, RenderPlan } from './render-job';
import { sentenceBodies, type TextOffsets, type TimestampsBody } from './timestamps';

export interface TimestampsStreamOptions {
  job: RenderJob;
  plan: RenderPlan;
  offsets: TextOffsets;
  onFailure: (error: unknown) => void;
}

/** A stretch of audio with its timings in seconds of the whole stream. */
export interface TimedAudio {
  index: number;
  /** Empty: a `timestamps` event alone (marks after the last audio). */
  pcm: Int16Array;
  sampleRate: number;
  body: TimestampsBody & { marks?: Array<{ name: string; time: number }> };
}

/** A plain text's sentences as the engine delivers them. */
export function streamTimestamps(
  sentences: AsyncIterable<EngineSentence>,
  { job, offsets, onFailure }: TimestampsStreamOptions,
): Readable {
  async function* timed(): AsyncGenerator<TimedAudio> {
    let offsetSamples = 0;
    for await (const sentence of sentences) {
      const [body] = sentenceBodies([sentence], job.voice.config, offsets, offsetSamples);
      yield { index: sentence.index, pcm: sentence.pcm, sampleRate: sentence.sampleRate, body };
      offsetSamples += sentence.pcm.length;
    }
  }
  return streamTimedAudio(timed(), job.voice.config.sampleRate, onFailure);
}

/** Timed audio as the event stream; `sampleRate` names the rate when no audio comes. */
export function streamTimedAudio(
  chunks: AsyncIterable<TimedAudio>,
  sampleRate: number,
  onFailure: (error: unknown) => void,
): Readable {
  const event = (name: string, data: unknown): string =>
    `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  async function* events(): AsyncGenerator<string> {
    let samples = 0;
    let rate = sampleRate;
    try {
      for await (const { index, pcm, sampleRate: chunkRate, body } of chunks) {
        rate = chunkRate;
        if (pcm.length > 0) {
          const bytes = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
          yield event('audio', {
            index,
            audio: bytes.toString('base64'),
            format: 'pcm',
            sample_rate: rate,
          });
        }
        yield event('timestamps', { index, ...body });
        samples += pcm.length;
      }
      yield event('done', { duration: samples / rate, sample_rate: rate });
    } catch (error) {
      onFailure(error);
      yield event('error', { message: error instanceof Error ? error.message : String(error) });
    }
  }
  return Readable.from(events());
}
