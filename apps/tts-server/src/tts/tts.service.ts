/**
 * Synthesis as the HTTP routes see it: a request becomes a job and its plan
 * (render-job.ts), the speaker is resolved (speaker-id.ts), the audio comes from the
 * cache or the engine, whole or streamed (audio-stream.ts), and goes back as a
 * CachedAudioResponse.
 */
import { Injectable, Logger } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { contentTypeOf, encodeAudio } from '@app/audio-formats';
import { concatPcm, EmptyTextError } from '@app/piper';
import { parseSsml, type SsmlVoiceChoice } from '@app/ssml';
import { AudioCacheService, type CachedAudio } from '../cache/audio-cache.service';
import { SynthesisBudget } from '../common/guards/rate-limit';
import { TextTooLongError, TimestampsRequestError } from '../common/server-errors';
import { Settings } from '../config/settings';
import { PiperEngine, type EngineSentence } from '../engine/piper-engine';
import { voiceOfLanguage } from '../models/voice-language';
import { VoiceNotFoundError } from '../models/voice-not-found.error';
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
import { streamTimedAudio, streamTimestamps } from './timestamps-stream';
import { captions, sentenceBodies, TextOffsets, type TimestampsBody } from './timestamps';
import { resolveSpeakerId } from './speaker-id';
import {
  planSsmlParts,
  spokenText,
  ssmlChunks,
  ssmlSentences,
  timedSsmlChunks,
  type SsmlPlan,
  type SsmlTarget,
  type TimedSsmlChunk,
} from './ssml-audio';

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

