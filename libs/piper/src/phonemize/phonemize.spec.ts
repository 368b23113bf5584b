import { PhonemizerError } from '../errors';
import { EspeakPhonemizer } from './espeak-phonemizer';
import { PhonemizeOptions, phonemizeText } from './phonemize';

const EN_US: PhonemizeOptions = { phonemeType: 'espeak', espeakVoice: 'en-us' };

describe(phonemizeText.name, () => {
  let espeak: EspeakPhonemizer;
  const sentences = (text: string, options: PhonemizeOptions = EN_US): string[] =>
    phonemizeText(text, options, espeak).map((sentence) => sentence.join(''));

  beforeAll(async () => {
    espeak = await EspeakPhonemizer.create();
  });

  it('phonemizes espeak voices with espeak-ng', () => {
    expect(phonemizeText('test', EN_US, espeak)).toEqual([['t', 'ˈ', 'ɛ', 's', 't']]);
    expect(sentences('Test 1. Test 2.')).toEqual(['tˈɛst wˈʌn.', 'tˈɛst tˈuː.']);
  });

  describe('raw phonemes [[ ... ]]', () => {
    it('puts the block’s characters in unchanged, trimmed, keeping a space on a side that had one', () => {
      expect(phonemizeText('Hello [[ h ə ]]world.', EN_US, espeak)).toEqual([
        [...'həlˈoʊ', ' ', 'h', ' ', 'ə', ...'wˈɜːld.'],
      ]);
      expect(phonemizeText('[[ a ]]', EN_US, espeak)).toEqual([['a']]);
      expect(phonemizeText('a [[b]]c', EN_US, espeak)).toEqual([[...'ˈeɪ', ' ', 'b', ...'sˈiː']]);
    });

    it('does not normalize raw phonemes', () => {
      expect(phonemizeText('[[ ä ]]', EN_US, espeak)).toEqual([['ä']]);
    });

    it('joins a block to the sentence before it, and the text after it to the block’s sentence', () => {
      expect(sentences('Hello. [[ a ]]')).toEqual(['həlˈoʊ. a']);
      expect(sentences('[[ a ]] Hello. World')).toEqual(['a həlˈoʊ.', 'wˈɜːld']);
      expect(sentences('One. [[ b ]] two. Three.')).toEqual(['wˌʌn. b tˈuː.', 'θɹˈiː.']);
    });

    it('does not join across an empty sentence espeak-ng reports for a leading blank line', () => {
      // piper1-gpl joins the block to espeak-ng's first sentence, which is empty here.
      expect(sentences('[[ a ]]\n\nHello. World')).toEqual(['a', 'həlˈoʊ.', 'wˈɜːld']);
      expect(sentences('\n\nHello [[ x ]]')).toEqual(['həlˈoʊ x']);
    });

    it('finds blocks on one line only, and treats an unclosed "[[" as piper1-gpl does', () => {
      expect(sentences('Hi [[ x\ny ]] there')).toEqual(['hˈaɪ ˈɛks wˈaɪ ðˈɛɹ']);
      // A text part that starts with "[[" is taken for a block; "[[c" has nothing inside.
      expect(sentences('[[b]][[c')).toEqual(['b']);
    });
  });

  it('phonemizes phoneme_type "text" as the NFD code points of the text', () => {
    expect(phonemizeText('Café 1.', { phonemeType: 'text', espeakVoice: '' })).toEqual([
      ['C', 'a', 'f', 'e', '\u0301', ' ', '1', '.'],
    ]);
    expect(phonemizeText('', { phonemeType: 'text', espeakVoice: '' })).toEqual([]);
  });

  it('refuses an unknown phoneme_type, and an espeak voice without an espeak-ng phonemizer', () => {
    expect(() =>
      phonemizeText('hi', { phonemeType: 'pinyin', espeakVoice: 'cmn' }, espeak),
    ).toThrow(PhonemizerError);
    expect(() => phonemizeText('hi', { phonemeType: 'pinyin', espeakVoice: 'cmn' })).toThrow(
      /pinyin/,
    );
    expect(() => phonemizeText('hi', EN_US)).toThrow(PhonemizerError);
  });

  it('merges vowel clusters from the config', () => {
    const options = { ...EN_US, vowelClusters: [['a', 'ɪ']] };
    expect(phonemizeText('Hi. My eyes.', options, espeak)).toEqual([
      ['h', 'ˈ', 'aɪ', '.'],
      ['m', 'aɪ', ' ', 'ˈ', 'aɪ', 'z', '.'],
    ]);
    expect(phonemizeText('Hi.', { ...EN_US, vowelClusters: [] }, espeak)).toEqual([
      ['h', 'ˈ', 'a', 'ɪ', '.'],
    ]);
  });

  it('drops empty sentences', () => {
    expect(phonemizeText('', EN_US, espeak)).toEqual([]);
    expect(phonemizeText('\n\nHello\n\n\n\nWorld\n\n', EN_US, espeak)).toEqual([
      [...'həlˈoʊ'],
      [...'wˈɜːld'],
    ]);
    expect(phonemizeText('[[ ]]', EN_US, espeak)).toEqual([]);
  });
});
