import { boundedPieces, SentenceStream } from './sentence-stream';

describe(SentenceStream.name, () => {
  it('hands out a sentence once text of the next one has arrived', () => {
    const stream = new SentenceStream(500);
    expect(stream.add('Hello there')).toEqual([]);
    expect(stream.add('. ')).toEqual([]);
    expect(stream.add('How')).toEqual(['Hello there. ']);
    expect(stream.add(' are you? I am')).toEqual(['How are you? ']);
    expect(stream.finish()).toEqual(['I am']);
  });

  it('waits where the next character decides: an abbreviation before a lower-case word, a number', () => {
    const stream = new SentenceStream(500);
    expect(stream.add('Ask Mr. ')).toEqual([]);
    expect(stream.add('smith. Pi is 3.')).toEqual(['Ask Mr. smith. ']);
    expect(stream.add('14 today. Done')).toEqual(['Pi is 3.14 today. ']);
  });

  it('speaks a run-on text in pieces of at most the bound, cut at clause ends or spaces', () => {
    const stream = new SentenceStream(20);
    const pieces = stream.add('one two three four, five six seven eight nine ten eleven');
    const rest = stream.finish();
    for (const piece of [...pieces, ...rest]) expect([...piece].length).toBeLessThanOrEqual(21);
    expect([...pieces, ...rest].join('')).toBe(
      'one two three four, five six seven eight nine ten eleven',
    );
    expect(pieces[0]).toBe('one two three four, ');
  });

  it('drops pieces with nothing to speak', () => {
    const stream = new SentenceStream(500);
    expect(stream.add('   ')).toEqual([]);
    expect(stream.finish()).toEqual([]);
  });
});

describe(boundedPieces.name, () => {
  it('never cuts inside a surrogate pair', () => {
    const pieces = boundedPieces('😀'.repeat(10), 3);
    expect(pieces.join('')).toBe('😀'.repeat(10));
    for (const piece of pieces) expect(piece).not.toMatch(/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/);
  });
});
