/**
 * POST /tts with timestamps: JSON with the audio and its word and phoneme times, the
 * same audio as without; captions (vtt, srt) cached like audio; Server-Sent Events per
 * sentence; 400 for combinations that cannot be answered.
 */
import request from 'supertest';
import { decodeWav } from '@app/piper';
import { binary } from './support/processes';
import { UNLIMITED_RATE, useTestServer } from './support/test-server';

interface TimestampsJson {
  audio: string;
  format: string;
  sample_rate: number;
  duration: number;
  words: Array<{ text: string; start: number; end: number; char_start: number; char_end: number }>;
  phonemes: Array<{ phoneme: string; start: number; end: number }>;
}

describe('POST /tts timestamps', () => {
  const server = useTestServer({ ...UNLIMITED_RATE, DEFAULT_MODEL: 'test-voice' });

  // Leading space and a decomposed é: offsets are in code points of the text as sent.
  const text = '  Cafe\u0301 opens at 9. Come, friend!';

  it('answers JSON whose audio is the plain audio and whose words slice the text', async () => {
    const body = { text, sentence_silence: 0.3 };
    const plain = await request(server.url)
      .post('/tts')
      .send(body)
      .buffer(true)
      .parse(binary)
      .expect(200);
    const timed = await request(server.url)
      .post('/tts')
      .send({ ...body, timestamps: true })
      .expect(200)
      .expect('Content-Type', /application\/json/);
    const json = timed.body as TimestampsJson;
    const audio = Buffer.from(json.audio, 'base64');
    expect(audio).toEqual(plain.body);
    const wav = decodeWav(audio);
    expect(json.sample_rate).toBe(wav.sampleRate);
    expect(json.duration).toBeCloseTo(wav.pcm.length / wav.sampleRate, 6);
    const points = Array.from(text);
    expect(json.words.map((word) => points.slice(word.char_start, word.char_end).join(''))).toEqual(
      ['Cafe\u0301', 'opens', 'at', '9', 'Come', 'friend'],
    );
    let last = 0;
    for (const word of json.words) {
      expect(word.start).toBeGreaterThanOrEqual(last);
      expect(word.end).toBeGreaterThan(word.start);
      last = word.end;
    }
    expect(last).toBeLessThanOrEqual(json.duration);
    // The second sentence starts after the first one's speech and its 0.3 s of silence.
    const secondStart = json.phonemes.filter((p) => p.phoneme === '^')[1].start;
    const firstEnd = json.phonemes.filter((p) => p.phoneme === '$')[0].end;
    expect(secondStart - firstEnd).toBeCloseTo(0.3, 3);
  });

  it('answers WebVTT and SubRip captions, the second time from the cache', async () => {
    const vtt = await request(server.url)
      .post('/tts')
      .send({ text: 'Hello world. Goodbye now.', format: 'vtt' })
      .expect(200)
      .expect('Content-Type', /text\/vtt/)
      .expect('X-Cache', 'MISS');
    expect(vtt.text).toMatch(/^WEBVTT\n\n00:00:00\.\d{3} --> 00:00:0\d\.\d{3}\nHello world\n\n/);
    expect(vtt.text).toContain('\nGoodbye now\n');
    await request(server.url)
      .post('/tts')
      .send({ text: 'Hello world. Goodbye now.', format: 'vtt' })
      .expect(200)
      .expect('X-Cache', 'HIT');
    const srt = await request(server.url)
      .get('/tts')
      .query({ text: 'Hello world.', format: 'srt' })
      .expect(200)
      .expect('Content-Type', /application\/x-subrip/);
    expect(srt.text).toMatch(/^1\n00:00:00,\d{3} --> 00:00:0\d,\d{3}\nHello world\n$/);
  });

  it('streams an audio and a timestamps event per sentence', async () => {
    const response = await request(server.url)
      .post('/tts')
      .send({ text: 'One sentence. Another one.', stream: true, timestamps: true })
      .buffer(true)
      .parse(binary)
      .expect(200)
      .expect('Content-Type', /text\/event-stream/);
    const events = (response.body as Buffer)
      .toString('utf8')
      .split('\n\n')
      .filter(Boolean)
      .map((block: string) => ({
        name: /^event: (.*)$/m.exec(block)?.[1],
        data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null') as Record<string, unknown>,
      }));
    expect(events.map((event) => event.name)).toEqual([
      'audio',
      'timestamps',
      'audio',
      'timestamps',
      'done',
    ]);
    const second = events[3].data as unknown as TimestampsJson;
    const firstAudio = Buffer.from(events[0].data.audio as string, 'base64');
    expect(second.words[0].text).toBe('Another');
    expect(second.phonemes[0].start).toBeCloseTo(firstAudio.length / 2 / 22050, 6);
  });

  it.each([
    [{ format: 'vtt', stream: true }, /cannot be streamed/],
    [{ format: 'srt', timestamps: true }, /leave timestamps unset/],
    [{ format: 'mp3', timestamps: true }, /encoder delays the audio/],
    [{ format: 'wav', timestamps: true, stream: true }, /use format pcm/],
  ])('refuses %j with 400 and the reason', async (options, reason) => {
    const response = await request(server.url)
      .post('/tts')
      .send({ text: 'Hello.', ...options })
      .expect(400);
    expect((response.body as { message: string }).message).toMatch(reason);
  });

  it('documents the JSON, the captions and the event stream in /docs-json, as they are served', async () => {
    interface MediaTypes {
      content: Record<string, { schema: { $ref?: string; type?: string } }>;
    }
    interface Schema {
      required?: string[];
      properties: Record<string, { type?: string; $ref?: string; items?: { $ref?: string } }>;
    }
    const doc = (await request(server.url).get('/docs-json').expect(200)).body as {
      paths: Record<string, Record<string, { responses: Record<string, MediaTypes> }>>;
      components: { schemas: Record<string, Schema> };
    };
    const post = doc.paths['/tts'].post.responses['200'].content;
    const get = doc.paths['/tts'].get.responses['200'].content;
    expect(Object.keys(post)).toEqual(
      expect.arrayContaining([
        'audio/wav',
        'application/json',
        'text/vtt',
        'application/x-subrip',
        'text/event-stream',
      ]),
    );
    // GET has no timestamps (a link an <audio> or <track> element loads): captions only.
    expect(Object.keys(get)).toEqual(
      expect.arrayContaining(['audio/wav', 'text/vtt', 'application/x-subrip']),
    );
    expect(Object.keys(get)).not.toContain('application/json');
    expect(Object.keys(get)).not.toContain('text/event-stream');
    expect(post['audio/wav'].schema).toEqual({ type: 'string', format: 'binary' });
    expect(post['text/vtt'].schema.type).toBe('string');

    // The JSON's schema names every field the body has, words and phonemes by their own.
    const ref = post['application/json'].schema.$ref ?? '';
    const schemaOf = (path: string): Schema =>
      doc.components.schemas[path.replace('#/components/schemas/', '')];
    const body = schemaOf(ref);
    expect(Object.keys(body.properties).sort()).toEqual(
      ['audio', 'duration', 'format', 'marks', 'phonemes', 'sample_rate', 'text', 'words'].sort(),
    );
    // Required: what every answer has; SSML's spoken text and marks are the optional two.
    expect([...(body.required ?? [])].sort()).toEqual(
      ['audio', 'duration', 'format', 'phonemes', 'sample_rate', 'words'].sort(),
    );
    const word = schemaOf(body.properties.words.items?.$ref ?? '');
    expect(Object.keys(word.properties).sort()).toEqual(
      ['char_end', 'char_start', 'end', 'start', 'text'].sort(),
    );
    const phoneme = schemaOf(body.properties.phonemes.items?.$ref ?? '');
    expect(Object.keys(phoneme.properties).sort()).toEqual(['end', 'phoneme', 'start']);
    // The event stream's events name their payloads' schemas, each in the document.
    const events = (post['text/event-stream'].schema as { description?: string }).description;
    const eventSchemas = [...(events ?? '').matchAll(/#\/components\/schemas\/(\w+)/g)];
    expect(eventSchemas.map((match) => match[1])).toHaveLength(4);
    for (const [path] of eventSchemas) expect(schemaOf(path).properties).toBeDefined();
    const served = await request(server.url).post('/tts').send({ text: 'Hi.', timestamps: true });
    expect(Object.keys(served.body as object).sort()).toEqual([...(body.required ?? [])].sort());
    const ssml = await request(server.url)
      .post('/tts')
      .send({ text: '<speak>Hi <mark name="m"/>there.</speak>', timestamps: true })
      .expect(200);
    expect(Object.keys(ssml.body as object).sort()).toEqual(Object.keys(body.properties).sort());

    // Every body POST /tts answers has its media type documented.
    const mediaTypeOf = (contentType: string | undefined): string =>
      (contentType ?? '').split(';')[0].trim();
    for (const options of [
      { timestamps: true },
      { format: 'vtt' },
      { format: 'srt' },
      { stream: true, timestamps: true },
    ]) {
      const response = await request(server.url)
        .post('/tts')
        .send({ text: 'Hi.', ...options })
        .buffer(true)
        .parse(binary)
        .expect(200);
      expect(Object.keys(post)).toContain(mediaTypeOf(response.headers['content-type']));
    }
  });
});
