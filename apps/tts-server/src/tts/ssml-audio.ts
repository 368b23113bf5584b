/**
 * An SSML document's audio: each speech segment (@app/ssml) is one engine request with
 * its own voice, speaker, length_scale and volume, through the same PiperEngine as
 * plain text; pauses are exact runs of zero samples at the first voice's rate, and a
 * voice of another rate is resampled to it, so the document is one audio at one rate.
 * The parts run one after another, each sentence handed on as it comes, so a stream
 * speaks SSML sentence by sentence as it speaks text.
 */
import { PcmResampler } from '@app/audio-formats';
import { SYNTHESIS_LIMITS } from '@app/piper';
import { speechText, type SsmlDocument, type SsmlVoiceChoice } from '@app/ssml';
import type {
  EngineSynthesisOptions,
  EngineSynthesisRequest,
  PiperEngine,
} from '../engine/piper-engine';
import type { VoiceEntry } from '../models/voice-registry.service';
import { planRender, type RenderJob } from './render-job';

/** A voice and speaker, as a `<voice>` resolves. */
export interface SsmlTarget {
  voice: VoiceEntry;
  speakerId: number;
}

export type SsmlPart =
  | { kind: 'speech'; request: EngineSynthesisRequest; sampleRate: number }
  | { kind: 'silence'; samples: number };

/**
 * The document as engine requests and silences. `resolve` turns a `<voice>` into a
 * voice and speaker (VoiceNotFoundError, SpeakerNotFoundError). Rates and volumes go
 * on top of the request's own (or the voice's defaults); the sentence silence follows
 * only segments that end a sentence.
 */
export function planSsmlParts(
  document: SsmlDocument,
  job: RenderJob,
  resolve: (choice: SsmlVoiceChoice) => SsmlTarget,
): SsmlPart[] {
  const sampleRate = job.voice.config.sampleRate;
  const parts: SsmlPart[] = [];
  for (const segment of document.segments) {
    if (segment.type === 'break') {
      // Python's int(), as Piper's sentence silence: 0.5 s at 22050 Hz is 11025 samples.
      const samples = Math.trunc(segment.seconds * sampleRate);
      const last = parts.at(-1);
      if (last?.kind === 'silence') last.samples += samples;
      else parts.push({ kind: 'silence', samples });
      continue;
    }
    const target = segment.voice ? resolve(segment.voice) : job;
    const { voice } = target;
    const lengthScale =
      (job.lengthScale ?? voice.config.inference.lengthScale) * segment.lengthScaleFactor;
    const volume = Math.min((job.volume ?? 1) * segment.volumeFactor, SYNTHESIS_LIMITS.volume.max);
    const text = speechText(segment, voice.config.espeakVoice);
    const { request } = planRender(
      {
        ...job,
        voice,
        speakerId: target.speakerId,
        lengthScale,
        volume,
        sentenceSilenceSeconds: segment.endsSentence ? job.sentenceSilenceSeconds : 0,
      },
      text,
    );
    parts.push({ kind: 'speech', request, sampleRate: voice.config.sampleRate });
  }
  return parts;
}

/**
 * The parts' audio sentence by sentence at `sampleRate`; `firstOptions` apply to the
 * first speech part only (streaming's clause split of a long first sentence).
 */
export async function* ssmlSentences(
  parts: readonly SsmlPart[],
  engine: PiperEngine,
  sampleRate: number,
  signal?: AbortSignal,
  firstOptions: Partial<EngineSynthesisOptions> = {},
): AsyncGenerator<{ pcm: Int16Array }> {
  let first = true;
  for (const part of parts) {
    if (signal?.aborted) return;
    if (part.kind === 'silence') {
      yield { pcm: new Int16Array(part.samples) };
      continue;
    }
    const request = first
      ? { ...part.request, options: { ...part.request.options, ...firstOptions } }
      : part.request;
    first = false;
    const resampler =
      part.sampleRate === sampleRate
        ? undefined
        : await PcmResampler.create(part.sampleRate, sampleRate);
    for await (const sentence of engine.synthesize(request, signal)) {
      yield { pcm: resampler ? resampler.resample(sentence.pcm) : sentence.pcm };
    }
  }
}
