import { PhonemizerError } from '../errors';
import { EspeakNg } from './espeak-ng';
import { EspeakPhonemizer, sanitizeForEspeak } from './espeak-phonemizer';

/** Sentences written as strings, for readable expectations. */
const joined = (sentences: string[][]): string[] => sentences.map((sentence) => sentence.join(''));

describe(EspeakPhonemizer.name, () => {
  let phonemizer: EspeakPhonemizer;

  beforeAll(async () => {
    phonemizer = await EspeakPhonemizer.create();
  });

  it('phonemizes "test" in en-us as t ˈ ɛ s t', () => {
    expect(phonemizer.phonemize('test', 'en-us')).toEqual([['t', 'ˈ', 'ɛ', 's', 't']]);
  });

  it('gives Piper’s sentences for "Test 1. Test 2."', () => {
    expect(phonemizer.phonemize('Test 1. Test 2.', 'en-us')).toEqual([
      Array.from('tˈɛst wˈʌn.'),
      Array.from('tˈɛst tˈuː.'),
    ]);
  });

  it('keeps "," ":" ";" and a space after them inside the sentence', () => {
    const [sentence, ...rest] = phonemizer.phonemize('Hello, world: yes; no.', 'en-us');
    expect(rest).toEqual([]);
    expect(sentence.join('')).toBe('həlˈoʊ, wˈɜːld: jˈɛs; nˈoʊ.');
    expect(sentence.slice(6, 8)).toEqual([',', ' ']);
  });

  it('ends sentences at ? ! and .', () => {
    expect(joined(phonemizer.phonemize('Why? Yes! Ok.', 'en-us'))).toEqual([
      'wˈaɪ?',
      'jˈɛs!',
      'ˌoʊkˈeɪ.',
    ]);
  });

  it('makes a sentence of text with no final punctuation', () => {
    expect(joined(phonemizer.phonemize('Hello. Hello world', 'en-us'))).toEqual([
      'həlˈoʊ.',
      'həlˈoʊ wˈɜːld',
    ]);
  });

  it('joins the clauses of an ellipsis with no punctuation and no space, as Piper does', () => {
    expect(joined(phonemizer.phonemize('Wait... what', 'en-us'))).toEqual(['wˈeɪtwˌʌt']);
  });

  it('splits accented symbols into base and combining mark (NFD)', () => {
    // espeak-ng writes Japanese "ä" precomposed (U+00E4); Piper's phonemes are NFD.
    const [japanese] = phonemizer.phonemize('こんにちは', 'ja');
    expect(japanese).not.toContain('ä');
    expect(japanese.slice(-2)).toEqual(['a', '\u0308']);
    // A French nasal vowel: the vowel, then U+0303.
    expect(phonemizer.phonemize('bonjour', 'fr')).toEqual([
      ['b', 'ɔ', '\u0303', 'ʒ', 'ˈ', 'u', 'ʁ'],
    ]);
  });

  it('removes the language switches espeak-ng puts around foreign words', async () => {
    const text = 'Il a dit they.';
    const espeak = await EspeakNg.create();
    espeak.setVoice('fr');
    expect(espeak.textToPhonemes(text)).toContain('(en)');
    const [sentence] = joined(phonemizer.phonemize(text, 'fr'));
    expect(sentence).not.toMatch(/[()]/);
    expect(sentence).toContain('ðeɪ');
  });

  it('merges vowel clusters, longest first, in sentences espeak-ng ended', () => {
    expect(phonemizer.phonemize('I', 'en-us', [['a', 'ɪ']])).toEqual([['ˈ', 'aɪ']]);
    expect(phonemizer.phonemize('I', 'en-us', ['aɪ'])).toEqual([['ˈ', 'aɪ']]);
    expect(
      phonemizer.phonemize('Hello', 'en-us', [
        ['o', 'ʊ'],
        ['l', 'ˈ', 'o', 'ʊ'],
      ]),
    ).toEqual([['h', 'ə', 'lˈoʊ']]);
    // A last sentence left open (it ends with a comma) is not merged: piper1-gpl merges
    // when espeak-ng reports a sentence end.
    expect(phonemizer.phonemize('I, ', 'en-us', [['a', 'ɪ']])).toEqual([['ˈ', 'a', 'ɪ', ',', ' ']]);
  });

  it('throws PhonemizerError naming an espeak-ng voice that does not exist', () => {
    expect(() => phonemizer.phonemize('test', 'xx-nowhere')).toThrow(PhonemizerError);
    expect(() => phonemizer.phonemize('test', 'xx-nowhere')).toThrow(/xx-nowhere/);
    expect(() => phonemizer.assertVoice('xx-nowhere')).toThrow(PhonemizerError);
    expect(() => phonemizer.assertVoice('en-gb-x-rp')).not.toThrow();
  });

  it('phonemizes a text the same whatever was phonemized before it', () => {
    const fresh = phonemizer.phonemize('Mr. Smith.', 'en-us');
    // espeak-ng ends "Wait.." with a "." still pushed back, which it would read first next time.
    phonemizer.phonemize('Wait..', 'en-us');
    expect(phonemizer.phonemize('Mr. Smith.', 'en-us')).toEqual(fresh);
  });

  describe('odd input', () => {
    it('returns no sentences for empty or blank text', () => {
      expect(phonemizer.phonemize('', 'en-us')).toEqual([]);
      expect(phonemizer.phonemize(' \n\t\r\n ', 'en-us')).toEqual([]);
      expect(phonemizer.phonemize('\n\n', 'en-us')).toEqual([]);
    });

    it('phonemizes 100,000 characters', () => {
      const sentence = 'This is a fairly ordinary sentence, repeated many times. ';
      const sentences = phonemizer.phonemize(sentence.repeat(1755).slice(0, 100_000), 'en-us');
      expect(sentences).toHaveLength(1755);
      const [one] = phonemizer.phonemize(sentence, 'en-us');
      expect(one.at(-1)).toBe('.');
      expect(sentences[0]).toEqual(one);
      expect(sentences[1753]).toEqual(one);
    });

    it('phonemizes 100,000 characters without punctuation: one sentence, as Piper makes it', () => {
      // espeak-ng cuts the text into clauses of about 725 bytes, none of which ends a
      // sentence; Piper glues their phonemes into one sentence.
      const sentences = phonemizer.phonemize('lorem ipsum dolor '.repeat(5556), 'en-us');
      expect(sentences).toHaveLength(1);
      expect(sentences[0].length).toBeGreaterThan(100_000);
    });

    it('reads emoji by their names', () => {
      expect(joined(phonemizer.phonemize('Hello 😀 world.', 'en-us'))).toEqual([
        'həlˈoʊ ɡɹˈɪnɪŋ fˈeɪs wˈɜːld.',
      ]);
    });

    it('phonemizes right-to-left scripts, with their own voices and with en-us', () => {
      expect(joined(phonemizer.phonemize('مرحبا بالعالم. كيف حالك؟', 'ar'))).toEqual([
        'mrħbˈaː bilʕˈaːlam.',
        'kˈajfa ħˈaːlik?',
      ]);
      expect(joined(phonemizer.phonemize('שלום עולם. מה שלומך?', 'he'))).toEqual([
        'ʃalˈom ʔvlm.',
        'mˈa ʃlomχˈa?',
      ]);
      const arabicInEnglish = phonemizer.phonemize('مرحبا بالعالم. كيف حالك؟', 'en-us');
      expect(arabicInEnglish).toHaveLength(2);
      expect(arabicInEnglish[1].at(-1)).toBe('?');
      expect(phonemizer.phonemize('שלום', 'en-us')).toHaveLength(1);
    });

    it('phonemizes combining marks', () => {
      const decomposed = phonemizer.phonemize('Cafe\u0301 re\u0301sume\u0301.', 'en-us');
      expect(decomposed).toHaveLength(1);
      expect(decomposed[0].at(-1)).toBe('.');
      expect(phonemizer.phonemize('\u0301\u0308', 'en-us')).toEqual(expect.any(Array));
    });

    it('reads control characters and NUL as spaces', () => {
      const plain = phonemizer.phonemize('Hello world. Again', 'en-us');
      expect(phonemizer.phonemize('Hello\u0000world.\u0007Again', 'en-us')).toEqual(plain);
      // \u0001 would start an espeak-ng command, "[\u0002" raw espeak-ng phonemes.
      expect(phonemizer.phonemize('Hello\u0001world.[\u0002Again', 'en-us')).toEqual(
        phonemizer.phonemize('Hello world.[ Again', 'en-us'),
      );
    });

    it('reads unpaired surrogates as spaces', () => {
      expect(phonemizer.phonemize('Lone \uD800surrogate\uDC00.', 'en-us')).toEqual(
        phonemizer.phonemize('Lone  surrogate .', 'en-us'),
      );
    });

    it('reads U+FFFD as espeak-ng does ("ï¿½": a clause ends inside it)', () => {
      expect(phonemizer.phonemizeClauses('a\uFFFD b', 'en-us')).toEqual([
        { phonemes: 'ˈæiː', terminator: '', endsSentence: false },
        { phonemes: 'ɐ hˈæf bˈiː', terminator: '', endsSentence: true },
      ]);
    });
  });
});

describe(sanitizeForEspeak.name, () => {
  it('replaces C0 controls but tab and line breaks, DEL and unpaired surrogates', () => {
    expect(sanitizeForEspeak('a\u0000b\u0001c\u001bd\u007fe')).toBe('a b c d e');
    expect(sanitizeForEspeak('tab\tnl\ncr\rvt\u000bff\u000c')).toBe(
      'tab\tnl\ncr\rvt\u000bff\u000c',
    );
    expect(sanitizeForEspeak('\uD800x\uDC00 😀')).toBe(' x  😀');
    const text = 'nothing to do: é 😀 \u0085';
    expect(sanitizeForEspeak(text)).toBe(text);
  });
});
