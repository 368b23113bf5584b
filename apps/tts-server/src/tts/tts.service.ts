/**
 * Synthesis as the HTTP routes see it: a request becomes a job and its plan
 * (render-job.ts), the speaker is resolved (speaker-id.ts), the audio comes from the
 * cache or the engine, whole or streamed (audio-stream.ts), and goes back as a
 * CachedAudioResponse.
 */
import { Injectable, Logger } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { contentTypeOf, encodeAudio } from '@app/audio-formats';
import { concatPcm } from '@app/piper';
import { AudioCacheService, type CachedAudio } from '../cache/audio-cache.service';
import { EmptyTextError } from '@app/piper';
import { SynthesisBudget } from '../common/guards/rate-limit';
import { TextTooLongError, TimestampsRequestError } from '../common/server-errors';
import { Settings } from '../config/settings';
import { PiperEngine, type EngineSentence } from '../engine/piper-engine';
import { VoiceRegistryService, type VoiceEntry } from '../models/voice-registry.service';
import { streamAudio } from './audio-stream';
import { CachedAudioResponse } from './cached-audio-response';
import type { PhonemizeResponseDto } from './dto/phonemize-response.dto';
import type { PhonemizeDto, SynthesizeDto } from './dto/synthesize.dto';
import {
  contentTypeOfOutput,
  planRender,
  renderJobOf,
  type RenderJob,
  type RenderPlan,
} from './render-job';
import { streamTimestamps } from './timestamps-stream';
import { captions, sentenceBodies, TextOffsets } from './timestamps';
import { resolveSpeakerId } from './speaker-id';

export type { RenderJob } from './render-job';

/** Who asked: what a synthesis needs to know of the request besides its parameters. */
export interface SynthesisCaller {
  /** Fires when the client goes away: a streamed synthesis stops. */
  clientGone?: AbortSignal;
  /** The rate-limit client whose synthesis budget a cache miss spends (RateLimitClient). */
  client?: string;
}

/** Streaming: a first sentence longer than this (about 2 s of speech) is spoken clause by clause. */
const FIRST_CLAUSE_SPLIT_PHONEMES = 60;

@Injectable()
export class TtsService {
  private readonly logger = new Logger(TtsService.name);

  constructor(
    private readonly settings: Settings,
    private readonly voices: VoiceRegistryService,
    private readonly engine: PiperEngine,
    private readonly cache: AudioCacheService,
    private readonly budget: SynthesisBudget,
  ) {}

  /**
   * POST /tts: the audio as one file, or (stream) sentence by sentence as it is
   * synthesized; from the cache when the same request was answered before.
   * Async, so that an unknown voice or speaker rejects like any other failure.
   */
  async synthesize(
    dto: SynthesizeDto,
    caller: SynthesisCaller = {},
    disposition?: RenderJob['disposition'],
  ): Promise<CachedAudioResponse> {
    checkTimestampsRequest(dto);
    const voice = this.voice(dto.model);
    const job = renderJobOf(dto, voice, this.speakerId(voice, dto.speaker_id), disposition);
    return await this.render(job, caller);
  }

