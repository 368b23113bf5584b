/**
 * SIGTERM as a Home Assistant user meets it: the built server, started with `node` and
 * stopped with a real SIGTERM, speaks to its end what a Wyoming client had begun (a
 * streamed input whose later sentences arrive after the signal, a `synthesize` queued on
 * its connection behind another) while new connections are refused, then exits 0.
 *
 * The audio is compared, byte for byte, with the same requests answered before the
 * signal (the voice's noise set to 0, so the same text gives the same PCM). The client
 * is a socket with the server's framing (wyoming-frames.ts, itself checked against the
 * reference library): the test must act between events, which the Python client's
 * scripted steps cannot.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  encodeEvent,
  WyomingFrameParser,
  type WyomingEvent,
} from '../apps/tts-server/src/wyoming/wyoming-frames';
import {
  BUILT_SERVER_MAIN,
  builtServerMissing,
  exitWithin,
  freePort,
  killIfRunning,
  startBuiltServer,
  waitFor,
  type BuiltServer,
} from './support/processes';
import { describeUnless } from './support/skips';
import { makeModelDir, removeDir } from './support/test-server';

/** How long the built server may take from SIGTERM to exit (its drain included). */
const EXIT_TIMEOUT_MS = 30_000;
/** Bound on waiting for one event, so a server that never answers fails the test. */
const EVENT_TIMEOUT_MS = 30_000;

const FIRST_CHUNK = 'The first sentence is spoken before the signal. The';
const LATER_CHUNKS = [' second one is sent after it.', ' And a third one ends the stream.'];
const QUEUED_TEXTS = [
  'This request was being spoken. It has three sentences. Here is the last one.',
  'This one waited behind it on the same connection. It is spoken too.',
];

