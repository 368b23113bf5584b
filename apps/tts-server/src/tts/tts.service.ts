import { Injectable, Logger, StreamableFile } from '@nestjs/common';
import { PassThrough, type Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import {
  contentTypeOf,
  createAudioEncoder,
  encodeAudio,
  fileExtensionOf,
  type AudioEncoder,
  type AudioFormat,
} from '@app/audio-formats';
import { SpeakerNotFoundError, wavHeader } from '@app/piper';
import {
  AudioCacheService,
  type CachedAudio,
  type CacheStatus,
  type CacheTier,
  type HashedAudio,
} from '../cache/audio-cache.service';
import { TextTooLongError } from '../common/http-errors';
import { Settings } from '../config/settings';
import {
  PiperEngine,
  type EngineSynthesisOptions,
  type EngineSynthesisRequest,
} from '../engine/piper-engine';
import {
  SINGLE_SPEAKER_ID,
  VoiceRegistryService,
  voicePaths,
  type VoiceEntry,
} from '../models/voice-registry.service';
import { CachedAudioResponse } from './cached-audio-response';
import type { PhonemizeDto, SynthesizeDto } from './dto/synthesize.dto';
import type { PhonemizeResponseDto } from './dto/phonemize-response.dto';

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
}

/** Streaming: a first sentence longer than this (about 2 s of speech) is spoken clause by clause. */
const FIRST_CLAUSE_SPLIT_PHONEMES = 60;
/**
 * Streaming: compressed formats get each sentence in slices this long, with a turn of
 * the event loop between them, so the first bytes leave after a slice is encoded, not
 * the whole sentence (a 4 s sentence costs 15 to 20 ms of MP3 or Opus encoding).
 */
const ENCODE_SLICE_SECONDS = 0.25;

@Injectable()
export class TtsService {
  private readonly logger = new Logger(TtsService.name);

  constructor(
    private readonly settings: Settings,
    private readonly voices: VoiceRegistryService,
    private readonly engine: PiperEngine,
    private readonly cache: AudioCacheService,
  ) {}

  /**
   * POST /tts: the audio as one file, or (stream) sentence by sentence as it is
   * synthesized; from the cache when the same request was answered before.
   */
  async synthesize(
    dto: SynthesizeDto,
    clientGone?: AbortSignal,
    disposition?: RenderJob['disposition'],
  ): Promise<CachedAudioResponse> {
    const voice = this.voice(dto.model);
    return this.render(
      {
        text: dto.text,
        voice,
        speakerId: this.speakerId(voice, dto.speaker_id),
        lengthScale: dto.length_scale,
        noiseScale: dto.noise_scale,
        noiseW: dto.noise_w,
        sentenceSilenceSeconds: dto.sentence_silence,
        volume: dto.volume,
        format: dto.format ?? 'wav',
        stream: dto.stream === true,
        disposition,
      },
      clientGone,
    );
  }

  /** Audio for a resolved request: shared by POST /tts and the OpenAI speech API. */
  async render(job: RenderJob, clientGone?: AbortSignal): Promise<CachedAudioResponse> {
    const text = this.checkedText(job.text);
    const { voice, speakerId, format } = job;
    const options: EngineSynthesisOptions = {
      speaker: voice.config.numSpeakers > 1 ? speakerId : undefined,
      lengthScale: job.lengthScale ?? voice.config.inference.lengthScale,
      noiseScale: job.noiseScale ?? voice.config.inference.noiseScale,
      noiseW: job.noiseW ?? voice.config.inference.noiseW,
      sentenceSilenceSeconds: job.sentenceSilenceSeconds ?? 0,
      volume: job.volume ?? 1,
    };
    const sampleRate = voice.config.sampleRate;
    const outputSampleRate =
      format === 'wav' || format === 'pcm' ? (job.outputSampleRate ?? sampleRate) : undefined;
    // Streaming speaks a long first sentence clause by clause, which is different audio.
    const streamed = job.stream;
    const key = AudioCacheService.keyOf({
      format,
      outputSampleRate,
      streamed,
      voice: voice.name,
      modelPath: voice.modelPath,
      // A voice replaced in MODEL_DIR is a new revision: its audio is cached apart.
      revision: voice.revision,
      text,
      speakerId,
      ...options,
    });
    const request = { ...voicePaths(voice), text, options };
    // Both names come from the registry and the voice config, never from the request.
    const filename = `tts_${voice.name}_${speakerId}.${fileExtensionOf(format)}`;
    const disposition = `${job.disposition ?? 'attachment'}; filename=${filename}`;

    if (streamed) {
      const cached = await this.cache.get(key);
      if (cached) return this.fileResponse(cached.audio, disposition, 'HIT', cached.tier);
      const { body, contentType } = await this.streamBody(
        request,
        format,
        sampleRate,
        outputSampleRate,
        key,
        clientGone,
      );
      const file = new StreamableFile(body, { type: contentType, disposition });
      return new CachedAudioResponse(file, 'MISS');
    }

    const lookup = await this.cache.getOrProduce(key, async (): Promise<CachedAudio> => {
      // No client signal here: other identical requests may be waiting on this synthesis.
      const result = await this.engine.synthesizeAll(request);
      return {
        body: await encodeAudio(format, result.pcm, result.sampleRate, outputSampleRate),
        contentType: contentTypeOf(format, outputSampleRate ?? result.sampleRate),
        sampleRate: outputSampleRate ?? result.sampleRate,
        durationSeconds: result.pcm.length / result.sampleRate,
      };
    });
    return this.fileResponse(lookup.audio, disposition, lookup.cache, lookup.tier);
  }

