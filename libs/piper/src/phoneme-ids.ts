/**
 * Phonemes to ids (docs/PIPER.md §4): "^", "_", then each phoneme's
 * ids followed by "_", then "$". Phonemes missing from the map are skipped, and
 * reported so the caller can log them.
 */
import { BOS, EOS, PAD, type VoiceConfig } from './voice-config';

export interface PhonemeIdResult {
  phonemeIds: number[];
  /** Distinct phonemes that had no ids, in order of first appearance. */
  missingPhonemes: string[];
}

export function phonemesToIds(
  phonemes: readonly string[],
  config: Pick<VoiceConfig, 'phonemeIdMap' | 'phonemeMap'>,
): PhonemeIdResult {
  const idMap = config.phonemeIdMap;
  const padIds = idMap[PAD];
  const phonemeIds: number[] = [...idMap[BOS], ...padIds];
  const missing = new Set<string>();

  const append = (phoneme: string): void => {
    const ids = Object.hasOwn(idMap, phoneme) ? idMap[phoneme] : undefined;
    if (!ids) {
      missing.add(phoneme);
      return;
    }
    for (const id of ids) phonemeIds.push(id);
    for (const id of padIds) phonemeIds.push(id);
  };

  for (const phoneme of phonemes) {
    const substitutes = Object.hasOwn(config.phonemeMap, phoneme)
      ? config.phonemeMap[phoneme]
      : undefined;
    if (substitutes) substitutes.forEach(append);
    else append(phoneme);
  }
  phonemeIds.push(...idMap[EOS]);
  return { phonemeIds, missingPhonemes: [...missing] };
}
