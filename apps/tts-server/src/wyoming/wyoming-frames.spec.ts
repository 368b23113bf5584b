import {
  encodeEvent,
  WYOMING_VERSION,
  WyomingFrameError,
  WyomingFrameParser,
  type WyomingEvent,
} from './wyoming-frames';

const MAX = 1024;

function parse(
  bytes: Buffer | Buffer[],
  max = MAX,
): { events: WyomingEvent[]; errors: WyomingFrameError[]; parser: WyomingFrameParser } {
  const events: WyomingEvent[] = [];
  const errors: WyomingFrameError[] = [];
  const parser = new WyomingFrameParser(
    max,
    (event) => events.push(event),
    (error) => errors.push(error),
  );
  for (const chunk of Array.isArray(bytes) ? bytes : [bytes]) parser.push(chunk);
  return { events, errors, parser };
}

describe(WyomingFrameParser.name, () => {
  it('reads what the reference library writes: header line, data run merged over header data, payload', () => {
    // As wyoming 1.9.0 async_write_event writes an audio-chunk (ensure_ascii=False).
    const data = Buffer.from(JSON.stringify({ rate: 22050, width: 2, channels: 1, note: 'héllo' }));
    const bytes = Buffer.concat([
      Buffer.from(
        `{"type": "audio-chunk", "data": {"timestamp": 5}, "version": "1.9.0", "data_length": ${data.length}, "payload_length": 4}\n`,
      ),
      data,
      Buffer.from([1, 2, 3, 4]),
    ]);
    const { events, errors } = parse(bytes);
    expect(errors).toEqual([]);
    expect(events).toEqual([
      {
        type: 'audio-chunk',
        data: { timestamp: 5, rate: 22050, width: 2, channels: 1, note: 'héllo' },
        payload: Buffer.from([1, 2, 3, 4]),
      },
    ]);
  });

  it('reads events split at every byte, and several events in one chunk', () => {
    const bytes = Buffer.concat([
      encodeEvent({ type: 'synthesize', data: { text: 'Größe – 語' } }),
      encodeEvent({ type: 'ping', data: {} }),
      encodeEvent({ type: 'audio-chunk', data: { rate: 1 }, payload: Buffer.from('\n\n{') }),
    ]);
    const byByte = parse([...bytes].map((byte) => Buffer.from([byte])));
    const whole = parse(bytes);
    expect(byByte.events).toEqual(whole.events);
    expect(whole.events.map((event) => event.type)).toEqual(['synthesize', 'ping', 'audio-chunk']);
    expect(whole.events[0].data.text).toBe('Größe – 語');
    expect(whole.events[2].payload).toEqual(Buffer.from('\n\n{'));
    expect(byByte.parser.idle).toBe(true);
  });

  it('skips a bad header line with a recoverable error and reads the next event', () => {
    const { events, errors } = parse(
      Buffer.concat([
        Buffer.from('nonsense\n[1]\n{"type": 3}\n'),
        encodeEvent({ type: 'ping', data: {} }),
      ]),
    );
    expect(errors.map((error) => [error.code, error.fatal])).toEqual([
      ['MALFORMED_HEADER', false],
      ['MALFORMED_HEADER', false],
      ['MALFORMED_HEADER', false],
    ]);
    expect(events.map((event) => event.type)).toEqual(['ping']);
  });

  it('skips the counted body of a header without a type', () => {
    const { events, errors } = parse(
      Buffer.concat([
        Buffer.from('{"data_length": 4}\nabcd'),
        encodeEvent({ type: 'ping', data: {} }),
      ]),
    );
    expect(errors.map((error) => error.code)).toEqual(['MALFORMED_HEADER']);
    expect(events.map((event) => event.type)).toEqual(['ping']);
  });

  it('refuses non-UTF-8 in a header or data, and data that is not a JSON object, and goes on', () => {
    const { events, errors } = parse(
      Buffer.concat([
        Buffer.from([0x7b, 0xff, 0x7d, 0x0a]),
        Buffer.from('{"type": "synthesize", "data_length": 2}\n'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('{"type": "synthesize", "data_length": 2}\n[]'),
        Buffer.from('{"type": "synthesize", "data_length": 1}\n{'),
        encodeEvent({ type: 'ping', data: {} }),
      ]),
    );
    expect(errors.map((error) => [error.code, error.fatal])).toEqual([
      ['INVALID_UTF8', false],
      ['INVALID_UTF8', false],
      ['MALFORMED_DATA', false],
      ['MALFORMED_DATA', false],
    ]);
    expect(events.map((event) => event.type)).toEqual(['ping']);
  });

  it.each([
    ['negative', '{"type": "x", "data_length": -1}\n', 'MALFORMED_HEADER'],
    ['fractional', '{"type": "x", "payload_length": 0.5}\n', 'MALFORMED_HEADER'],
    ['a string', '{"type": "x", "data_length": "3"}\n', 'MALFORMED_HEADER'],
    ['beyond the bound', `{"type": "x", "payload_length": ${MAX + 1}}\n`, 'EVENT_TOO_LARGE'],
  ])('stops at a length that is %s: fatal, nothing read after it', (_, line, code) => {
    const { events, errors } = parse(
      Buffer.concat([Buffer.from(line), encodeEvent({ type: 'ping', data: {} })]),
    );
    expect(errors.map((error) => [error.code, error.fatal])).toEqual([[code, true]]);
    expect(events).toEqual([]);
  });

  it('stops at a header line longer than the bound, without waiting for its end', () => {
    const { errors, parser } = parse([Buffer.alloc(MAX / 2, 0x41), Buffer.alloc(MAX, 0x41)]);
    expect(errors.map((error) => [error.code, error.fatal])).toEqual([['EVENT_TOO_LARGE', true]]);
    expect(parser.pendingBytes).toBe(0);
  });

  it('tells a partial event from none (what the idle timeout reports)', () => {
    expect(parse(Buffer.from('{"type": "pi')).parser.idle).toBe(false);
    expect(parse(Buffer.from('{"type": "x", "data_length": 5}\n{')).parser.idle).toBe(false);
    expect(parse(encodeEvent({ type: 'ping', data: {} })).parser.idle).toBe(true);
  });
});

describe(encodeEvent.name, () => {
  it('writes the header the reference library reads: type, version, lengths; data and payload after it', () => {
    const bytes = encodeEvent({
      type: 'audio-chunk',
      data: { rate: 22050, width: 2, channels: 1 },
      payload: Buffer.from([9, 8]),
    });
    const newline = bytes.indexOf(0x0a);
    const header = JSON.parse(bytes.subarray(0, newline).toString()) as Record<string, unknown>;
    const data = Buffer.from(JSON.stringify({ rate: 22050, width: 2, channels: 1 }));
    expect(header).toEqual({
      type: 'audio-chunk',
      version: WYOMING_VERSION,
      data_length: data.length,
      payload_length: 2,
    });
    expect(bytes.subarray(newline + 1, newline + 1 + data.length)).toEqual(data);
    expect(bytes.subarray(newline + 1 + data.length)).toEqual(Buffer.from([9, 8]));
  });

  it('leaves out empty data and payload, as the reference library does', () => {
    expect(encodeEvent({ type: 'audio-stop', data: {} }).toString()).toBe(
      `{"type":"audio-stop","version":"${WYOMING_VERSION}"}\n`,
    );
  });
});