  /**
   * Audio for a resolved request: shared by POST /tts and the OpenAI speech API. Only a
   * request that reaches the engine spends the caller's synthesis budget: a cache hit,
   * or a request that joins an identical one in flight, does not.
   */
  async render(job: RenderJob, caller: SynthesisCaller = {}): Promise<CachedAudioResponse> {
    const { clientGone } = caller;
    const text = this.checkedText(job.text);
    const plan = planRender(job, text);
    if (job.output === 'timestamps' && job.stream) {
      await this.budget.spend(caller.client);
      return CachedAudioResponse.streamed(
        streamTimestamps(this.engine.synthesize(this.streamedRequest(plan), clientGone), {
          job,
          plan,
          offsets: new TextOffsets(job.text, text),
          onFailure: (error) => this.logStreamFailure(error),
        }),
        'text/event-stream; charset=utf-8',
        'inline',
      );
    }
    if (job.output !== undefined && job.output !== 'audio') {
      const lookup = await this.cache.getOrProduce(plan.cacheKey, async () => {
        await this.budget.spend(caller.client);
        return this.timed(job, plan, text);
      });
      return CachedAudioResponse.whole(lookup.audio, plan.disposition, lookup.cache, lookup.tier);
    }
    if (job.stream) {
      const cached = await this.cache.get(plan.cacheKey);
      if (cached) {
        return CachedAudioResponse.whole(cached.audio, plan.disposition, 'HIT', cached.tier);
      }
      await this.budget.spend(caller.client);
      const { body, contentType } = await this.stream(job, plan, clientGone);
      return CachedAudioResponse.streamed(body, contentType, plan.disposition);
    }
    // No client signal here: other identical requests may be waiting on this synthesis.
    const lookup = await this.cache.getOrProduce(plan.cacheKey, async () => {
      await this.budget.spend(caller.client);
      return this.whole(job, plan);
    });
    return CachedAudioResponse.whole(lookup.audio, plan.disposition, lookup.cache, lookup.tier);
  }

  private async whole(job: RenderJob, plan: RenderPlan): Promise<CachedAudio> {
    const { outputSampleRate } = plan;
    const result = await this.engine.synthesizeAll(plan.request);
    return {
      body: await encodeAudio(job.format, result.pcm, result.sampleRate, outputSampleRate),
      contentType: contentTypeOf(job.format, outputSampleRate ?? result.sampleRate),
      sampleRate: outputSampleRate ?? result.sampleRate,
      durationSeconds: result.pcm.length / result.sampleRate,
    };
  }

  /**
   * The audio with its timestamps as JSON, or the captions of it: the sentences as the
   * engine returns them (each with its durations), timed where each starts in the audio.
   */
  private async timed(job: RenderJob, plan: RenderPlan, text: string): Promise<CachedAudio> {
    const sentences: EngineSentence[] = [];
    for await (const sentence of this.engine.synthesize(plan.request)) sentences.push(sentence);
    const pcm = concatPcm(sentences.map((sentence) => sentence.pcm));
    const { sampleRate, outputSampleRate } = plan;
    const bodies = sentenceBodies(sentences, job.voice.config, new TextOffsets(job.text, text));
    const durationSeconds = pcm.length / sampleRate;
    const output = job.output === 'vtt' || job.output === 'srt' ? job.output : 'timestamps';
    let body: Buffer;
    if (output === 'timestamps') {
      const audio = await encodeAudio(job.format, pcm, sampleRate, outputSampleRate);
      body = Buffer.from(
        JSON.stringify({
          audio: audio.toString('base64'),
          format: job.format,
          sample_rate: outputSampleRate ?? sampleRate,
          duration: durationSeconds,
          words: bodies.flatMap((sentence) => sentence.words),
          phonemes: bodies.flatMap((sentence) => sentence.phonemes),
        }),
      );
    } else {
      body = Buffer.from(
        captions(
          bodies.map((sentence) => sentence.words),
          job.text,
          output,
        ),
      );
    }
    return {
      body,
      contentType: contentTypeOfOutput(output),
      sampleRate: outputSampleRate ?? sampleRate,
      durationSeconds,
    };
  }

  /** A streamed request: a long first sentence is spoken clause by clause. */
  private streamedRequest(plan: RenderPlan): RenderPlan['request'] {
    const { request } = plan;
    return {
      ...request,
      options: {
        ...request.options,
        firstSentenceClauseSplitPhonemes: FIRST_CLAUSE_SPLIT_PHONEMES,
      },
    };
  }

