import { HOSTILE_DOCUMENTS } from './hostile-documents';
import { SsmlSyntaxError, SsmlTooLargeError, SsmlUnsupportedError } from './ssml-errors';
import type { SsmlSpeech } from './ssml-document';
import { looksLikeSsml, parseSsml, speechText, speechTextOffset } from './ssml-parser';

const parse = (markup: string, strict = true) =>
  parseSsml(markup, { maxMarkupLength: 100_000, strict });

const speech = (markup: string): SsmlSpeech[] =>
  parse(markup).segments.filter((segment): segment is SsmlSpeech => segment.type === 'speech');

const texts = (markup: string, voice = 'en-us'): string[] =>
  speech(markup).map((segment) => speechText(segment, voice));

describe('parseSsml', () => {
  it('keeps prose with inline elements as one segment of plain text', () => {
    expect(
      texts(
        '<speak><p><s>I like <sub alias="the World Wide Web">WWW</sub>.</s> <s>Say <phoneme alphabet="ipa" ph="həˈloʊ">hello</phoneme> now.</s></p></speak>',
      ),
    ).toEqual(['I like the World Wide Web. Say [[həˈloʊ]] now.']);
  });

  it('cuts at a change of rate, volume or voice, and turns rates into length_scale factors', () => {
    const segments = parse(
      '<speak>One. <prosody rate="50%">Two.</prosody> <prosody volume="-6dB" rate="x-fast">Three.</prosody> <voice name="other">Four.</voice></speak>',
    ).segments as SsmlSpeech[];
    expect(segments.map((s) => speechText(s, 'en-us').trim())).toEqual([
      'One.',
      'Two.',
      'Three.',
      'Four.',
    ]);
    expect(segments.map((s) => s.lengthScaleFactor)).toEqual([1, 2, 1 / 1.6, 1]);
    expect(segments[2].volumeFactor).toBeCloseTo(0.501, 3);
    expect(segments[3].voice).toEqual({ name: 'other', language: undefined });
  });

  it('gives breaks their exact seconds and strengths, and pauses between paragraphs', () => {
    const { segments } = parse(
      '<speak><p>A.<break time="500ms"/>B.<break strength="x-strong"/><break time="1s"/></p><p>C.</p></speak>',
    );
    expect(segments.map((s) => (s.type === 'break' ? s.seconds : s.type))).toEqual([
      'speech',
      0.5,
      'speech',
      1.2 + 1 + 0.7,
      'speech',
    ]);
  });

  it('makes a <s> without a terminator a sentence of its own', () => {
    const segments = speech('<speak><s>First line</s><s>Second line</s></speak>');
    expect(segments.map((s) => speechText(s, 'en-us'))).toEqual(['First line', 'Second line']);
    expect(segments.every((s) => s.endsSentence)).toBe(true);
  });

  it('keeps punctuation after an element with the text before it', () => {
    expect(texts('<speak>Hello <prosody rate="slow">world</prosody>. <break/> , </speak>')).toEqual(
      ['Hello ', 'world. '],
    );
  });

  it('says which text continues the sentence (no sentence silence inside one)', () => {
    const segments = speech('<speak>Hello <emphasis>dear</emphasis> friend.</speak>');
    expect(segments.map((s) => [s.lengthScaleFactor, s.endsSentence])).toEqual([
      [1, false],
      [1 / 0.85, false],
      [1, true],
    ]);
  });

  it('shapes say-as for espeak-ng per language', () => {
    const say = (kind: string, content: string, voice = 'en-us', format = '') =>
      texts(
        `<speak><say-as interpret-as="${kind}"${format ? ` format="${format}"` : ''}>${content}</say-as></speak>`,
        voice,
      )[0];
    expect(say('characters', 'cat')).toBe('c.a.t');
    expect(say('spell-out', 'ab 12')).toBe('a.b, 1 2');
    expect(say('digits', '2024')).toBe('2 0 2 4');
    expect(say('cardinal', '1,234')).toBe('1,234');
    expect(say('ordinal', '22')).toBe('22nd');
    expect(say('ordinal', '13')).toBe('13th');
    expect(say('ordinal', '3', 'de')).toBe('3.');
    expect(say('ordinal', '1', 'fr-fr')).toBe('1er');
    expect(say('date', '2024-03-05')).toBe('March 5th, 2024');
    expect(say('date', '05/03/2024', 'en-gb', 'dmy')).toBe('March 5th, 2024');
    expect(say('telephone', '+1 555-1234')).toBe('+ 1, 5 5 5, 1 2 3 4');
  });

  it('counts the spoken text, not the markup', () => {
    const doc = parse(
      '<speak><prosody rate="slow" volume="loud">Hi</prosody> <sub alias="Doctor">Dr.</sub> <phoneme ph="ab">x</phoneme></speak>',
    );
    expect(doc.spokenLength).toBe('Hi'.length + 'Doctor'.length + 'ab'.length);
  });

  it('keeps marks with where they are: in the text a segment speaks, or at a segment start', () => {
    const doc = parse(
      '<speak><mark name="start"/>Hi <mark name="here"/>there. <say-as interpret-as="characters">ab</say-as><mark name="after"/><break time="1s"/><mark name="between"/><break time="1s"/>Bye.<mark name="end"/></speak>',
    );
    expect(doc.marks).toEqual([
      { name: 'start', segmentIndex: 0, pieceIndex: 0, pieceOffset: 0 },
      { name: 'here', segmentIndex: 0, pieceIndex: 0, pieceOffset: 3 },
      { name: 'after', segmentIndex: 0, pieceIndex: 2, pieceOffset: 0 },
      { name: 'between', segmentIndex: 2, pieceIndex: 0, pieceOffset: 0 },
      { name: 'end', segmentIndex: 3, pieceIndex: 0, pieceOffset: 4 },
    ]);
    // The mark between the two breaks keeps them two segments.
    expect(doc.segments.map((segment) => segment.type)).toEqual([
      'speech',
      'break',
      'break',
      'speech',
    ]);
    const [first] = doc.segments as SsmlSpeech[];
    const text = speechText(first, 'en-us');
    expect(text.slice(0, speechTextOffset(first, 'en-us', doc.marks[1]))).toBe('Hi ');
    expect(speechTextOffset(first, 'en-us', doc.marks[2])).toBe(text.length);
  });

  it('reports what it ignores: pitch, and unknown elements when not strict', () => {
    expect(parse('<speak><prosody pitch="+10%">x</prosody></speak>').warnings).toEqual([
      '<prosody pitch> has no Piper control and was ignored',
    ]);
    const lax = parse('<speak><audio src="a.wav">fallback</audio> <foo>bar</foo></speak>', false);
    expect(speechText(lax.segments[0] as SsmlSpeech, 'en-us')).toBe('fallback bar');
    expect(lax.warnings).toEqual([
      '<audio> is not supported: its content was spoken as text',
      '<foo> is not supported: its content was spoken as text',
    ]);
  });

  it('names every unsupported element when strict', () => {
    expect(() => parse('<speak><audio src="a.wav"/><foo>x</foo><audio/></speak>')).toThrow(
      new SsmlUnsupportedError(['audio', 'foo']),
    );
  });

  it('reports line and column of a syntax error', () => {
    let error: unknown;
    try {
      parse('<speak>\n  Hello <prosody rate="fast">world\n</speak>');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SsmlSyntaxError);
    expect((error as SsmlSyntaxError).position).toEqual({ line: 3, column: 8 });
    expect((error as SsmlSyntaxError).message).toMatch(/^invalid SSML at line 3, column 8: /);
  });

  it('refuses markup beyond its bound before parsing it', () => {
    expect(() => parseSsml(`<speak>${'a'.repeat(200)}</speak>`, { maxMarkupLength: 100 })).toThrow(
      SsmlTooLargeError,
    );
  });

  it.each(HOSTILE_DOCUMENTS.map((doc) => [doc.name, doc.markup]))(
    'refuses a hostile document: %s',
    (_name, markup) => {
      let error: unknown;
      try {
        parseSsml(markup, { maxMarkupLength: 1_000_000 });
      } catch (caught) {
        error = caught;
      }
      expect(
        error instanceof SsmlSyntaxError ||
          error instanceof SsmlTooLargeError ||
          error instanceof SsmlUnsupportedError,
      ).toBe(true);
    },
  );

  it('has forty hostile documents', () => {
    expect(HOSTILE_DOCUMENTS).toHaveLength(40);
  });

  it('tells SSML from text', () => {
    expect(looksLikeSsml('<speak>Hi</speak>')).toBe(true);
    expect(looksLikeSsml('  <?xml version="1.0"?>\n<speak version="1.1">Hi</speak>')).toBe(true);
    expect(looksLikeSsml('<speaker> is a word')).toBe(false);
    expect(looksLikeSsml('Say <speak>')).toBe(false);
  });
});
