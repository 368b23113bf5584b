/**
 * What a synthesis request becomes before anything runs: the job (voice and speaker
 * resolved, parameters as asked), then its plan: the engine's options with the voice's
 * defaults filled in, the output rate, the cache key and the file name. Pure: the same
 * job always gives the same plan, which is what makes the cache key trustworthy.
 */
import { fileExtensionOf, type AudioFormat } from '@app/audio-formats';
import { looksLikeSsml } from '@app/ssml';
import { AudioCacheService } from '../cache/audio-cache.service';
import type {
  DrainHold,
  EngineSynthesisOptions,
  EngineSynthesisRequest,
} from '../engine/piper-engine';
import { voicePaths, type VoiceEntry } from '../models/voice-registry.service';
import type { SynthesizeDto } from './dto/synthesize.dto';
import { CAPTION_FORMATS, type CaptionFormat } from './timestamps';

/** A request resolved to a voice and speaker; unset parameters take the voice's defaults. */
export interface RenderJob {
  text: string;
  voice: VoiceEntry;
  speakerId: number;
  lengthScale?: number;
  noiseScale?: number;
  noiseW?: number;
  sentenceSilenceSeconds?: number;
  volume?: number;
  format: AudioFormat;
  /** Resample wav or pcm to this rate; unset: the voice's own rate. */
  outputSampleRate?: number;
  stream: boolean;
  /** `inline` lets a browser play a link; default `attachment` (a download). */
  disposition?: 'attachment' | 'inline';
  /** What is answered: the audio (default), the audio with timestamps (JSON), or captions. */
  output?: RenderOutput;
  /** The text is SSML; `strict`: unsupported elements are refused rather than spoken. */
  ssml?: { strict: boolean };
  /** Accepted before shutdown began (a Wyoming stream): its engine requests finish the drain. */
  drainHold?: DrainHold;
}

export type RenderOutput = 'audio' | 'timestamps' | CaptionFormat;

/** Media type and file extension of each output that is not audio. */
const OUTPUT_FILES: Record<Exclude<RenderOutput, 'audio'>, { type: string; extension: string }> = {
  timestamps: { type: 'application/json; charset=utf-8', extension: 'json' },
  vtt: { type: 'text/vtt; charset=utf-8', extension: 'vtt' },
  srt: { type: 'application/x-subrip; charset=utf-8', extension: 'srt' },
};

/** The Content-Type of an output that is not audio. */
export function contentTypeOfOutput(output: Exclude<RenderOutput, 'audio'>): string {
  return OUTPUT_FILES[output].type;
}

/** How a job runs and is stored. */
export interface RenderPlan {
  /** What the engine is asked for (paths from the registry, checked text, full options). */
  request: EngineSynthesisRequest;
  /** The voice's own sample rate, which the engine produces. */
  sampleRate: number;
  /** The rate wav and pcm are resampled to; unset for the compressed formats. */
  outputSampleRate?: number;
  cacheKey: string;
  /** The Content-Disposition header, with the file name. */
  disposition: string;
}

/** POST /tts and GET /tts's parameters as a job on `voice` and `speakerId`. */
export function renderJobOf(
  dto: SynthesizeDto,
  voice: VoiceEntry,
  speakerId: number,
  disposition?: RenderJob['disposition'],
): RenderJob {
  const captionFormat = CAPTION_FORMATS.find((format) => format === dto.format);
  return {
    text: dto.text,
    voice,
    speakerId,
    lengthScale: dto.length_scale,
    noiseScale: dto.noise_scale,
    noiseW: dto.noise_w,
    sentenceSilenceSeconds: dto.sentence_silence,
    volume: dto.volume,
    // Captions are timed on the audio a wav request gets (every format's is the same).
    format: captionFormat || dto.format === undefined ? 'wav' : (dto.format as AudioFormat),
    stream: dto.stream === true,
    disposition,
    output: captionFormat ?? (dto.timestamps === true ? 'timestamps' : 'audio'),
    ssml: (dto.ssml ?? looksLikeSsml(dto.text)) ? { strict: dto.ssml_strict ?? true } : undefined,
  };
}

/** The plan of `job` for `text`, the job's text once normalized and checked. */
export function planRender(job: RenderJob, text: string): RenderPlan {
  const { voice, speakerId, format } = job;
  const output = job.output ?? 'audio';
  const options: EngineSynthesisOptions = {
    speaker: voice.config.numSpeakers > 1 ? speakerId : undefined,
    lengthScale: job.lengthScale ?? voice.config.inference.lengthScale,
    noiseScale: job.noiseScale ?? voice.config.inference.noiseScale,
    noiseW: job.noiseW ?? voice.config.inference.noiseW,
    sentenceSilenceSeconds: job.sentenceSilenceSeconds ?? 0,
    volume: job.volume ?? 1,
    ...(output === 'audio' ? {} : { timestamps: true }),
  };
  const sampleRate = voice.config.sampleRate;
  const outputSampleRate =
    format === 'wav' || format === 'pcm' ? (job.outputSampleRate ?? sampleRate) : undefined;
  const cacheKey = AudioCacheService.keyOf({
    format,
    outputSampleRate,
    // Streaming speaks a long first sentence clause by clause, which is different audio.
    streamed: job.stream,
    voice: voice.name,
    modelPath: voice.modelPath,
    // A voice replaced in MODEL_DIR is a new revision: its audio is cached apart.
    revision: voice.revision,
    // SSML is keyed by its markup (the text): the same document is the same audio.
    ...(job.ssml ? { ssml: job.ssml } : {}),
    text,
    speakerId,
    ...options,
    // Audio keeps the keys it always had; the other outputs are entries of their own.
    ...(output === 'audio' ? {} : { output }),
  });
  // Both names come from the registry and the voice config, never from the request.
  const extension = output === 'audio' ? fileExtensionOf(format) : OUTPUT_FILES[output].extension;
  const filename = `tts_${voice.name}_${speakerId}.${extension}`;
  return {
    request: {
      ...voicePaths(voice),
      text,
      options,
      ...(job.drainHold ? { drainHold: job.drainHold } : {}),
    },
    sampleRate,
    outputSampleRate,
    cacheKey,
    disposition: `${job.disposition ?? 'attachment'}; filename=${filename}`,
  };
}
