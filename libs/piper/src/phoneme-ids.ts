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
  /**
   * How many of `phonemeIds` each phoneme gave, pads included: one entry for `^` (with
   * its pad), one per phoneme (0 for a missing one), one for `$`. What an alignment
   * needs to sum the network's per-id durations into per-phoneme ones (piper1-gpl).
   */
  phonemeIdCounts: number[];
}

export function phonemesToIds(
  phonemes: readonly string[],
  config: Pick<VoiceConfig, 'phonemeIdMap' | 'phonemeMap'>,
): PhonemeIdResult {
  const idMap = config.phonemeIdMap;
  const padIds = idMap[PAD];
  const phonemeIds: number[] = [...idMap[BOS], ...padIds];
  const phonemeIdCounts: number[] = [phonemeIds.length];
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
    const before = phonemeIds.length;
    const substitutes = Object.hasOwn(config.phonemeMap, phoneme)
      ? config.phonemeMap[phoneme]
      : undefined;
    if (substitutes) substitutes.forEach(append);
    else append(phoneme);
    phonemeIdCounts.push(phonemeIds.length - before);
  }
  phonemeIds.push(...idMap[EOS]);
  phonemeIdCounts.push(idMap[EOS].length);
  return { phonemeIds, missingPhonemes: [...missing], phonemeIdCounts };
}