/** A Wyoming connection the test drives event by event. */
class WyomingSocket {
  readonly events: WyomingEvent[] = [];
  private waiters: (() => void)[] = [];
  private closed = false;
  private constructor(private readonly socket: Socket) {
    const parser = new WyomingFrameParser(
      16 * 1024 * 1024,
      (event) => {
        this.events.push(event);
        this.wake();
      },
      () => socket.destroy(),
    );
    socket.on('data', (chunk: Buffer) => parser.push(chunk));
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(port: number): Promise<WyomingSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(new WyomingSocket(socket)));
      socket.once('error', reject);
    });
  }

  send(type: string, data: Record<string, unknown> = {}): void {
    this.socket.write(encodeEvent({ type, data }));
  }

  /** Resolves once `count` events of `type` have arrived (bounded). */
  async waitFor(type: string, count = 1): Promise<void> {
    const deadline = Date.now() + EVENT_TIMEOUT_MS;
    while (this.events.filter((event) => event.type === type).length < count) {
      if (this.closed) throw new Error(`closed before ${count} ${type}: ${this.summary()}`);
      if (Date.now() > deadline) throw new Error(`no ${count} ${type} yet: ${this.summary()}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 500).unref();
      });
    }
  }

  /** Resolves once the server has closed the connection (bounded). */
  async waitClosed(): Promise<void> {
    const deadline = Date.now() + EVENT_TIMEOUT_MS;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`still open: ${this.summary()}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 500).unref();
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }

  /** Event types received in order, with an error's code (for assertions and messages). */
  types(): string[] {
    return this.events.map((event) =>
      event.type === 'error' ? `error:${String(event.data.code)}` : event.type,
    );
  }

  /** PCM of every audio-chunk between the nth audio-start and its audio-stop. */
  audio(answer = 0): Buffer {
    const starts = this.events.flatMap((event, index) =>
      event.type === 'audio-start' ? [index] : [],
    );
    const from = starts[answer];
    const stop = this.events.findIndex(
      (event, index) => index > from && event.type === 'audio-stop',
    );
    return Buffer.concat(
      this.events
        .slice(from, stop)
        .filter((event) => event.type === 'audio-chunk')
        .map((event) => event.payload ?? Buffer.alloc(0)),
    );
  }

  private summary(): string {
    return this.types()
      .filter((type, index, all) => type !== 'audio-chunk' || all[index - 1] !== 'audio-chunk')
      .join(', ');
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

/** Whether a new TCP connection to `port` is refused (the listener closed). */
function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** A streamed input: the first chunk, then `beforeRest`, then the other chunks and stop. */
async function streamWith(client: WyomingSocket, beforeRest: () => Promise<void>): Promise<void> {
  client.send('synthesize-start', { voice: { name: 'test-voice' } });
  client.send('synthesize-chunk', { text: FIRST_CHUNK });
  await client.waitFor('audio-chunk');
  await beforeRest();
  for (const text of LATER_CHUNKS) client.send('synthesize-chunk', { text });
  client.send('synthesize-stop');
  await client.waitFor('synthesize-stopped');
}

/** Two synthesize events at once on one connection; `whileFirst` runs at its first audio. */
async function queuedWith(client: WyomingSocket, whileFirst: () => Promise<void>): Promise<void> {
  for (const text of QUEUED_TEXTS) client.send('synthesize', { text });
  await client.waitFor('audio-chunk');
  await whileFirst();
  await client.waitFor('audio-stop', QUEUED_TEXTS.length);
}

const describeBuilt = describeUnless(builtServerMissing());

describeBuilt('Built server: Wyoming requests accepted before SIGTERM', () => {
  let modelDir: string;
  let server: BuiltServer | undefined;
  let port: number;
  const clients: WyomingSocket[] = [];

  beforeAll(async () => {
    modelDir = await makeModelDir();
    const configPath = join(modelDir, 'test-voice.onnx.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    config.inference = { noise_scale: 0, length_scale: 1, noise_w: 0 };
    await writeFile(configPath, JSON.stringify(config));
  });

  beforeEach(async () => {
    port = await freePort();
    server = await startBuiltServer(
      {
        MODEL_DIR: modelDir,
        DEFAULT_MODEL: 'test-voice',
        WORKERS: '2',
        WORKER_THREADS: '1',
        ENABLE_CACHING: 'false',
        WYOMING_PORT: String(port),
        // Longer than EXIT_TIMEOUT_MS: an exit in time means the drain ended with the work.
        SHUTDOWN_TIMEOUT_MS: '120000',
      },
      modelDir,
    );
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    // Only does something when a test failed with the server left running.
    if (server && server.process.exitCode === null && server.process.signalCode === null) {
      await killIfRunning(server.pid, BUILT_SERVER_MAIN);
      await exitWithin(server, 5_000);
    }
    server = undefined;
  });

  afterAll(async () => {
    if (modelDir) await removeDir(modelDir);
  });

  async function client(): Promise<WyomingSocket> {
    const opened = await WyomingSocket.open(port);
    clients.push(opened);
    return opened;
  }

  /** SIGTERM, then waits until the Wyoming port refuses new connections. */
  async function sigtermUntilRefused(running: BuiltServer): Promise<void> {
    expect(running.process.kill('SIGTERM')).toBe(true);
    await waitFor('the Wyoming port to refuse new connections', () => connectionRefused(port), {
      timeoutMs: EXIT_TIMEOUT_MS,
      intervalMs: 50,
    });
  }

  /**
   * The same exchange twice on fresh connections: once with nothing in between (the
   * reference), once with SIGTERM where `exchange` calls for it; then the server must
   * close the connection and exit 0 (well before the drain's bound: its work is done).
   */
  async function beforeAndDuring(
    exchange: (client: WyomingSocket, between: () => Promise<void>) => Promise<void>,
  ): Promise<{ before: WyomingSocket; during: WyomingSocket; exit: Promise<number | null> }> {
    const running = server!;
    const before = await client();
    await exchange(before, () => Promise.resolve());
    const during = await client();
    await exchange(during, () => sigtermUntilRefused(running));
    const exit = (async () => {
      await during.waitClosed();
      const exited = await exitWithin(running, EXIT_TIMEOUT_MS);
      if (!exited) throw new Error(`still running after SIGTERM:\n${running.output()}`);
      return exited.code;
    })();
    return { before, during, exit };
  }

  it('a streamed input open at SIGTERM speaks every sentence sent after it, then the server exits 0', async () => {
    const { before, during, exit } = await beforeAndDuring(streamWith);

    expect(during.types().filter((type) => type !== 'audio-chunk')).toEqual([
      'audio-start',
      'audio-stop',
      'synthesize-stopped',
    ]);
    expect(during.audio().length).toBeGreaterThan(0);
    expect(during.audio().equals(before.audio())).toBe(true);
    expect(await exit).toBe(0);
  });

  it('a synthesize queued behind another on its connection at SIGTERM is spoken too', async () => {
    const { before, during, exit } = await beforeAndDuring(queuedWith);

    expect(during.types().filter((type) => type !== 'audio-chunk')).toEqual([
      'audio-start',
      'audio-stop',
      'audio-start',
      'audio-stop',
    ]);
    for (const answer of [0, 1]) {
      expect(during.audio(answer).length).toBeGreaterThan(0);
      expect(during.audio(answer).equals(before.audio(answer))).toBe(true);
    }
    expect(await exit).toBe(0);
  });
});
