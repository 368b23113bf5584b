import { Injectable } from '@nestjs/common';
import { demoSentence } from '../models/demo-sentences';
import { VoiceRegistryService } from '../models/voice-registry.service';

@Injectable()
export class WebService {
  constructor(private readonly voices: VoiceRegistryService) {}

  /**
   * Voice name → the sentence the page prefills for it: the voice's demo sentence, in
   * its own language (the same table GET /demo speaks when a voice ships no recording).
   */
  sampleTexts(): Record<string, string> {
    return Object.fromEntries(
      this.voices.list().map((voice) => [voice.name, demoSentence(voice.config)]),
    );
  }
}
