import { Clause, splitClauses } from './clause-splitter';
import { EspeakNg } from './espeak-ng';
import { EspeakPhonemizer, sanitizeForEspeak } from './espeak-phonemizer';

const summary = (clauses: Clause[]): Array<[string, string, boolean]> =>
  clauses.map((clause) => [clause.text, clause.terminator, clause.endsSentence]);

/** Texts that exercise espeak-ng's clause reader: each must split exactly as espeak-ng does. */
const TRICKY_TEXTS: readonly string[] = [
  'Hello world',
  'Test 1. Test 2.',
  'Hello, world: yes; no! Why? Fine.',
  'Dr. Smith met Mr. Jones at 5 p.m. on Jan. 3rd.',
  'See e.g. the appendix, i.e. section 4.',
  "The U.S.A. is large. The U.S.A.'s army is too.",
  'Pi is 3.14159 and a million is 1,000,000.',
  'Meet me at 10:30, or at 11:45.',
  'Wait... what? Really...',
  'Wait . . . what',
  'Hmm…yes… No',
  'So.... many.... dots....',
  'Two dots.. Then text',
  '"Hello," she said. "Goodbye."',
  '"Is it?" he asked.',
  "'Single quotes.' Then more.",
  '(This is in brackets.) And this is not.',
  '[Note: see above.] Next.',
  '{Curly.} «Guillemets.» “Smart quotes.” ‘Single smart.’',
  'Em dash — like this — and en dash – like that.',
  'Double hyphen -- like this - and a hyphenated-word.',
  'What?! No way!!! Are you sure??',
  'Mixed?! punctuation!? here?!. Yes.',
  '¿Qué pasa? ¡Nada!',
  'Line one\nline two\nLine three.',
  'Paragraph one.\n\nParagraph two.',
  'Question?\n\n\nAnswer!\n\n\n\nEnd',
  'Comma,\n\nthen a blank line.',
  'No mark\n \n \nthen spaces between newlines.',
  'Trailing spaces.   \n  ',
  '\n\nLeading blank line.',
  'Tabs\tand\r\nwindows line endings.\r\n\r\nNew paragraph.',
  'Visit https://example.com/path/file.html?x=1&y=2 today.',
  'Email me at john.doe@example.org. Thanks!',
  'Version 2.0.1 is out. Update now.',
  'It costs $5.99, or €4.50.',
  'Chapter 3. The beginning.',
  'He was born in 1984. She in 1990.',
  'Items: apples; pears; plums.',
  'Ratio 3:2 and time 12:00.',
  'End with a colon:',
  'End with a comma,',
  'Smile :) and wink ;) please.',
  'A sentence.Another without space.',
  'lower case start. another lower case.',
  'UPPER CASE. SHOUTING! WHY?',
  'Numbers 1. 2. 3. In a list.',
  'Ludwig XIV. Er war König.',
  'Am 3. Oktober war es kalt. Am 4.-5. auch.',
  'Café, naïve, résumé.',
  'Emoji 😀 in text. 👍🏽 Great!',
  'Arabic: مرحبا بالعالم. كيف حالك؟',
  'Hebrew: שלום עולם. מה שלומך?',
  'Chinese: 你好。世界，你好！',
  'Japanese: こんにちは。元気ですか？',
  'Hindi: नमस्ते। आप कैसे हैं? ॥ Done',
  'Greek: Γειά σου; Καλά. Ναι;',
  'Soft\u00adhyphen, zero\u200bwidth, non\u200cjoiner, joiner\u200d.',
  'Non\u00a0breaking.\u00a0Space here. Figure\u2007space.',
  'Ideographic\u3000space.\u3000Done.',
  'Paragraph\u2029separator. Line\u2028separator.',
  'Replacement \uFFFD character.',
  'Control\u0007 bell, NUL\u0000 and escape\u001b here.',
  'Lone \uD800 surrogate.',
  '...',
  '?!',
  '. , ; :',
  '',
  '   ',
  'a',
  'word '.repeat(300),
  'unpunctuated text that goes on and on '.repeat(60),
  'Ünïcödé wörds ñ '.repeat(80),
];