/** A request's audio, however it is made: plain text in one engine request, SSML in several. */
interface AudioSource {
  plan: RenderPlan;
  /** What was not honoured (SSML), for the X-SSML-Warnings header. */
  warnings: string[];
  all(): Promise<Int16Array>;
  /** Sentence by sentence, a long first sentence clause by clause. */
  sentences(signal?: AbortSignal): AsyncIterable<{ pcm: Int16Array }>;
}

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
   * Audio for a resolved request: shared by POST /tts, the OpenAI speech API and
   * Wyoming. Only a request that reaches the engine spends the caller's synthesis
   * budget: a cache hit, or a request that joins an identical one in flight, does not.
   */
  async render(job: RenderJob, caller: SynthesisCaller = {}): Promise<CachedAudioResponse> {
    const { clientGone } = caller;
    if (job.output !== undefined && job.output !== 'audio') return this.renderTimed(job, caller);
    const source = job.ssml ? this.ssmlSource(job) : this.textSource(job);
    const { plan, warnings } = source;
    if (job.stream) {
      const cached = await this.cache.get(plan.cacheKey);
      if (cached) {
        return CachedAudioResponse.whole(
          cached.audio,
          plan.disposition,
          'HIT',
          cached.tier,
          warnings,
        );
      }
      await this.budget.spend(caller.client);
      const { body, contentType } = await this.stream(job, source, clientGone);
      return CachedAudioResponse.streamed(body, contentType, plan.disposition, warnings);
    }
    // No client signal here: other identical requests may be waiting on this synthesis.
    return this.cachedWhole(plan, caller, warnings, () => this.whole(job, source));
  }

  /**
   * A whole answer from the cache, else produced once for every identical request in
   * flight; only producing it spends the caller's synthesis budget.
   */
  private async cachedWhole(
    plan: RenderPlan,
    caller: SynthesisCaller,
    warnings: readonly string[],
    produce: () => Promise<CachedAudio>,
  ): Promise<CachedAudioResponse> {
    const lookup = await this.cache.getOrProduce(plan.cacheKey, async () => {
      await this.budget.spend(caller.client);
      return produce();
    });
    return CachedAudioResponse.whole(
      lookup.audio,
      plan.disposition,
      lookup.cache,
      lookup.tier,
      warnings,
    );
  }

  /** The audio with its timestamps (JSON, or SSE when streamed), or captions of it. */
  private async renderTimed(job: RenderJob, caller: SynthesisCaller): Promise<CachedAudioResponse> {
    if (job.ssml) return this.renderTimedSsml(job, caller);
    const text = this.checkedText(job.text);
    const plan = planRender(job, text);
    if (job.output === 'timestamps' && job.stream) {
      await this.budget.spend(caller.client);
      return CachedAudioResponse.streamed(
        streamTimestamps(this.engine.synthesize(this.streamedRequest(plan), caller.clientGone), {
          job,
          plan,
          offsets: new TextOffsets(job.text, text),
          onFailure: (error) => this.logStreamFailure(error),
        }),
        'text/event-stream; charset=utf-8',
        'inline',
      );
    }
    return this.cachedWhole(plan, caller, [], () => this.timed(job, plan, text));
  }

  private textSource(job: RenderJob): AudioSource {
    const plan = planRender(job, this.checkedText(job.text));
    const { request } = plan;
    return {
      plan,
      warnings: [],
      all: async () => (await this.engine.synthesizeAll(request)).pcm,
      sentences: (signal) => this.engine.synthesize(this.streamedRequest(plan), signal),
    };
  }

  /**
   * SSML: parsed at once (bad markup, too much of it or too much to speak fail before
   * anything runs), keyed by its markup, spoken segment by segment (ssml-audio.ts).
   */
  private ssmlSource(job: RenderJob): AudioSource {
    const { plan, ssml, warnings } = this.ssmlPlan(job);
    const sentences = (signal?: AbortSignal, streaming = false) =>
      ssmlSentences(
        ssml.parts,
        this.engine,
        plan.sampleRate,
        signal,
        streaming ? { firstSentenceClauseSplitPhonemes: FIRST_CLAUSE_SPLIT_PHONEMES } : {},
      );
    return {
      plan,
      warnings,
      all: async () => {
        const pieces: Int16Array[] = [];
        for await (const { pcm } of sentences()) pieces.push(pcm);
        return concatPcm(pieces);
      },
      sentences: (signal) => sentences(signal, true),
    };
  }

  /** The document parsed, bounded and planned as parts, with the plan of the whole request. */
  private ssmlPlan(job: RenderJob): { plan: RenderPlan; ssml: SsmlPlan; warnings: string[] } {
    const markup = job.text.normalize('NFC').trim();
    const document = parseSsml(markup, {
      maxMarkupLength: this.settings.MAX_SSML_LENGTH,
      strict: job.ssml?.strict ?? true,
    });
    if (document.spokenLength > this.settings.MAX_TEXT_LENGTH) {
      throw new TextTooLongError(document.spokenLength, this.settings.MAX_TEXT_LENGTH);
    }
    const warnings = [...document.warnings];
    const ssml = planSsmlParts(document, job, (choice) => this.ssmlTarget(choice, job, warnings));
    return { plan: planRender(job, markup), ssml, warnings };
  }

  /**
   * SSML's timestamps (JSON, or SSE when streamed) or captions: words and phonemes
   * placed in the joined audio, the marks' times, offsets in the spoken text
   * (ssml-audio.ts).
   */
  private async renderTimedSsml(
    job: RenderJob,
    caller: SynthesisCaller,
  ): Promise<CachedAudioResponse> {
    const { plan, ssml, warnings } = this.ssmlPlan(job);
    const { sampleRate } = plan;
    const timed = (signal?: AbortSignal, streaming = false) =>
      timedSsmlChunks(
        ssml,
        ssmlChunks(
          ssml.parts,
          this.engine,
          sampleRate,
          signal,
          streaming ? { firstSentenceClauseSplitPhonemes: FIRST_CLAUSE_SPLIT_PHONEMES } : {},
        ),
        sampleRate,
      );
    if (job.output === 'timestamps' && job.stream) {
      await this.budget.spend(caller.client);
      const text = spokenText(ssml.parts).text;
      async function* events() {
        // The first timestamps event names the spoken text the offsets are in.
        let index = 0;
        for await (const { pcm, ...body } of timed(caller.clientGone, true)) {
          yield { index, pcm, sampleRate, body: index === 0 ? { text, ...body } : body };
          index++;
        }
      }
      return CachedAudioResponse.streamed(
        streamTimedAudio(events(), sampleRate, (error) => this.logStreamFailure(error)),
        'text/event-stream; charset=utf-8',
        'inline',
        warnings,
      );
    }
    return this.cachedWhole(plan, caller, warnings, async () => {
      const chunks: TimedSsmlChunk[] = [];
      for await (const chunk of timed()) chunks.push(chunk);
      const text = spokenText(ssml.parts).text;
      return this.timedBody(job, plan, concatPcm(chunks.map((chunk) => chunk.pcm)), chunks, text, {
        text,
        marks: chunks.flatMap((chunk) => chunk.marks),
      });
    });
  }

  /**
   * A `<voice>`: by name a served voice (its default speaker), "voice:speaker", or a
   * speaker of the request's voice; by language the voice that speaks it (the request's
   * voice, with a warning, when none does).
   */
  private ssmlTarget(choice: SsmlVoiceChoice, job: RenderJob, warnings: string[]): SsmlTarget {
    const { name, language } = choice;
    if (name !== undefined) {
      if (this.voices.has(name)) {
        const voice = this.voices.get(name);
        return { voice, speakerId: this.speakerId(voice, undefined) };
      }
      const [voiceName, speaker] = name.split(':', 2);
      if (speaker !== undefined && this.voices.has(voiceName)) {
        const voice = this.voices.get(voiceName);
        return { voice, speakerId: this.speakerId(voice, speaker) };
      }
      if (Object.hasOwn(job.voice.config.speakerIdMap, name)) {
        return { voice: job.voice, speakerId: this.speakerId(job.voice, name) };
      }
      throw new VoiceNotFoundError(
        name,
        this.voices.list().map((voice) => voice.name),
      );
    }
    const voice = language !== undefined ? voiceOfLanguage(this.voices, language) : undefined;
    if (voice === undefined) {
      warnings.push(
        `no voice speaks language "${String(language).slice(0, 40)}": kept ${job.voice.name}`,
      );
      return job;
    }
    return voice === job.voice ? job : { voice, speakerId: this.speakerId(voice, undefined) };
  }

  private async whole(job: RenderJob, source: AudioSource): Promise<CachedAudio> {
    const { sampleRate, outputSampleRate } = source.plan;
    const pcm = await source.all();
    return {
      body: await encodeAudio(job.format, pcm, sampleRate, outputSampleRate),
      contentType: contentTypeOf(job.format, outputSampleRate ?? sampleRate),
      sampleRate: outputSampleRate ?? sampleRate,
      durationSeconds: pcm.length / sampleRate,
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
    const bodies = sentenceBodies(sentences, job.voice.config, new TextOffsets(job.text, text));
    return this.timedBody(job, plan, pcm, bodies, job.text);
  }

  /**
   * JSON with the audio and the sentences' timings (and `extra` fields), or captions of
   * the sentences' words, whose offsets slice `captionText`.
   */
  private async timedBody(
    job: RenderJob,
    plan: RenderPlan,
    pcm: Int16Array,
    sentences: readonly TimestampsBody[],
    captionText: string,
    extra: Record<string, unknown> = {},
  ): Promise<CachedAudio> {
    const { sampleRate, outputSampleRate } = plan;
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
          ...extra,
          words: sentences.flatMap((sentence) => sentence.words),
          phonemes: sentences.flatMap((sentence) => sentence.phonemes),
        }),
      );
    } else {
      body = Buffer.from(
        captions(
          sentences.map((sentence) => sentence.words),
          captionText,
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
    source: AudioSource,
    clientGone?: AbortSignal,
  ): Promise<{ body: Readable; contentType: string }> {
    const { plan } = source;
    return streamAudio(source.sentences(clientGone), {
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
