/**
 * The Wyoming protocol as Home Assistant speaks it: the real server (real workers, the
 * project's generated voices) driven by the real Python client library, wyoming 1.9.0
 * from ../shared/peer-fixtures/wyoming (skipped, saying so, where it is absent), and by
 * a raw socket for malformed input.
 */
import { writeFile, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { writeTestVoice } from '@app/piper';
import { PiperEngine, type EngineSentence } from '../apps/tts-server/src/engine/piper-engine';
import { encodeEvent } from '../apps/tts-server/src/wyoming/wyoming-frames';
import { WyomingZeroconf } from '../apps/tts-server/src/wyoming/wyoming-zeroconf';
import { freePort, listenOnLoopback, waitFor } from './support/processes';
import { describeUnless } from './support/skips';
import { makeModelDir, removeDir, startServer } from './support/test-server';
import {
  audioOf,
  listenWyoming,
  rawExchange,
  runWyomingClient,
  wyomingLibraryAvailable,
  WYOMING_LIBRARY,
  type ClientLine,
} from './support/wyoming';

const UNLIMITED_RATE = { RATE_LIMIT_REQUESTS: '10000', TTS_RATE_LIMIT_REQUESTS: '10000' };
const THREE_SENTENCES =
  'The first sentence is here. The second one follows it. And a third ends it.';

/** Where the reference client library is absent, every test here is skipped, saying so. */
const describeWithClient = describeUnless(
  wyomingLibraryAvailable()
    ? undefined
    : `the wyoming client library is not at ${WYOMING_LIBRARY} (../shared/peer-fixtures/wyoming)`,
);

async function postPcm(url: string, body: Record<string, unknown>): Promise<Buffer> {
  const res = await fetch(`${url}/tts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ format: 'pcm', ...body }),
  });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** Sets a voice's inference defaults to noise 0, so that its audio is the same each time. */
async function withoutNoise(configPath: string): Promise<void> {
  const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  config.inference = { noise_scale: 0, length_scale: 1, noise_w: 0 };
  await writeFile(configPath, JSON.stringify(config));
}

/**
 * Holds the engine's sentences from index `from` on until `release` settles: what the
 * server can send before then was synthesized before those sentences were delivered.
 */
function holdSentences(app: NestExpressApplication, from: number, release: Promise<void>): void {
  const engine = app.get(PiperEngine);
  const synthesize = engine.synthesize.bind(engine);
  jest.spyOn(engine, 'synthesize').mockImplementation((request, signal) =>
    (async function* (): AsyncGenerator<EngineSentence> {
      for await (const sentence of synthesize(request, signal)) {
        if (sentence.index >= from) await release;
        yield sentence;
      }
    })(),
  );
}

function typesOf(lines: ClientLine[]): string[] {
  return lines.filter((line) => line.type).map((line) => line.type!);
}

describeWithClient('Wyoming protocol (real wyoming client)', () => {
  let modelDir: string;
  let app: NestExpressApplication;
  let url: string;
  let port: number;

  beforeAll(async () => {
    modelDir = await makeModelDir();
    await withoutNoise(join(modelDir, 'test-voice.onnx.json'));
    await withoutNoise(join(modelDir, 'multi-voice', 'multi-voice.onnx.json'));
    app = await startServer({
      ...UNLIMITED_RATE,
      MODEL_DIR: modelDir,
      DEFAULT_MODEL: 'test-voice',
      MODEL_RELOAD_INTERVAL_MS: '200',
      MAX_TEXT_LENGTH: '300',
    });
    url = await listenOnLoopback(app);
    port = await listenWyoming(app);
  });

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    await app?.close();
    if (modelDir) await removeDir(modelDir);
  });

  it('describe lists every voice with its languages and speakers, and follows hot reload', async () => {
    const [info] = (await runWyomingClient(port, [{ op: 'describe' }])).filter(
      (line) => line.type === 'info',
    );
    const [program] = info.data!.tts as {
      name: string;
      supports_synthesize_streaming: boolean;
      voices: { name: string; languages: string[]; speakers: { name: string }[] | null }[];
    }[];
    expect(program.supports_synthesize_streaming).toBe(true);
    expect(program.voices.map((voice) => voice.name)).toEqual(['multi-voice', 'test-voice']);
    expect(program.voices[0]).toMatchObject({
      languages: ['en_US'],
      speakers: [{ name: 'speaker_0' }, { name: 'speaker_1' }, { name: 'speaker_2' }],
    });
    expect(program.voices[1].speakers).toBeNull();

    await writeTestVoice(modelDir, { name: 'added-voice' });
    await waitFor('the rescan to serve added-voice', async () => {
      const lines = await runWyomingClient(port, [{ op: 'describe' }]);
      const voices = (lines[0].data!.tts as (typeof program)[]).flatMap((tts) => tts.voices);
      return voices.some((voice) => voice.name === 'added-voice');
    });
  });

  it('synthesize sends audio-start, the audio POST /tts gives as pcm (noise 0), byte for byte, and audio-stop', async () => {
    const lines = await runWyomingClient(port, [
      { op: 'synthesize', text: THREE_SENTENCES, voice: { name: 'test-voice' } },
    ]);
    const types = typesOf(lines);
    expect(types[0]).toBe('audio-start');
    expect(types.at(-1)).toBe('audio-stop');
    expect(types.filter((type) => type === 'audio-chunk').length).toBeGreaterThan(3);
    expect(lines[0].data).toMatchObject({ rate: 22050, width: 2, channels: 1 });
    const wyoming = audioOf(lines);
    const http = await postPcm(url, {
      text: THREE_SENTENCES,
      model: 'test-voice',
      speaker_id: '0',
      noise_scale: 0,
      noise_w: 0,
    });
    expect(wyoming.length).toBeGreaterThan(22050);
    expect(wyoming.equals(http)).toBe(true);
  });

  it('sends the first audio-chunk of a 3-sentence text before the engine has delivered the last sentence', async () => {
    let releaseLast!: () => void;
    const lastSentence = new Promise<void>((resolve) => (releaseLast = resolve));
    let chunksBeforeRelease = 0;
    holdSentences(app, 2, lastSentence);
    const lines = await runWyomingClient(
      port,
      [{ op: 'synthesize', text: 'One sentence here. Another one there. The last one, held.' }],
      (line) => {
        if (line.type !== 'audio-chunk') return;
        // Held until the client has audio: a server that sent nothing before the whole
        // text was synthesized would never get here (and the client would time out).
        chunksBeforeRelease++;
        releaseLast();
      },
    );
    expect(chunksBeforeRelease).toBeGreaterThan(0);
    expect(typesOf(lines).at(-1)).toBe('audio-stop');
  });

  it('streaming input: speaks each sentence as the chunks complete it, audio before synthesize-stop', async () => {
    const chunks = ['Hello there, ', 'friend. How are', ' you today? ', 'I am fine', ' thanks.'];
    const lines = await runWyomingClient(port, [
      {
        op: 'stream',
        chunks,
        voice: { name: 'test-voice' },
        audio_before_stop: true,
        timeout_s: 30,
      },
    ]);
    expect(lines.some((line) => line.timeout)).toBe(false);
    const stopAt = lines.findIndex((line) => line.marker === 'sent-stop');
    const firstAudio = lines.findIndex((line) => line.type === 'audio-chunk');
    expect(firstAudio).toBeGreaterThanOrEqual(0);
    expect(firstAudio).toBeLessThan(stopAt);
    const types = typesOf(lines);
    // One audio stream for the whole input; the backwards-compatible synthesize is ignored.
    expect(types.filter((type) => type === 'audio-start')).toHaveLength(1);
    expect(types.filter((type) => type === 'audio-stop')).toHaveLength(1);
    expect(types.slice(-2)).toEqual(['audio-stop', 'synthesize-stopped']);
    const http = await postPcm(url, { text: chunks.join(''), model: 'test-voice' });
    expect(audioOf(lines).equals(http)).toBe(true);
  });

  describe('SSML', () => {
    const DOCUMENT =
      '<speak><p>Hello there.<break time="300ms"/><prosody rate="50%">Slowly now.</prosody></p>' +
      '<p><voice name="multi-voice:1">Another <mark name="m"/>voice speaks.</voice> Back again.</p></speak>';
    /** The same SSML through POST /tts as pcm: what Wyoming must send, byte for byte. */
    const httpPcm = () => postPcm(url, { text: DOCUMENT, model: 'test-voice' });

    it('synthesize with text_format "ssml" sends the audio POST /tts gives for the document as pcm', async () => {
      const lines = await runWyomingClient(port, [
        { op: 'synthesize', text: DOCUMENT, voice: { name: 'test-voice' }, text_format: 'ssml' },
      ]);
      const types = typesOf(lines);
      expect([types[0], types.at(-1)]).toEqual(['audio-start', 'audio-stop']);
      const http = await httpPcm();
      // The pause and the slower span are in it: longer than the words read at rate 1.
      expect(http.length).toBeGreaterThan(2 * 0.3 * 22050);
      expect(audioOf(lines).equals(http)).toBe(true);
    });

    it('streamed SSML (declared, or starting with <speak) is spoken whole at synthesize-stop, as POST /tts speaks it', async () => {
      // Cut inside tags, attributes and words: no piece of it is a document.
      const chunks = [
        DOCUMENT.slice(0, 5),
        DOCUMENT.slice(5, 40),
        DOCUMENT.slice(40, 97),
        DOCUMENT.slice(97),
      ];
      const http = await httpPcm();
      for (const text_format of ['ssml', undefined] as const) {
        const lines = await runWyomingClient(port, [
          { op: 'stream', chunks, voice: { name: 'test-voice' }, text_format },
        ]);
        const types = typesOf(lines);
        expect(types.filter((type) => type === 'audio-start')).toHaveLength(1);
        expect(types.slice(-2)).toEqual(['audio-stop', 'synthesize-stopped']);
        expect(audioOf(lines).equals(http)).toBe(true);
      }
    });

    it('refuses streamed SSML beyond MAX_SSML_LENGTH with an error event, and goes on serving', async () => {
      const lines = await runWyomingClient(port, [
        {
          op: 'stream',
          chunks: ['<speak>', 'word '.repeat(1500), 'word '.repeat(1500), '</speak>'],
          text_format: 'ssml',
        },
      ]);
      const error = lines.find((line) => line.type === 'error');
      expect(error?.data).toMatchObject({ code: 'SSML_TOO_LARGE' });
      expect(typesOf(lines)).not.toContain('audio-chunk');
      const next = await runWyomingClient(port, [
        { op: 'synthesize', text: '<speak>Still here.</speak>', text_format: 'ssml' },
      ]);
      expect(typesOf(next).at(-1)).toBe('audio-stop');
    });
  });

  it('a multi-speaker voice speaks the speaker named', async () => {
    const lines = await runWyomingClient(port, [
      {
        op: 'synthesize',
        text: 'Speaker test.',
        voice: { name: 'multi-voice', speaker: 'speaker_2' },
      },
      { op: 'synthesize', text: 'Speaker test.', voice: { name: 'multi-voice', speaker: '0' } },
    ]);
    const named = audioOf(lines, 0);
    const http = await postPcm(url, {
      text: 'Speaker test.',
      model: 'multi-voice',
      speaker_id: 'speaker_2',
    });
    expect(named.equals(http)).toBe(true);
    expect(named.equals(audioOf(lines, 1))).toBe(false);
  });

  it('a language picks a voice of that language, the default voice first', async () => {
    const lines = await runWyomingClient(port, [
      { op: 'synthesize', text: 'Language test.', voice: { language: 'en-US' } },
    ]);
    const http = await postPcm(url, { text: 'Language test.', model: 'test-voice' });
    expect(audioOf(lines).equals(http)).toBe(true);
  });

  it('errors are error events with a code and text, and the connection stays usable', async () => {
    const lines = await runWyomingClient(port, [
      { op: 'synthesize', text: 'Hello.', voice: { name: 'no-such-voice' } },
      { op: 'synthesize', text: 'Hello.', voice: { name: 'multi-voice', speaker: 'nobody' } },
      { op: 'synthesize', text: 'x'.repeat(301) },
      { op: 'ping', text: 'still there' },
      { op: 'synthesize', text: 'Still usable.' },
    ]);
    const errors = lines.filter((line) => line.type === 'error');
    expect(errors.map((line) => line.data!.code)).toEqual([
      'VOICE_NOT_FOUND',
      'SPEAKER_NOT_FOUND',
      'TEXT_TOO_LONG',
    ]);
    expect(String(errors[0].data!.text)).toContain('no-such-voice');
    expect(lines.find((line) => line.type === 'pong')?.data).toEqual({ text: 'still there' });
    expect(typesOf(lines.filter((line) => line.step === 4)).at(-1)).toBe('audio-stop');
  });

  it('counts its requests in /metrics beside the engine metrics HTTP uses', async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/wyoming_requests_total\{type="synthesize",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/wyoming_requests_total\{type="synthesize-stream",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/wyoming_errors_total\{code="VOICE_NOT_FOUND"\} [1-9]/);
    expect(text).toMatch(/piper_audio_seconds_total\{voice="multi-voice"\} /);
  });

  describe('malformed input', () => {
    const MIB = 1024 * 1024;
    const header = (fields: Record<string, unknown>): Buffer =>
      Buffer.from(`${JSON.stringify(fields)}\n`);
    const frames: [string, Buffer][] = [
      ['not JSON', Buffer.from('this is not json\n')],
      ['a JSON array', Buffer.from('[1, 2, 3]\n')],
      ['a JSON string', Buffer.from('"synthesize"\n')],
      ['no type', header({ data: { text: 'hi' } })],
      ['a numeric type', header({ type: 5 })],
      ['data that is an array', header({ type: 'synthesize', data: [1] })],
      ['a negative data_length', header({ type: 'synthesize', data_length: -1 })],
      ['a fractional data_length', header({ type: 'synthesize', data_length: 1.5 })],
      ['a string data_length', header({ type: 'synthesize', data_length: '10' })],
      ['a huge data_length', header({ type: 'synthesize', data_length: 1e300 })],
      ['data_length over 1 MiB', header({ type: 'synthesize', data_length: 2 * MIB })],
      ['payload_length over 1 MiB', header({ type: 'audio-chunk', payload_length: 2 * MIB })],
      ['a header line over 1 MiB', Buffer.alloc(MIB + 10, 0x41)],
      ['a non-UTF-8 header', Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a])],
      [
        'non-UTF-8 data',
        Buffer.concat([
          header({ type: 'synthesize', data_length: 3 }),
          Buffer.from([0xc3, 0x28, 0xff]),
        ]),
      ],
      [
        'data that is not JSON',
        Buffer.concat([header({ type: 'synthesize', data_length: 3 }), Buffer.from('abc')]),
      ],
      [
        'data that is a JSON array',
        Buffer.concat([header({ type: 'synthesize', data_length: 2 }), Buffer.from('[]')]),
      ],
      ['synthesize without text', encodeEvent({ type: 'synthesize', data: { voice: {} } })],
      ['synthesize with a numeric text', encodeEvent({ type: 'synthesize', data: { text: 42 } })],
      [
        'a voice that is a string',
        encodeEvent({ type: 'synthesize', data: { text: 'Hi.', voice: 'x' } }),
      ],
      [
        'a speaker that is an object',
        encodeEvent({ type: 'synthesize', data: { text: 'Hi.', voice: { speaker: {} } } }),
      ],
      [
        'synthesize-chunk without start',
        encodeEvent({ type: 'synthesize-chunk', data: { text: 'a' } }),
      ],
      ['synthesize-stop without start', encodeEvent({ type: 'synthesize-stop', data: {} })],
      ['NUL bytes', Buffer.from([0, 0, 0, 0x0a])],
      ['empty text', encodeEvent({ type: 'synthesize', data: { text: '   ' } })],
    ];

    it.each(frames)('%s: an error event or a close', async (_, bytes) => {
      const answer = await rawExchange(port, bytes);
      const [first] = answer.events;
      if (first) {
        expect(first.type).toBe('error');
        expect(first.data).toEqual({ code: expect.any(String), text: expect.any(String) });
      } else {
        expect(answer.closed).toBe(true);
      }
    });

    it('a recoverable error leaves the connection usable for the next event', async () => {
      const answer = await rawExchange(
        port,
        Buffer.concat([
          Buffer.from('garbage\n'),
          encodeEvent({ type: 'ping', data: { text: 'p' } }),
        ]),
        { untilEvents: 2 },
      );
      expect(answer.events.map((event) => event.type)).toEqual(['error', 'pong']);
    });

    it('a synthesize right after synthesize-stop is a request of its own, answered after the stream', async () => {
      // The backwards-compatible synthesize comes before synthesize-stop and is the
      // stream's; one after it is new, even while the stream's audio is still going out.
      const answer = await rawExchange(
        port,
        Buffer.concat([
          encodeEvent({ type: 'synthesize-start', data: {} }),
          encodeEvent({ type: 'synthesize-chunk', data: { text: 'Hello there.' } }),
          encodeEvent({ type: 'synthesize', data: { text: 'Hello there.' } }),
          encodeEvent({ type: 'synthesize-stop', data: {} }),
          encodeEvent({ type: 'synthesize', data: { text: 'A second request.' } }),
        ]),
        { untilEvents: 10_000, waitMs: 5000 },
      );
      const types = answer.events.map((event) => event.type).filter((t) => t !== 'audio-chunk');
      expect(types).toEqual([
        'audio-start',
        'audio-stop',
        'synthesize-stopped',
        'audio-start',
        'audio-stop',
      ]);
    });

    it('unknown events are ignored', async () => {
      const answer = await rawExchange(
        port,
        Buffer.concat([
          encodeEvent({ type: 'transcribe', data: { name: 'x' } }),
          encodeEvent({ type: 'ping', data: {} }),
        ]),
      );
      expect(answer.events.map((event) => event.type)).toEqual(['pong']);
    });

    it('after all of them the server still serves Wyoming and HTTP', async () => {
      const lines = await runWyomingClient(port, [{ op: 'synthesize', text: 'Still here.' }]);
      expect(typesOf(lines).at(-1)).toBe('audio-stop');
      expect((await fetch(`${url}/health`)).status).toBe(200);
    });
  });
});

describeWithClient('Wyoming limits, drain and discovery', () => {
  let modelDir: string;

  beforeAll(async () => {
    modelDir = await makeModelDir();
  });

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    if (modelDir) await removeDir(modelDir);
  });

  it('closes a connection that sends half an event and stalls, and refuses connections beyond WYOMING_MAX_CONNECTIONS', async () => {
    const app = await startServer({
      MODEL_DIR: modelDir,
      WYOMING_MAX_CONNECTIONS: '2',
      WYOMING_IDLE_TIMEOUT_MS: '300',
    });
    try {
      const port = await listenWyoming(app);
      const stalled = await rawExchange(port, Buffer.from('{"type": "synth'), { waitMs: 10_000 });
      expect(stalled.events[0]?.data?.code).toBe('IDLE_TIMEOUT');

      const open = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
      await Promise.all(
        open.map((socket) => new Promise((resolve) => socket.once('connect', resolve))),
      );
      await waitFor('both connections accepted', async () => {
        const metrics = await (await fetch(`${await listenOnLoopback(app)}/metrics`)).text();
        return /wyoming_connections 2/.test(metrics);
      });
      const refused = await rawExchange(port, encodeEvent({ type: 'ping', data: {} }));
      expect(refused.events[0]?.data?.code).toBe('TOO_MANY_CONNECTIONS');
      for (const socket of open) socket.destroy();
      await waitFor('a connection to be accepted again', async () => {
        const answer = await rawExchange(port, encodeEvent({ type: 'ping', data: {} }));
        return answer.events[0]?.type === 'pong';
      });
    } finally {
      await app.close();
    }
  });

  it('shutdown lets a synthesis in progress finish, refuses new connections, then closes', async () => {
    const app = await startServer({ MODEL_DIR: modelDir, SHUTDOWN_TIMEOUT_MS: '20000' });
    const port = await listenWyoming(app);
    let release!: () => void;
    holdSentences(app, 1, new Promise<void>((resolve) => (release = resolve)));
    let closing: Promise<void> | undefined;
    let refused!: (value: boolean) => void;
    const refusedAfterClose = new Promise<boolean>((resolve) => (refused = resolve));
    const client = runWyomingClient(port, [{ op: 'synthesize', text: THREE_SENTENCES }], (line) => {
      if (line.type !== 'audio-chunk' || closing) return;
      closing = app.close();
      const socket = connect(port, '127.0.0.1');
      socket.once('error', () => refused(true));
      socket.once('connect', () => {
        socket.destroy();
        refused(false);
      });
    });
    expect(await refusedAfterClose).toBe(true);
    release();
    expect(typesOf(await client).at(-1)).toBe('audio-stop');
    await closing;
  });

  it('announces nothing over mDNS with WYOMING_ZEROCONF unset', async () => {
    const wyomingPort = await freePort();
    const app = await startServer({
      MODEL_DIR: modelDir,
      WYOMING_PORT: String(wyomingPort),
      HOST: '127.0.0.1',
    });
    try {
      expect(app.get(WyomingZeroconf).announced).toBe(false);
      const answer = await rawExchange(wyomingPort, encodeEvent({ type: 'ping', data: {} }));
      expect(answer.events[0]?.type).toBe('pong');
    } finally {
      await app.close();
    }
  });
});
