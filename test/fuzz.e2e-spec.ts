/**
 * Property-based fuzzing of the JSON routes with fast-check: bodies generated from the
 * DTOs' fields (POST /tts, POST /phonemize, POST /v1/audio/speech) and mutated (wrong
 * types, nesting, unicode, sizes near the limits, prototype keys, unknown keys, bodies
 * that are not JSON or not objects). Whatever arrives, the server answers below 500,
 * every 4xx in the route's error shape, and stays healthy.
 *
 * Bodies are sampled up front (a fixed seed, so a failure repeats) and sent in
 * concurrent batches on the fast test voice.
 */
import fc from 'fast-check';
import request from 'supertest';
import { errorShapeProblem } from './support/error-shape';
import { useTestServer } from './support/test-server';

const MAX_TEXT_LENGTH = 120;
const BODIES_PER_ROUTE = 700;
const BATCH = 16;
const SEED = 19;

/** Names an attacker tries on a lookup: Object.prototype's members and friends. */
const PROTOTYPE_NAMES = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
  'isPrototypeOf',
];

/** Any JSON value: scalars, nesting, unicode strings. */
const anyJson = fc.jsonValue({ maxDepth: 4 });

/** A string users or attackers send: unicode, prototype names, control characters, sizes. */
const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(...PROTOTYPE_NAMES, '', '   ', '\u0000\u0001', '[[ h ə l ]]', 'Hello world.'),
  fc.integer({ min: MAX_TEXT_LENGTH - 2, max: MAX_TEXT_LENGTH + 2 }).map((n) => 'a'.repeat(n)),
);

/** A field's value: mostly the right kind, sometimes anything at all. */
function field<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: anyJson });
}

const number = fc.oneof(
  fc.double({ min: -5, max: 30, noNaN: true }),
  fc.constantFrom(0, 1, 0.05, 20, 100, -1, 1e308, Number.MIN_VALUE),
);
const voiceName = fc.constantFrom('test-voice', 'multi-voice', 'nope', ...PROTOTYPE_NAMES);

/** Text a voice speaks: a few words. */
const words = fc.lorem({ maxCount: 6 });

/** Each route's fields with values it accepts (the valid side of the generators). */
const synthesizeValid = {
  text: words,
  model: fc.constantFrom('test-voice', 'multi-voice'),
  speaker_id: fc.constantFrom('0', 0),
  length_scale: fc.double({ min: 0.5, max: 2, noNaN: true }),
  noise_scale: fc.double({ min: 0, max: 1, noNaN: true }),
  noise_w: fc.double({ min: 0, max: 1, noNaN: true }),
  sentence_silence: fc.double({ min: 0, max: 0.3, noNaN: true }),
  volume: fc.double({ min: 0, max: 2, noNaN: true }),
  stream: fc.boolean(),
  format: fc.constantFrom('wav', 'pcm', 'mp3', 'opus', 'flac', 'aac'),
};
const phonemizeValid = { text: synthesizeValid.text, model: synthesizeValid.model };
const speechValid = {
  model: fc.constantFrom('tts-1', 'tts-1-hd', 'test-voice'),
  input: words,
  voice: fc.constantFrom('alloy', 'nova', 'multi-voice:1', 'test-voice'),
  response_format: fc.constantFrom('mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'),
  speed: fc.double({ min: 0.25, max: 4, noNaN: true }),
  stream_format: fc.constantFrom('audio', 'sse'),
  instructions: fc.string({ maxLength: 20 }),
};

/** The same fields mutated: hostile strings and numbers, or any JSON value. */
const synthesizeFields = {
  text: field(text),
  model: field(voiceName),
  speaker_id: field(
    fc.oneof(fc.constantFrom('0', '1', '2', '9', 'default', ...PROTOTYPE_NAMES), fc.nat(5)),
  ),
  length_scale: field(number),
  noise_scale: field(number),
  noise_w: field(number),
  sentence_silence: field(number),
  volume: field(number),
  stream: field(fc.boolean()),
  format: field(fc.constantFrom('wav', 'pcm', 'mp3', 'opus', 'flac', 'aac', ...PROTOTYPE_NAMES)),
};
const phonemizeFields = { text: synthesizeFields.text, model: synthesizeFields.model };
const speechFields = {
  model: field(fc.constantFrom('tts-1', 'tts-1-hd', 'test-voice', ...PROTOTYPE_NAMES)),
  input: field(text),
  voice: field(
    fc.constantFrom(
      'alloy',
      'nova',
      'multi-voice:1',
      'test-voice',
      'multi-voice:9',
      ...PROTOTYPE_NAMES,
    ),
  ),
  response_format: field(fc.constantFrom('mp3', 'opus', 'aac', 'flac', 'wav', 'pcm', 'ogg')),
  speed: field(number),
  stream_format: field(fc.constantFrom('audio', 'sse', 'chunks')),
  instructions: field(fc.string({ maxLength: 20 })),
};

