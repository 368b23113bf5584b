/**
 * What the Wyoming server says, in the server's own terms: the `info` it describes
 * itself with (every voice the registry serves now, so hot reload shows in the next
 * `describe`), which voice and speaker a `synthesize` means, and that voice's audio as
 * 16-bit PCM, sentence by sentence. Audio comes from TtsService.render, the path
 * POST /tts takes with `"stream": true, "format": "pcm"`: the same worker pool, audio
 * cache (same cache entries), limits and metrics; there is no second engine.
 */
import { Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { SERVICE_VERSION } from '../common/package-version';
import { Settings } from '../config/settings';
import { PiperEngine, type DrainHold } from '../engine/piper-engine';
import { voiceOfLanguage } from '../models/voice-language';
import { VoiceRegistryService, type VoiceEntry } from '../models/voice-registry.service';
import { TtsService } from '../tts/tts.service';
import type { WyomingData } from './wyoming-frames';

/** Who made Piper and its voices (what wyoming-piper names too). */
const ATTRIBUTION = { name: 'rhasspy', url: 'https://github.com/OHF-Voice/piper1-gpl' };

/** A `synthesize` resolved to a served voice and a numeric speaker. */
export interface SpeechTarget {
  voice: VoiceEntry;
  speakerId: number;
}

/** A Wyoming request's `voice` object: {name?, language?, speaker?}. */
export interface RequestedVoice {
  name?: string;
  language?: string;
  speaker?: string;
}

/** An event whose fields have the wrong types; the connection stays usable. */
export class WyomingEventError extends Error {
  readonly code = 'INVALID_EVENT';
}

@Injectable()
export class WyomingSpeechService {
  constructor(
    private readonly settings: Settings,
    private readonly voices: VoiceRegistryService,
    private readonly tts: TtsService,
    private readonly engine: PiperEngine,
  ) {}

  /** The data of the `info` event answering `describe`: one tts program, every voice. */
  info(): WyomingData {
    const voices = this.voices.list().map((entry) => {
      const { config } = entry;
      const language = config.language.code ?? config.espeakVoice;
      const speakers =
        config.numSpeakers > 1 ? this.voices.speakers(entry).map(({ id }) => ({ name: id })) : null;
      return {
        name: entry.name,
        description: describeVoice(entry),
        attribution: ATTRIBUTION,
        installed: true,
        version: config.piperVersion ?? null,
        languages: language ? [language] : [],
        speakers,
      };
    });
    return {
      tts: [
        {
          name: 'piper',
          description: 'Piper text to speech (piper-tts-server)',
          attribution: ATTRIBUTION,
          installed: true,
          version: SERVICE_VERSION,
          voices,
          supports_synthesize_streaming: true,
        },
      ],
      asr: [],
      handle: [],
      intent: [],
      wake: [],
    };
  }

  /**
   * The voice a request means: by name (VoiceNotFoundError if not served); else the
   * default voice when it speaks the requested language, else the first voice that
   * does; else the server's default. The speaker by name or index (SpeakerNotFoundError).
   */
  target(requested: unknown): SpeechTarget {
    const voice = requestedVoice(requested);
    const entry =
      voice.name !== undefined
        ? this.tts.voice(voice.name)
        : ((voice.language !== undefined
            ? voiceOfLanguage(this.voices, voice.language)
            : undefined) ?? this.tts.voice(undefined));
    return { voice: entry, speakerId: this.tts.speakerId(entry, voice.speaker) };
  }

  /**
   * The text's audio as s16le PCM, one buffer per sentence as each is synthesized (a
   * long first sentence clause by clause), or the whole audio at once from the cache.
   * `ssml`: the text is SSML (`text_format: "ssml"`), at the first voice's rate.
   * Errors before the first sentence (unknown speaker, text too long, bad SSML, busy)
   * reject the promise; later ones (worker crash, timeout) fail the stream. `signal` stops it.
   * `drainHold`: the request was accepted before shutdown began, and is spoken through it.
   */
  async speak(
    text: string,
    target: SpeechTarget,
    signal: AbortSignal,
    ssml = false,
    drainHold?: DrainHold,
  ): Promise<Readable> {
    const response = await this.tts.render(
      {
        text,
        voice: target.voice,
        speakerId: target.speakerId,
        format: 'pcm',
        stream: true,
        ssml: ssml ? { strict: true } : undefined,
        drainHold,
      },
      // No rate-limit client: the Wyoming port has no per-client budgets.
      { clientGone: signal },
    );
    return response.file.getStream();
  }

  /**
   * Holds the engine's drain for a request accepted now (a synthesize waiting its turn,
   * a stream whose sentences are still to come): SIGTERM then lets it finish within
   * SHUTDOWN_TIMEOUT_MS rather than refusing its next engine request.
   */
  holdDrain(): DrainHold {
    return this.engine.holdDrain();
  }

  /** Text as the engine takes it, bounded as HTTP bounds it (MAX_TEXT_LENGTH). */
  get maxTextLength(): number {
    return this.settings.MAX_TEXT_LENGTH;
  }

  /** SSML markup, bounded as HTTP bounds it (MAX_SSML_LENGTH). */
  get maxSsmlLength(): number {
    return this.settings.MAX_SSML_LENGTH;
  }
}

function describeVoice(entry: VoiceEntry): string {
  const { dataset, quality, language } = entry.config;
  const where = [language.nameEnglish, language.countryEnglish].filter(Boolean).join(', ');
  return [dataset ?? entry.name, quality ? `(${quality})` : '', where ? `— ${where}` : '']
    .filter(Boolean)
    .join(' ');
}

function requestedVoice(value: unknown): RequestedVoice {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new WyomingEventError('"voice" must be an object {name?, language?, speaker?}');
  }
  const voice = value as Record<string, unknown>;
  const field = (name: string): string | undefined => {
    const item = voice[name];
    if (item === undefined || item === null || item === '') return undefined;
    if (typeof item === 'number' && Number.isInteger(item) && item >= 0) return String(item);
    if (typeof item !== 'string') throw new WyomingEventError(`"voice.${name}" must be a string`);
    return item;
  };
  return { name: field('name'), language: field('language'), speaker: field('speaker') };
}
