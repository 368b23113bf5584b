/**
 * What the models endpoints answer: the installed voices described as the Python
 * server did, their cards, and a demo per voice. A voice that ships a recorded demo
 * gets it served as is; any other voice gets a sentence in its own language
 * (demo-sentences.ts) synthesized once through the engine and kept in memory.
 */
import { Injectable, Logger } from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { encodeWav } from '@app/piper';
import { PiperEngine } from '../engine/piper-engine';
import { demoSentence } from './demo-sentences';
import type { VoiceInfoResponse, VoicesResponse } from './voice-info.response';
import { ModelCardNotFoundError } from './voice-not-found.error';
import { type VoiceEntry, VoiceRegistryService, voicePaths } from './voice-registry.service';

/** A voice's demo as WAV bytes, with the registry's name for the file name. */
export interface DemoAudio {
  voice: string;
  wav: Buffer;
}

@Injectable()
export class ModelsService {
  private readonly logger = new Logger(ModelsService.name);
  /**
   * Synthesized demos by registry entry: one promise per voice, so concurrent first
   * requests share one synthesis. Keyed by the entry object, so a rescan that
   * replaces a voice also drops its stale demo.
   */
  private readonly synthesizedDemos = new WeakMap<VoiceEntry, Promise<Buffer>>();

  constructor(
    private readonly registry: VoiceRegistryService,
    private readonly engine: PiperEngine,
  ) {}

  /** Every installed voice by name (an own key per voice, even for names like "__proto__"). */
  voices(): VoicesResponse {
    const defaultName = this.registry.defaultVoice()?.name;
    return Object.fromEntries(
      this.registry
        .list()
        .map((entry) => [entry.name, this.describe(entry, entry.name === defaultName)]),
    );
  }

  /** The voice's card (MODEL_CARD or Markdown file) as UTF-8 bytes. */
  async modelCard(voice: string): Promise<Buffer> {
    const entry = this.registry.get(voice);
    if (!entry.modelCardPath) throw new ModelCardNotFoundError(entry.name);
    try {
      return await readFile(entry.modelCardPath);
    } catch (error) {
      // Removed since the scan: the voice has no card now.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ModelCardNotFoundError(entry.name);
      }
      throw error;
    }
  }

  /** The voice's demo: its shipped WAV when it has one, else a synthesized sentence. */
  async demo(voice: string): Promise<DemoAudio> {
    const entry = this.registry.get(voice);
    return { voice: entry.name, wav: await this.demoWav(entry) };
  }

  private describe(entry: VoiceEntry, isDefault: boolean): VoiceInfoResponse {
    const { config } = entry;
    const { language } = config;
    return {
      speakers: this.registry.speakers(entry),
      model_card: entry.modelCardPath ? `/model_card/${entry.name}` : null,
      demo: `/demo/${entry.name}`,
      language: {
        code: language.code ?? null,
        family: language.family ?? null,
        region: language.region ?? null,
        name_native: language.nameNative ?? null,
        name_english: language.nameEnglish ?? null,
        country_english: language.countryEnglish ?? null,
      },
      quality: config.quality ?? null,
      sample_rate: config.sampleRate,
      num_speakers: config.numSpeakers,
      phoneme_type: config.phonemeType,
      espeak_voice: config.espeakVoice,
      default: isDefault,
      inference: {
        noise_scale: config.inference.noiseScale,
        length_scale: config.inference.lengthScale,
        noise_w: config.inference.noiseW,
      },
    };
  }

  private async demoWav(entry: VoiceEntry): Promise<Buffer> {
    if (entry.demoWavPath) {
      try {
        return await readFile(entry.demoWavPath);
      } catch (error) {
        this.logger.warn(
          `demo ${entry.demoWavPath} is unreadable (${(error as Error).message}); ` +
            `synthesizing one for "${entry.name}" instead`,
        );
      }
    }
    let demo = this.synthesizedDemos.get(entry);
    if (!demo) {
      // A failure (engine busy, timeout) is not remembered: the next request tries again.
      demo = this.synthesizeDemo(entry).catch((error: unknown) => {
        this.synthesizedDemos.delete(entry);
        throw error;
      });
      this.synthesizedDemos.set(entry, demo);
    }
    return demo;
  }

  private async synthesizeDemo(entry: VoiceEntry): Promise<Buffer> {
    const audio = await this.engine.synthesizeAll({
      ...voicePaths(entry),
      text: demoSentence(entry.config),
      options: {},
    });
    return encodeWav(audio.pcm, audio.sampleRate);
  }
}