  private fileResponse(
    audio: HashedAudio,
    disposition: string,
    cache: CacheStatus,
    tier?: CacheTier,
  ): CachedAudioResponse {
    const file = new StreamableFile(audio.body, {
      type: audio.contentType,
      length: audio.body.length,
      disposition,
    });
    return new CachedAudioResponse(file, cache, tier, audio);
  }

  /**
   * The streamed body: each sentence's samples are encoded and sent as soon as the
   * worker delivers them (WAV starts with a header of unknown size). The encoder is
   * set up while the first sentence is synthesized, and that sentence is awaited
   * before the response starts, so a busy pool, an unknown speaker or a timeout on it
   * still gets a proper error status. A stream that completes is cached whole; one the
   * client left is not, and its synthesis stops.
   */
  private async streamBody(
    request: EngineSynthesisRequest,
    format: AudioFormat,
    sampleRate: number,
    outputSampleRate: number | undefined,
    key: string,
    clientGone?: AbortSignal,
  ): Promise<{ body: Readable; contentType: string }> {
    const sentences = this.engine
      .synthesize(
        {
          ...request,
          options: {
            ...request.options,
            firstSentenceClauseSplitPhonemes: FIRST_CLAUSE_SPLIT_PHONEMES,
          },
        },
        clientGone,
      )
      [Symbol.asyncIterator]();
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
      first = await sentences.next();
    } catch (error) {
      void encoderReady.then((encoder) => encoder.close()).catch(() => undefined);
      throw error;
    }
    let encoder: AudioEncoder;
    try {
      encoder = await encoderReady;
    } catch (error) {
      await sentences.return?.(undefined);
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
      for (let next = first; !next.done; next = await sentences.next()) {
        durationSamples += next.value.pcm.length;
        await writeInSlices(encoder, next.value.pcm, sampleRate);
      }
      if (clientGone?.aborted) return;
      await encoder.end();
      body.end();
      const contentType = encoder.contentType;
      await this.cache.set(key, {
        body: format === 'wav' ? withExactWavSizes(sent, encoder.sampleRate) : Buffer.concat(sent),
        contentType,
        sampleRate: encoder.sampleRate,
        durationSeconds: durationSamples / sampleRate,
      });
    };
    pump().catch((error: unknown) => {
      // Headers are sent: the only way left to tell the client is to cut the stream.
      if (clientGone?.aborted) return stop();
      this.logger.error(`Streamed synthesis failed: ${describeFailure(error)}`);
      stop(error instanceof Error ? error : new Error(String(error)));
    });
    return { body, contentType: encoder.contentType };
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
    const length = [...normalized].length;
    if (length > this.settings.MAX_TEXT_LENGTH) {
      throw new TextTooLongError(length, this.settings.MAX_TEXT_LENGTH);
    }
    return normalized;
  }

  /** The voice a request names, or the default voice. */
  voice(name: string | undefined): VoiceEntry {
    if (name !== undefined) return this.voices.get(name);
    return this.voices.get(this.voices.defaultVoice()?.name ?? this.settings.DEFAULT_MODEL ?? '');
  }

  /**
   * The numeric speaker id for a request: an index ("0") or a name from the voice's
   * speaker_id_map. Resolved here, from the voice config, so the file name and the
   * cache key only ever contain a number.
   */
  speakerId(voice: VoiceEntry, requested: string | undefined): number {
    const { numSpeakers, speakerIdMap, defaultSpeakerId } = voice.config;
    const lookup = (speaker: string): number | undefined => {
      // GET /voices lists a single-speaker voice's one speaker under this id.
      if (numSpeakers === 1 && speaker === SINGLE_SPEAKER_ID) return 0;
      if (/^\d{1,9}$/.test(speaker)) {
        const index = Number(speaker);
        return index < numSpeakers ? index : undefined;
      }
      return Object.hasOwn(speakerIdMap, speaker) ? speakerIdMap[speaker] : undefined;
    };
    if (requested === undefined || requested === '') {
      return lookup(this.settings.DEFAULT_SPEAKER) ?? defaultSpeakerId;
    }
    const id = lookup(requested);
    if (id === undefined) {
      const names = Object.keys(speakerIdMap);
      throw new SpeakerNotFoundError(
        requested,
        voice.name,
        `speakers are 0 to ${numSpeakers - 1}${names.length ? ` or one of: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''}` : ''}`,
      );
    }
    return id;
  }
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

function describeFailure(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
