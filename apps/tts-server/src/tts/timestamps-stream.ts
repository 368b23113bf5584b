/**
 * `"stream": true, "timestamps": true`: Server-Sent Events, per sentence as it is
 * synthesized an `audio` event (the sentence's 16-bit PCM, base64, at the voice's rate)
 * and next to it a `timestamps` event (its words and phonemes, in seconds of the whole
 * stream), then `done` with the duration; a failure after the first event is an
 * `error` event, as the status line is gone by then.
 */
import { Readable } from 'node:stream';
import type { EngineSentence } from '../engine/piper-engine';
import type { RenderJob, RenderPlan } from './render-job';
import { sentenceBodies, type TextOffsets } from './timestamps';

export interface TimestampsStreamOptions {
  job: RenderJob;
  plan: RenderPlan;
  offsets: TextOffsets;
  onFailure: (error: unknown) => void;
}

export function streamTimestamps(
  sentences: AsyncIterable<EngineSentence>,
  { job, offsets, onFailure }: TimestampsStreamOptions,
): Readable {
  const event = (name: string, data: unknown): string =>
    `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  async function* events(): AsyncGenerator<string> {
    let offsetSamples = 0;
    let sampleRate = job.voice.config.sampleRate;
    try {
      for await (const sentence of sentences) {
        sampleRate = sentence.sampleRate;
        const pcm = Buffer.from(
          sentence.pcm.buffer,
          sentence.pcm.byteOffset,
          sentence.pcm.byteLength,
        );
        yield event('audio', {
          index: sentence.index,
          audio: pcm.toString('base64'),
          format: 'pcm',
          sample_rate: sampleRate,
        });
        const [body] = sentenceBodies([sentence], job.voice.config, offsets, offsetSamples);
        yield event('timestamps', { index: sentence.index, ...body });
        offsetSamples += sentence.pcm.length;
      }
      yield event('done', { duration: offsetSamples / sampleRate, sample_rate: sampleRate });
    } catch (error) {
      onFailure(error);
      yield event('error', { message: error instanceof Error ? error.message : String(error) });
    }
  }
  return Readable.from(events());
}
