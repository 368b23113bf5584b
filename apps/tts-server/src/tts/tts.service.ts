import { Injectable, StreamableFile } from '@nestjs/common';
import { encodeWav, SpeakerNotFoundError } from '@app/piper';
import { AudioCache, type CachedAudio } from '../cache/audio-cache.service';
import { TextTooLongError } from '../common/http-errors';
import { Settings } from '../config/settings';
import { PiperEngine, type EngineSynthesisOptions } from '../engine/piper-engine';
import {
  SINGLE_SPEAKER_ID,
  VoiceRegistry,
  type VoiceEntry,
} from '../models/voice-registry.service';
import { CachedAudioResponse } from './cached-audio-response';
import type { PhonemizeDto, SynthesizeDto } from './dto/synthesize.dto';
import type { PhonemizeResponseDto } from './dto/phonemize-response.dto';

@Injectable()
export class TtsService {
  constructor(
    private readonly settings: Settings,
    private readonly voices: VoiceRegistry,
    private readonly engine: PiperEngine,
    private readonly cache: AudioCache,
  ) {}

  /** POST /tts: a WAV file, from the cache when the same request was answered before. */
  async synthesize(dto: SynthesizeDto): Promise<CachedAudioResponse> {
    const text = this.checkedText(dto.text);
    const voice = this.voice(dto.model);
    const speakerId = this.speakerId(voice, dto.speaker_id);
    const options: EngineSynthesisOptions = {
      speaker: voice.config.numSpeakers > 1 ? speakerId : undefined,
      lengthScale: dto.length_scale ?? voice.config.inference.lengthScale,
      noiseScale: dto.noise_scale ?? voice.config.inference.noiseScale,
      noiseW: dto.noise_w ?? voice.config.inference.noiseW,
      sentenceSilenceSeconds: dto.sentence_silence ?? 0,
      volume: dto.volume ?? 1,
    };
    const key = AudioCache.keyOf({
      format: 'wav',
      voice: voice.name,
      modelPath: voice.modelPath,
      text,
      speakerId,
      ...options,
    });
    const { audio, cache } = await this.cache.getOrProduce(key, async (): Promise<CachedAudio> => {
      const result = await this.engine.synthesizeAll({
        modelPath: voice.modelPath,
        configPath: voice.configPath,
        text,
        options,
      });
      return {
        body: encodeWav(result.pcm, result.sampleRate),
        contentType: 'audio/wav',
        sampleRate: result.sampleRate,
        durationSeconds: result.pcm.length / result.sampleRate,
      };
    });
    // Both names come from the registry and the voice config, never from the request.
    const file = new StreamableFile(audio.body, {
      type: audio.contentType,
      length: audio.body.length,
      disposition: `attachment; filename=tts_${voice.name}_${speakerId}.wav`,
    });
    return new CachedAudioResponse(file, cache);
  }

  /** POST /phonemize: phonemes and ids per sentence, exactly as the voice would speak them. */
  async phonemize(dto: PhonemizeDto): Promise<PhonemizeResponseDto> {
    const text = this.checkedText(dto.text);
    const voice = this.voice(dto.model);
    const sentences = await this.engine.phonemize(voice.modelPath, voice.configPath, text);
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

  private voice(name: string | undefined): VoiceEntry {
    if (name !== undefined) return this.voices.get(name);
    return this.voices.get(this.voices.defaultVoice()?.name ?? this.settings.DEFAULT_MODEL ?? '');
  }

  /**
   * The numeric speaker id for a request: an index ("0") or a name from the voice's
   * speaker_id_map. Resolved here, from the voice config, so the file name and the
   * cache key only ever contain a number.
   */
  private speakerId(voice: VoiceEntry, requested: string | undefined): number {
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
