import { phonemesToIds } from './phoneme-ids';

const idMap = {
  _: [0],
  '^': [1],
  $: [2],
  ' ': [3],
  t: [32],
  ˈ: [120],
  ɛ: [61],
  s: [31],
  aɪ: [161],
};

describe('phonemesToIds', () => {
  it('lays out ^ _ then each phoneme followed by _, then $ (docs/PIPER.md §4)', () => {
    const { phonemeIds, missingPhonemes } = phonemesToIds(['t', 'ˈ', 'ɛ', 's', 't'], {
      phonemeIdMap: idMap,
      phonemeMap: {},
    });
    expect(phonemeIds).toEqual([1, 0, 32, 0, 120, 0, 61, 0, 31, 0, 32, 0, 2]);
    expect(phonemeIds).toHaveLength(2 * 5 + 3);
    expect(missingPhonemes).toEqual([]);
  });

  it('skips phonemes missing from the map and reports each once', () => {
    const { phonemeIds, missingPhonemes } = phonemesToIds(['t', '☃', 's', '☃', 'q'], {
      phonemeIdMap: idMap,
      phonemeMap: {},
    });
    expect(phonemeIds).toEqual([1, 0, 32, 0, 31, 0, 2]);
    expect(missingPhonemes).toEqual(['☃', 'q']);
  });

  it('expands multi-id symbols, pads after each, and applies phoneme_map first', () => {
    const { phonemeIds } = phonemesToIds(['x', 's'], {
      phonemeIdMap: { ...idMap, _: [0, 0], s: [31, 30] },
      phonemeMap: { x: ['t', 'ɛ'] },
    });
    expect(phonemeIds).toEqual([1, 0, 0, 32, 0, 0, 61, 0, 0, 31, 30, 0, 0, 2]);
  });

  it('does not treat inherited object keys as phonemes', () => {
    const { phonemeIds, missingPhonemes } = phonemesToIds(['constructor', 'toString'], {
      phonemeIdMap: idMap,
      phonemeMap: {},
    });
    expect(phonemeIds).toEqual([1, 0, 2]);
    expect(missingPhonemes).toEqual(['constructor', 'toString']);
  });
});
