import { Injectable, StreamableFile } from '@nestjs/common';
import { Readable } from 'node:stream';
import { looksLikeSsml } from '@app/ssml';
import { Settings } from '../config/settings';
import { VoiceNotFoundError } from '../models/voice-not-found.error';
import { VoiceRegistryService, type VoiceEntry } from '../models/voice-registry.service';
import { CachedAudioResponse } from '../tts/cached-audio-response';
import { TtsService, type SynthesisCaller } from '../tts/tts.service';
import type { SpeechDto } from './dto/speech.dto';

/** OpenAI's voice names; each maps to an installed voice (OPENAI_VOICE_MAP or the default). */
export const OPENAI_VOICES = [
  'alloy',
  'ash',
  'ballad',
  'coral',
  'echo',
  'fable',
  'onyx',
  'nova',
  'sage',
  'shimmer',
  'verse',
];
/** OpenAI model names that mean "the default voice". */
export const OPENAI_MODELS = ['tts-1', 'tts-1-hd', 'gpt-4o-mini-tts'];
export interface OpenAiModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export interface OpenAiVoice {
  id: string;
  name: string;
  voice: string;
  speaker: string;
  language: string | null;
}

@Injectable()
export class OpenAiService {
  constructor(
    private readonly settings: Settings,
    private readonly voices: VoiceRegistryService,
    private readonly tts: TtsService,
  ) {}

  /** POST /v1/audio/speech: streamed audio, or Server-Sent Events with stream_format "sse". */
  async speech(dto: SpeechDto, caller: SynthesisCaller = {}): Promise<CachedAudioResponse> {
    const format = dto.response_format ?? 'mp3';
    const { voice, speakerId } = this.resolveVoice(dto.model, dto.voice);
    const audio = await this.tts.render(
      {
        text: dto.input,
        voice,
        speakerId,
        lengthScale:
          // A JSON null passes IsOptional as an absent field does.
          dto.speed === undefined || dto.speed === null
            ? undefined
            : voice.config.inference.lengthScale / dto.speed,
        format,
        // OpenAI's pcm is 24 kHz, and its clients play it at that rate.
        outputSampleRate:
          format === 'pcm' && this.settings.OPENAI_PCM_SAMPLE_RATE > 0
            ? this.settings.OPENAI_PCM_SAMPLE_RATE
            : undefined,
        stream: true,
        // OpenAI's API has no SSML switch: an input that starts with <speak is SSML.
        ssml: looksLikeSsml(dto.input) ? { strict: true } : undefined,
      },
      caller,
    );
    if (dto.stream_format !== 'sse') return audio;
    return new CachedAudioResponse(
      new StreamableFile(Readable.from(sseEvents(audio.file.getStream())), {
        type: 'text/event-stream',
      }),
      audio.cache,
    );
  }

  /** GET /v1/models: the OpenAI model names and every installed voice. */
  models(): { object: 'list'; data: OpenAiModel[] } {
    const ids = [...OPENAI_MODELS, ...this.voices.list().map((voice) => voice.name)];
    return {
      object: 'list',
      data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'piper' })),
    };
  }

  /** GET /v1/audio/voices: OpenAI's voice names and what each speaks with here. */
  audioVoices(): { voices: OpenAiVoice[] } {
    const voices: OpenAiVoice[] = [];
    for (const name of OPENAI_VOICES) {
      try {
        const { voice, speakerId } = this.resolveVoice(OPENAI_MODELS[0], name);
        voices.push({
          id: name,
          name,
          voice: voice.name,
          speaker: String(speakerId),
          language: voice.config.language.code ?? null,
        });
      } catch {
        // No voice installed (or a mapping to a missing one): nothing to list for it.
      }
    }
    for (const voice of this.voices.list()) {
      voices.push({
        id: voice.name,
        name: voice.name,
        voice: voice.name,
        speaker: '0',
        language: voice.config.language.code ?? null,
      });
    }
    return { voices };
  }

  /**
   * `voice` is an installed voice ("name" or "name:speaker") or an OpenAI voice name;
   * `model` is an installed voice or an OpenAI model name (the default voice).
   */
  private resolveVoice(model: string, requested: string): { voice: VoiceEntry; speakerId: number } {
    const modelVoice = this.voices.has(model) ? this.voices.get(model) : undefined;
    if (!modelVoice && !OPENAI_MODELS.includes(model)) {
      throw new VoiceNotFoundError(model, [
        ...OPENAI_MODELS,
        ...this.voices.list().map((v) => v.name),
      ]);
    }
    const [name, speaker] = splitSpeaker(requested);
    if (this.voices.has(name)) {
      const voice = this.voices.get(name);
      return { voice, speakerId: this.tts.speakerId(voice, speaker) };
    }
    const openAiName = requested.toLowerCase();
    const mapped = this.settings.openAiVoiceMap.get(openAiName);
    if (mapped !== undefined) {
      const [mappedName, mappedSpeaker] = splitSpeaker(mapped);
      const voice = this.voices.get(mappedName);
      return { voice, speakerId: this.tts.speakerId(voice, mappedSpeaker) };
    }
    const index = OPENAI_VOICES.indexOf(openAiName);
    if (index < 0) {
      throw new VoiceNotFoundError(requested, [
        ...OPENAI_VOICES,
        ...this.voices.list().map((v) => v.name),
      ]);
    }
    const voice = modelVoice ?? this.tts.voice(undefined);
    // Different OpenAI voices sound different where the voice has several speakers.
    return { voice, speakerId: index % voice.config.numSpeakers };
  }
}

function splitSpeaker(value: string): [string, string | undefined] {
  const colon = value.indexOf(':');
  return colon < 0 ? [value, undefined] : [value.slice(0, colon), value.slice(colon + 1)];
}

/** OpenAI's speech SSE: one speech.audio.delta per chunk (base64), then speech.audio.done. */
async function* sseEvents(audio: Readable): AsyncGenerator<string> {
  for await (const chunk of audio) {
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    yield `data: ${JSON.stringify({ type: 'speech.audio.delta', audio: data.toString('base64') })}\n\n`;
  }
  yield `data: ${JSON.stringify({ type: 'speech.audio.done', usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 } })}\n\n`;
}