/** Bodies of a route: its DTO with some fields, mutated, as JSON text or something else. */
function bodies(
  valid: Record<string, fc.Arbitrary<unknown>>,
  fields: Record<string, fc.Arbitrary<unknown>>,
  required: string,
): fc.Arbitrary<string> {
  const accepted = fc
    .record(valid, { requiredKeys: [required] })
    .map((body) => JSON.stringify(body));
  const object = fc
    .tuple(
      fc.record(fields, { requiredKeys: [] }),
      // Unknown and prototype keys beside the real ones.
      fc.dictionary(
        fc.oneof(fc.constantFrom(...PROTOTYPE_NAMES), fc.string({ maxLength: 8 })),
        anyJson,
        {
          maxKeys: 3,
        },
      ),
      fc.boolean(),
    )
    .map(([known, extra, withExtra]) => JSON.stringify(withExtra ? { ...extra, ...known } : known));
  const prototypeKeyed = fc
    .tuple(fc.record(fields, { requiredKeys: [] }), fc.constantFrom(...PROTOTYPE_NAMES), anyJson)
    // JSON.stringify drops a "__proto__" key set by assignment: write it into the text.
    .map(([known, name, value]) => {
      const rest = JSON.stringify(known).slice(1);
      return `{${JSON.stringify(name)}:${JSON.stringify(value)}${rest === '}' ? '}' : `,${rest}`}`;
    });
  const deep = fc
    .integer({ min: 5, max: 3000 })
    .map((levels) => `{"text":${'['.repeat(levels)}${']'.repeat(levels)}}`);
  const notAnObject = anyJson.map((value) => JSON.stringify(value));
  const notJson = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.constantFrom(
      '{',
      '{"text":',
      '{"text":"hi",}',
      'null',
      '[]',
      '"text"',
      '{"text":"\\ud800"}',
    ),
  );
  return fc.oneof(
    { weight: 6, arbitrary: accepted },
    { weight: 10, arbitrary: object },
    { weight: 2, arbitrary: prototypeKeyed },
    { weight: 1, arbitrary: deep },
    { weight: 2, arbitrary: notAnObject },
    { weight: 2, arbitrary: notJson },
  );
}

describe('Fuzzed request bodies', () => {
  const server = useTestServer({
    DEFAULT_MODEL: 'test-voice',
    MAX_TEXT_LENGTH: String(MAX_TEXT_LENGTH),
    RATE_LIMIT_REQUESTS: '1000000',
    TTS_RATE_LIMIT_REQUESTS: '1000000',
    MAX_QUEUE: '1000',
    WORKERS: '2',
  });

  it(`answers ${3 * BODIES_PER_ROUTE} generated bodies below 500, every error in its route's shape`, async () => {
    const cases = (
      [
        ['/tts', bodies(synthesizeValid, synthesizeFields, 'text')],
        ['/phonemize', bodies(phonemizeValid, phonemizeFields, 'text')],
        ['/v1/audio/speech', bodies(speechValid, speechFields, 'input')],
      ] as const
    ).flatMap(([path, arbitrary]) =>
      fc
        .sample(arbitrary, { numRuns: BODIES_PER_ROUTE, seed: SEED })
        .map((body) => ({ path, body })),
    );
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    for (let start = 0; start < cases.length; start += BATCH) {
      await Promise.all(
        cases.slice(start, start + BATCH).map(async ({ path, body }) => {
          const res = await request(server.url)
            .post(path)
            .set('Content-Type', 'application/json')
            .send(body)
            .buffer(true)
            .parse((response, done) => {
              const chunks: Buffer[] = [];
              response.on('data', (chunk: Buffer) => chunks.push(chunk));
              response.on('end', () => done(null, Buffer.concat(chunks)));
            });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const answer = {
            status: res.status,
            headers: res.headers,
            text: (res.body as Buffer).toString('utf8'),
          };
          const problem =
            res.status >= 500
              ? `status ${res.status}: ${answer.text.slice(0, 200)}`
              : res.status >= 400
                ? errorShapeProblem(answer, path)
                : undefined;
          if (problem) problems.push(`${path} ${body.slice(0, 300)} → ${problem}`);
        }),
      );
    }
    expect(problems).toEqual([]);
    // The generators reach both sides: served bodies and refused ones.
    expect(statuses.get(200)).toBeGreaterThan(100);
    expect(statuses.get(400)).toBeGreaterThan(100);

    await request(server.url).get('/health/ready').expect(200);
    const wav = await request(server.url).post('/tts').send({ text: 'Still here.' });
    expect(wav.status).toBe(200);
    expect(wav.headers['content-type']).toMatch(/^audio\/wav/);
  });
});
