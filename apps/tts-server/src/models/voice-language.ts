/**
 * Which served voice speaks a language: what Wyoming's `voice.language` and SSML's
 * `<voice language>` and `<lang xml:lang>` both mean.
 */
import type { VoiceEntry, VoiceRegistryService } from './voice-registry.service';

/**
 * The default voice when it speaks `requested` ("de-DE", "de_DE", "de"), else the first
 * voice that does; else, by the language family alone, the same; else undefined.
 */
export function voiceOfLanguage(
  voices: VoiceRegistryService,
  requested: string,
): VoiceEntry | undefined {
  const wanted = normalizeLanguage(requested);
  const family = wanted.split('_')[0];
  const candidates = [voices.defaultVoice(), ...voices.list()].filter(
    (entry): entry is VoiceEntry => entry !== undefined,
  );
  const languageOf = (entry: VoiceEntry): string =>
    normalizeLanguage(entry.config.language.code ?? entry.config.espeakVoice);
  return (
    candidates.find((entry) => languageOf(entry) === wanted) ??
    candidates.find((entry) => languageOf(entry).split('_')[0] === family)
  );
}

/** "en-US", "en_us" and "EN_US" are one language. */
function normalizeLanguage(language: string): string {
  const [family = '', region] = language.trim().replace(/-/g, '_').split('_');
  return region ? `${family.toLowerCase()}_${region.toUpperCase()}` : family.toLowerCase();
}