describe(splitClauses.name, () => {
  it('ends clauses at , : ; and sentences at . ? ! (a text with no final mark still ends one)', () => {
    expect(summary(splitClauses('Hello, world: yes; no! Why? Fine. Ok'))).toEqual([
      ['Hello, ', ',', false],
      ['world: ', ':', false],
      ['yes; ', ';', false],
      ['no! ', '!', true],
      ['Why? ', '?', true],
      ['Fine. ', '.', true],
      ['Ok', '', true],
    ]);
  });

  it('does not end a clause at the dot of an abbreviation before a lower-case word', () => {
    expect(summary(splitClauses('See e.g. this one.'))).toEqual([
      ['See e.g. this one.', '.', true],
    ]);
    expect(summary(splitClauses('Fine. ok'))).toEqual([['Fine. ok', '', true]]);
    expect(splitClauses('Dr. Smith is here.').map((clause) => clause.text)).toEqual([
      'Dr. ',
      'Smith is here.',
    ]);
    expect(splitClauses("The U.S.A.'s army.")).toHaveLength(1);
  });

  it('keeps decimals, thousands, times, addresses whole', () => {
    expect(
      summary(splitClauses('Pi is 3.14 and 1,000 at 10:30 by me@x.org or http://x.org/a.b?c=d.')),
    ).toEqual([['Pi is 3.14 and 1,000 at 10:30 by me@x.org or http://x.org/a.b?c=d.', '.', true]]);
  });

  it('ignores marks with no letter or digit before them in the clause', () => {
    expect(summary(splitClauses('. . . Hello, ; world'))).toEqual([
      ['. . . Hello, ', ',', false],
      ['; world', '', true],
    ]);
  });

  it('makes an ellipsis of three dots: no terminator, no sentence end', () => {
    expect(summary(splitClauses('Wait... what'))).toEqual([
      ['Wait... ', '', false],
      ['what', '', true],
    ]);
    expect(summary(splitClauses('Wait… what'))).toEqual([
      ['Wait… ', '', false],
      ['what', '', true],
    ]);
    expect(summary(splitClauses('Two dots.. Then'))).toEqual([
      ['Two dots.. ', '.', true],
      ['Then', '', true],
    ]);
  });

  it('reads a run of ? and ! as its first mark', () => {
    expect(summary(splitClauses('What?! Really!?!'))).toEqual([
      ['What?! ', '?', true],
      ['Really!?!', '!', true],
    ]);
  });

  it('ends a sentence without terminator at a blank line, also after a mark', () => {
    expect(summary(splitClauses('One\nTwo'))).toEqual([['One\nTwo', '', true]]);
    expect(summary(splitClauses('One\n \nTwo'))).toEqual([
      ['One\n \n', '', true],
      ['Two', '', true],
    ]);
    expect(summary(splitClauses('Hello.\n\nWorld'))).toEqual([
      ['Hello.\n\n', '', true],
      ['World', '', true],
    ]);
    expect(summary(splitClauses('Comma,\n\nnext'))).toEqual([
      ['Comma,\n\n', '', true],
      ['next', '', true],
    ]);
    expect(summary(splitClauses('Why?\n\n\nBecause'))).toEqual([
      ['Why?\n\n\n', '', true],
      ['Because', '', true],
    ]);
  });

  it('ends a clause at a mark followed by a quote or bracket', () => {
    expect(summary(splitClauses('"Hello." She left.'))).toEqual([
      ['"Hello.', '.', true],
      ['" She left.', '.', true],
    ]);
  });

  it('knows dashes, inverted marks and CJK punctuation as espeak-ng does', () => {
    expect(summary(splitClauses('A — b – c'))).toEqual([
      ['A — ', ';', false],
      ['b – ', ';', false],
      ['c', '', true],
    ]);
    expect(summary(splitClauses('¿Qué? ¡Hola!'))).toEqual([
      ['¿Qué? ', '?', true],
      ['¡Hola!', '!', true],
    ]);
    // Marks that need no space after them keep a flag Piper's bridge does not mask off:
    // they end the clause (and the sentence) but give no terminator.
    expect(summary(splitClauses('你好。世界，你好！'))).toEqual([
      ['你好。', '', true],
      ['世界，', '', false],
      ['你好！', '', true],
    ]);
    expect(summary(splitClauses('مرحبا، كيف حالك؟ شكرا.'))).toEqual([
      ['مرحبا، ', ',', false],
      ['كيف حالك؟ ', '?', true],
      ['شكرا.', '.', true],
    ]);
  });

  it('cuts a clause longer than espeak-ng’s buffer after 725 bytes, at a word boundary', () => {
    const clauses = splitClauses('word '.repeat(400));
    expect(clauses.map((clause) => clause.text.length)).toEqual([730, 730, 540]);
    expect(summary(clauses).slice(0, 2)).toEqual([
      ['word '.repeat(146), '', false],
      ['word '.repeat(146), '', false],
    ]);
  });

  it('reads U+FFFD as "ï¿½", whose "¿" ends a clause, as espeak-ng does', () => {
    expect(summary(splitClauses('a\uFFFD b'))).toEqual([
      ['a', '', false],
      ['\uFFFD b', '', true],
    ]);
    expect(splitClauses('a\uFFFD b', { latin1CodePage: false })).toHaveLength(1);
  });

  it('applies the language options espeak-ng has for dots', () => {
    expect(splitClauses('Ludwig XIV. Er kam.')).toHaveLength(2);
    expect(splitClauses('Ludwig XIV. Er kam.', { ordinalDot: true })).toHaveLength(1);
    expect(splitClauses('Am 2. -kal.')).toHaveLength(2);
    expect(splitClauses('Am 2. -kal.', { ordinalDot: true })).toHaveLength(1);
    expect(splitClauses('ok. ok')).toHaveLength(1);
    expect(splitClauses('ok. ok', { lowercaseSentence: true })).toHaveLength(2);
  });

  it('returns one empty clause for an empty text, as espeak-ng reports it', () => {
    expect(summary(splitClauses(''))).toEqual([['', '', true]]);
  });

  it('gives back the whole text across its clauses', () => {
    for (const text of TRICKY_TEXTS) {
      expect(
        splitClauses(text)
          .map((clause) => clause.text)
          .join(''),
      ).toBe(text);
    }
  });

  describe('against espeak-ng', () => {
    let phonemizer: EspeakPhonemizer;
    let espeak: EspeakNg;

    beforeAll(async () => {
      phonemizer = await EspeakPhonemizer.create();
      espeak = await EspeakNg.create();
    });

    const espeakClauses = (text: string, voice: string): string[] => {
      expect(espeak.setVoice(voice)).toBe(true);
      return espeak.textToPhonemes(sanitizeForEspeak(text)).split(' | ');
    };

    it.each([
      'en-us',
      'en-gb-x-rp',
      'de',
      'fr',
      'es',
      'it',
      'pt-br',
      'nl',
      'pl',
      'ru',
      'ar',
      'fa',
      'hi',
      'cmn',
      'ka',
    ])('finds the clauses espeak-ng makes, voice %s', (voice) => {
      const disagreements = TRICKY_TEXTS.filter(
        (text) => phonemizer.splitClauses(text, voice).length !== espeakClauses(text, voice).length,
      );
      expect(disagreements).toEqual([]);
    });

    it.each(['en-us', 'de'])(
      'gets the same phonemes for a clause alone as for it inside the text, voice %s',
      (voice) => {
        const differences: string[] = [];
        // Not with U+FFFD: espeak-ng ends that clause inside the character, on its "¿" byte.
        for (const text of TRICKY_TEXTS.filter((t) => !t.includes('\uFFFD'))) {
          const inText = espeakClauses(text, voice);
          phonemizer.splitClauses(text, voice).forEach((clause, i) => {
            const alone = espeakClauses(clause.text, voice).join(' | ');
            if (alone !== inText[i]) differences.push(`${clause.text}: ${alone} / ${inText[i]}`);
          });
        }
        expect(differences).toEqual([]);
      },
    );
  });
});