  private logStreamFailure(error: unknown): void {
    this.logger.error(
      `Streamed synthesis failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }

  /** A stream that completes is cached whole; one the client left is not, and its synthesis stops. */
  private stream(
    job: RenderJob,
    plan: RenderPlan,
    clientGone?: AbortSignal,
  ): Promise<{ body: Readable; contentType: string }> {
    const sentences = this.engine.synthesize(this.streamedRequest(plan), clientGone);
    return streamAudio(sentences, {
      format: job.format,
      sampleRate: plan.sampleRate,
      outputSampleRate: plan.outputSampleRate,
      clientGone,
      onComplete: (audio) => this.cache.set(plan.cacheKey, audio),
      onFailure: (error) => this.logStreamFailure(error),
    });
  }

  /** POST /phonemize: phonemes and ids per sentence, exactly as the voice would speak them. */
  async phonemize(dto: PhonemizeDto): Promise<PhonemizeResponseDto> {
    const text = this.checkedText(dto.text);
    const voice = this.voice(dto.model);
    const sentences = await this.engine.phonemize(
      voice.modelPath,
      voice.configPath,
      text,
      voice.revision,
    );
    // As /tts refuses it: a text with nothing to speak once cleaned (control characters,
    // symbols the voice has no phonemes for).
    if (!sentences.some(({ phonemes }) => phonemes.length > 0)) throw new EmptyTextError();
    return {
      sentences: sentences.map(({ phonemes, phonemeIds }) => ({
        phonemes,
        phoneme_ids: phonemeIds,
      })),
    };
  }

  private checkedText(text: string): string {
    const normalized = text.normalize('NFC').trim();
    // Length as a user counts it (code points), not UTF-16 units.
    if (normalized === '') throw new EmptyTextError();
    const length = [...normalized].length;
    if (length > this.settings.MAX_TEXT_LENGTH) {
      throw new TextTooLongError(length, this.settings.MAX_TEXT_LENGTH);
    }
    return normalized;
  }

  /**
   * The voice a request names, or the default voice. `null` is no name: class-validator's
   * IsOptional lets a JSON null through as it lets an absent field.
   */
  voice(name: string | null | undefined): VoiceEntry {
    if (name !== undefined && name !== null) return this.voices.get(name);
    return this.voices.get(this.voices.defaultVoice()?.name ?? this.settings.DEFAULT_MODEL ?? '');
  }

  /** The speaker a request names (index or name), or DEFAULT_SPEAKER, as a number. */
  speakerId(voice: VoiceEntry, requested: string | null | undefined): number {
    return resolveSpeakerId(voice, requested ?? undefined, this.settings.DEFAULT_SPEAKER);
  }
}

/** Formats whose encoder delay shifts the audio against its timings (README: Formats). */
const DELAYED_FORMATS = new Set(['mp3', 'aac']);

/** The combinations of timestamps, captions and streaming that cannot be answered (400). */
function checkTimestampsRequest(dto: SynthesizeDto): void {
  const captions = dto.format === 'vtt' || dto.format === 'srt';
  if (captions && dto.stream === true) {
    throw new TimestampsRequestError(
      `format ${dto.format} is a caption file, answered whole: it cannot be streamed`,
    );
  }
  if (captions && dto.timestamps === true) {
    throw new TimestampsRequestError(
      `format ${dto.format} is captions, timed already: leave timestamps unset (timestamps give JSON with audio)`,
    );
  }
  if (dto.timestamps === true && dto.stream === true && (dto.format ?? 'pcm') !== 'pcm') {
    throw new TimestampsRequestError(
      `streamed timestamps carry each sentence as raw 16-bit PCM next to its timings: use format pcm (or none), not ${dto.format}`,
    );
  }
  if (dto.timestamps === true && dto.format !== undefined && DELAYED_FORMATS.has(dto.format)) {
    throw new TimestampsRequestError(
      `timestamps cannot be given with format ${dto.format}: its encoder delays the audio by about 50 ms, so the times would not fit it; use wav, pcm, flac or opus`,
    );
  }
}
