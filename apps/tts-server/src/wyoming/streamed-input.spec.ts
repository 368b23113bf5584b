import { SsmlTooLargeError } from '@app/ssml';
import { StreamedInput } from './streamed-input';

describe(StreamedInput.name, () => {
  it('speaks text sentence by sentence as the chunks complete it', () => {
    const input = new StreamedInput(500, 1000, undefined);
    expect(input.add('Hello there. ')).toEqual([]);
    expect(input.add('How are you?')).toEqual([{ text: 'Hello there. ', ssml: false }]);
    expect(input.finish()).toEqual([{ text: 'How are you?', ssml: false }]);
  });

  it('keeps an SSML document, declared or starting with <speak, until the end', () => {
    for (const [declared, chunks] of [
      [true, ['<speak>One. ', 'Two.</speak>']],
      [undefined, ['  <spe', 'ak>One. Two. ', 'Three.</speak>']],
      [undefined, ['<?xml version="1.0"?>', '<speak>One. Two.</speak>']],
    ] as const) {
      const input = new StreamedInput(500, 1000, declared);
      for (const chunk of chunks) expect(input.add(chunk)).toEqual([]);
      expect(input.finish()).toEqual([{ text: chunks.join(''), ssml: true }]);
    }
  });

  it('reads a start that is not <speak as text, and a short start too', () => {
    const input = new StreamedInput(500, 1000, undefined);
    expect(input.add('<sp')).toEqual([]);
    expect(input.add('an> is a tag. Then')).toEqual([{ text: '<span> is a tag. ', ssml: false }]);
    const short = new StreamedInput(500, 1000, undefined);
    expect(short.add('<')).toEqual([]);
    expect(short.finish()).toEqual([{ text: '<', ssml: false }]);
  });

  it('refuses SSML beyond MAX_SSML_LENGTH as soon as it is streamed', () => {
    const input = new StreamedInput(500, 20, true);
    expect(input.add('<speak>Hello ')).toEqual([]);
    expect(() => input.add('world, and more.</speak>')).toThrow(SsmlTooLargeError);
  });
});
