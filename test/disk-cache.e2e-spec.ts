/**
 * The disk tier of the audio cache (CACHE_DIR) through the real server: entries
 * survive a restart and are shared by server processes, X-Cache-Tier says where a hit
 * came from, and GET /tts (the POST body as a query) serves ETag, 304 and byte ranges
 * to a real HTTP client (fetch).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { decodeWav } from '@app/piper';
import {
  BUILT_SERVER_MAIN,
  builtServerMissing,
  listenOnLoopback,
  startBuiltServer,
  waitFor,
  type BuiltServer,
} from './support/processes';
import { describeUnless } from './support/skips';
import { makeModelDir, removeDir, startServer } from './support/test-server';

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

async function fetchBytes(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

function postTts(base: string, body: object, headers: Record<string, string> = {}) {
  return fetchBytes(`${base}/tts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

function getTts(base: string, query: Record<string, string>, headers: Record<string, string> = {}) {
  return fetchBytes(`${base}/tts?${new URLSearchParams(query).toString()}`, { headers });
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const errorOf = (answer: Answer): { message: string | string[]; code?: string } =>
  JSON.parse(answer.body.toString('utf8')) as { message: string | string[]; code?: string };

const UNLIMITED = { RATE_LIMIT_REQUESTS: '10000', TTS_RATE_LIMIT_REQUESTS: '10000' };

describe('Disk cache tier (CACHE_DIR)', () => {
  let modelDir: string;
  let cacheDir: string;
  let app: NestExpressApplication;
  let url: string;

  const settings = (): Record<string, string> => ({
    ...UNLIMITED,
    MODEL_DIR: modelDir,
    CACHE_DIR: cacheDir,
    DEFAULT_MODEL: 'test-voice',
    MAX_TEXT_LENGTH: '200',
  });

  async function restart(): Promise<void> {
    await app.close();
    app = await startServer(settings());
    url = await listenOnLoopback(app);
  }

  beforeAll(async () => {
    modelDir = await makeModelDir();
    cacheDir = join(await mkdtemp(join(tmpdir(), 'disk-cache-e2e-')), 'audio');
    app = await startServer(settings());
    url = await listenOnLoopback(app);
  });

  afterAll(async () => {
    await app.close();
    await removeDir(modelDir);
    await removeDir(join(cacheDir, '..'));
  });

  describe('tiers', () => {
    it('MISS, HIT from memory, and after a restart HIT from disk with the same bytes', async () => {
      const modelFiles = (await readdir(modelDir, { recursive: true })).sort();
      const body = { text: 'This one outlives the process.' };
      const miss = await postTts(url, body);
      expect(miss.status).toBe(200);
      expect(miss.headers.get('x-cache')).toBe('MISS');
      expect(miss.headers.get('x-cache-tier')).toBeNull();
      expect(miss.headers.get('etag')).toBe(`"${sha256(miss.body)}"`);

      const memory = await postTts(url, body);
      expect(memory.headers.get('x-cache')).toBe('HIT');
      expect(memory.headers.get('x-cache-tier')).toBe('memory');
      expect(memory.headers.get('etag')).toBe(miss.headers.get('etag'));

      await restart();
      const disk = await postTts(url, body);
      expect(disk.status).toBe(200);
      expect(disk.headers.get('x-cache')).toBe('HIT');
      expect(disk.headers.get('x-cache-tier')).toBe('disk');
      expect(disk.headers.get('content-type')).toBe(miss.headers.get('content-type'));
      expect(disk.headers.get('etag')).toBe(miss.headers.get('etag'));
      expect(disk.body.equals(miss.body)).toBe(true);
      expect(decodeWav(disk.body).sampleRate).toBe(22050);

      // Promoted: the next hit is from memory.
      expect((await postTts(url, body)).headers.get('x-cache-tier')).toBe('memory');
      const entries = (await readdir(cacheDir)).filter((name) => name.endsWith('.audio'));
      expect(entries.length).toBeGreaterThanOrEqual(1);
      expect((await readdir(modelDir, { recursive: true })).sort()).toEqual(modelFiles);
    });

    it('a completed stream is a disk HIT after a restart, with an ETag', async () => {
      const body = { text: 'Streamed once. Then kept on disk.', stream: true, format: 'pcm' };
      const streamed = await postTts(url, body);
      expect(streamed.headers.get('x-cache')).toBe('MISS');
      expect(streamed.headers.get('etag')).toBeNull(); // its bytes were not known yet
      await waitFor('the streamed audio to be cached', async () => {
        const again = await postTts(url, body);
        return again.headers.get('x-cache') === 'HIT';
      });
      await restart();
      const disk = await postTts(url, body);
      expect(disk.headers.get('x-cache-tier')).toBe('disk');
      expect(disk.body.equals(streamed.body)).toBe(true);
      expect(disk.headers.get('etag')).toBe(`"${sha256(streamed.body)}"`);
    });
  });

  describe('GET /tts', () => {
    const query = {
      text: 'Seek me anywhere.',
      model: 'multi-voice',
      speaker_id: 'speaker_1',
      length_scale: '1.5',
      volume: '0.5',
    };
    let whole: Answer;
    let etag: string;

    beforeAll(async () => {
      whole = await getTts(url, query);
      etag = whole.headers.get('etag') ?? '';
    });

    it('answers the same audio as POST /tts with the body as a query, inline, playable', async () => {
      expect(whole.status).toBe(200);
      expect(whole.headers.get('content-type')).toMatch(/^audio\/wav/);
      expect(whole.headers.get('content-disposition')).toBe(
        'inline; filename=tts_multi-voice_1.wav',
      );
      expect(whole.headers.get('accept-ranges')).toBe('bytes');
      expect(etag).toBe(`"${sha256(whole.body)}"`);
      expect(Number(whole.headers.get('content-length'))).toBe(whole.body.length);

      const posted = await postTts(url, {
        ...query,
        length_scale: 1.5,
        volume: 0.5,
      });
      // The same cache entry: POST is a hit on what GET synthesized.
      expect(posted.headers.get('x-cache')).toBe('HIT');
      expect(posted.body.equals(whole.body)).toBe(true);
      const normal = await getTts(url, { ...query, length_scale: '1' });
      expect(decodeWav(whole.body).pcm.length).toBe(decodeWav(normal.body).pcm.length * 1.5);
    });

    it('If-None-Match with the ETag is answered 304 without a body', async () => {
      const notModified = await getTts(url, query, { 'If-None-Match': etag });
      expect(notModified.status).toBe(304);
      expect(notModified.body.length).toBe(0);
      expect(notModified.headers.get('etag')).toBe(etag);
      expect((await getTts(url, query, { 'If-None-Match': `"nope", W/${etag}` })).status).toBe(304);
      expect((await getTts(url, query, { 'If-None-Match': '*' })).status).toBe(304);
      const changed = await getTts(url, query, { 'If-None-Match': '"something-else"' });
      expect(changed.status).toBe(200);
      expect(changed.body.equals(whole.body)).toBe(true);
      // Conditional requests are a GET matter: a POST always gets the audio.
      const posted = await postTts(
        url,
        { ...query, length_scale: 1.5, volume: 0.5 },
        { 'If-None-Match': etag },
      );
      expect(posted.status).toBe(200);
    });

    it('Range is answered 206 with Content-Range, the bytes asked for, and nothing else', async () => {
      const size = whole.body.length;
      const head = await getTts(url, query, { Range: 'bytes=0-43' });
      expect(head.status).toBe(206);
      expect(head.headers.get('content-range')).toBe(`bytes 0-43/${size}`);
      expect(head.headers.get('content-length')).toBe('44');
      expect(head.headers.get('etag')).toBe(etag);
      expect(head.body.equals(whole.body.subarray(0, 44))).toBe(true);
      expect(head.body.toString('ascii', 0, 4)).toBe('RIFF');

      const middle = await getTts(url, query, { Range: 'bytes=1000-1999' });
      expect(middle.headers.get('content-range')).toBe(`bytes 1000-1999/${size}`);
      expect(middle.body.equals(whole.body.subarray(1000, 2000))).toBe(true);

      const tail = await getTts(url, query, { Range: 'bytes=-100' });
      expect(tail.headers.get('content-range')).toBe(`bytes ${size - 100}-${size - 1}/${size}`);
      expect(tail.body.equals(whole.body.subarray(size - 100))).toBe(true);

      const rest = await getTts(url, query, { Range: `bytes=${size - 10}-` });
      expect(rest.status).toBe(206);
      expect(rest.body.equals(whole.body.subarray(size - 10))).toBe(true);

      const beyond = await getTts(url, query, { Range: `bytes=${size - 10}-${size + 500}` });
      expect(beyond.headers.get('content-range')).toBe(`bytes ${size - 10}-${size - 1}/${size}`);
    });

    it('unsatisfiable ranges are 416 with Content-Range: bytes */length', async () => {
      const size = whole.body.length;
      const outside = await getTts(url, query, { Range: `bytes=${size}-` });
      expect(outside.status).toBe(416);
      expect(outside.headers.get('content-range')).toBe(`bytes */${size}`);
      expect(errorOf(outside)).toMatchObject({
        code: 'RANGE_NOT_SATISFIABLE',
        message: expect.stringContaining(`${size} bytes`),
      });
    });

    it('several ranges, a malformed Range or a stale If-Range get the whole file', async () => {
      const wholeAnswers: Array<Record<string, string>> = [
        { Range: 'bytes=0-10,20-30' },
        { Range: 'bytes=abc' },
        { Range: 'lines=1-2' },
        { Range: 'bytes=0-99', 'If-Range': '"an-older-version"' },
      ];
      for (const headers of wholeAnswers) {
        const answer = await getTts(url, query, headers);
        expect(answer.status).toBe(200);
        expect(answer.body.equals(whole.body)).toBe(true);
      }
      const current = await getTts(url, query, { Range: 'bytes=0-99', 'If-Range': etag });
      expect(current.status).toBe(206);
    });

    it('is served from the disk tier after a restart, with the same ETag and ranges', async () => {
      await restart();
      const partial = await getTts(url, query, { Range: 'bytes=44-143' });
      expect(partial.status).toBe(206);
      expect(partial.headers.get('x-cache')).toBe('HIT');
      expect(partial.headers.get('x-cache-tier')).toBe('disk');
      expect(partial.headers.get('etag')).toBe(etag);
      expect(partial.body.equals(whole.body.subarray(44, 144))).toBe(true);
      expect((await getTts(url, query, { 'If-None-Match': etag })).status).toBe(304);
    });

    it('validates the query as POST validates its body', async () => {
      const cases: Array<[Record<string, string>, number, RegExp]> = [
        [{}, 400, /text should not be empty|text must be a string/],
        [{ text: '' }, 400, /text must be a string of 1 to \d+ characters/],
        [{ text: 'Hi.', length_scale: 'fast' }, 400, /length_scale must be a number/],
        [{ text: 'Hi.', length_scale: '100' }, 400, /length_scale must not be greater than 20/],
        [{ text: 'Hi.', noise_w: '-1' }, 400, /noise_w must not be less than 0/],
        [{ text: 'Hi.', format: 'midi' }, 400, /format must be one of the following values/],
        [{ text: 'Hi.', stream: 'true' }, 400, /property stream should not exist/],
        [{ text: 'Hi.', colour: 'blue' }, 400, /property colour should not exist/],
        [{ text: 'Hi.', model: '../etc' }, 400, /model must be a voice name/],
        [{ text: 'x'.repeat(201) }, 400, /text is 201 characters long; the limit is 200/],
        [{ text: 'Hi.', model: 'nobody' }, 404, /nobody/],
        [{ text: 'Hi.', model: 'multi-voice', speaker_id: '7' }, 404, /speakers are 0 to 2/],
      ];
      for (const [params, status, message] of cases) {
        const answer = await getTts(url, params);
        expect({ params, status: answer.status }).toEqual({ params, status });
        expect(String(errorOf(answer).message)).toMatch(message);
      }
      // The same text twice in the query is not a string.
      const twice = await fetchBytes(`${url}/tts?text=a&text=b`);
      expect(twice.status).toBe(400);
    });

    it('is documented in the OpenAPI document with its query parameters', async () => {
      const spec = (await (await fetch(`${url}/docs/openapi.json`)).json()) as {
        paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }> }>>;
      };
      const get = spec.paths['/tts'].get;
      const names = (get.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      expect(names).toEqual(
        expect.arrayContaining(['text', 'model', 'speaker_id', 'length_scale', 'format']),
      );
      expect(names).not.toContain('stream');
      expect(Object.keys(get)).toEqual(expect.arrayContaining(['responses']));
    });
  });
});

describe('GET /tts rate limit', () => {
  let modelDir: string;
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    modelDir = await makeModelDir();
    app = await startServer({
      MODEL_DIR: modelDir,
      TTS_RATE_LIMIT_REQUESTS: '2',
      RATE_LIMIT_REQUESTS: '50',
    });
    url = await listenOnLoopback(app);
  });

  afterAll(async () => {
    await app.close();
    await removeDir(modelDir);
  });

  it('counts against the synthesis limit like POST /tts (cache misses only)', async () => {
    expect((await getTts(url, { text: 'one' })).status).toBe(200);
    expect((await postTts(url, { text: 'two' })).status).toBe(200);
    // A cache hit spends nothing of the synthesis budget; a third text is a miss.
    expect((await getTts(url, { text: 'one' })).status).toBe(200);
    const limited = await getTts(url, { text: 'three' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
  });
});

const describeBuilt = describeUnless(builtServerMissing());

describeBuilt('Disk cache shared by server processes (built server)', () => {
  let modelDir: string;
  let cacheDir: string;
  const servers: BuiltServer[] = [];

  const start = async (env: Record<string, string> = {}): Promise<BuiltServer> => {
    const server = await startBuiltServer(
      { ...UNLIMITED, MODEL_DIR: modelDir, CACHE_DIR: cacheDir, WORKERS: '1', ...env },
      tmpdir(),
    );
    servers.push(server);
    return server;
  };
  const stop = async (server: BuiltServer): Promise<void> => {
    server.process.kill('SIGTERM');
    await server.exited;
  };

  beforeAll(async () => {
    modelDir = await makeModelDir();
    cacheDir = join(await mkdtemp(join(tmpdir(), 'disk-cache-shared-')), 'audio');
  });

  afterAll(async () => {
    await Promise.all(servers.filter((s) => s.process.exitCode === null).map(stop));
    await removeDir(modelDir);
    await removeDir(join(cacheDir, '..'));
  });

  it('a replica answers from the disk what another synthesized, and so does a restart', async () => {
    const [first, second] = await Promise.all([start(), start()]);
    const body = { text: 'Written by one replica, read by the other.' };
    const miss = await postTts(first.url, body);
    expect(miss.headers.get('x-cache')).toBe('MISS');
    await waitFor('the entry on disk', async () =>
      (await readdir(cacheDir)).some((name) => name.endsWith('.audio')),
    );
    const shared = await postTts(second.url, body);
    expect(shared.headers.get('x-cache')).toBe('HIT');
    expect(shared.headers.get('x-cache-tier')).toBe('disk');
    expect(shared.body.equals(miss.body)).toBe(true);

    await Promise.all([stop(first), stop(second)]);
    const restarted = await start();
    const afterRestart = await getTts(restarted.url, body);
    expect(afterRestart.headers.get('x-cache-tier')).toBe('disk');
    expect(afterRestart.body.equals(miss.body)).toBe(true);
  });

  it('refuses to start with CACHE_DIR inside MODEL_DIR, naming both', async () => {
    const child = spawn(process.execPath, [BUILT_SERVER_MAIN], {
      cwd: tmpdir(),
      env: {
        PATH: process.env.PATH,
        PORT: '0',
        MODEL_DIR: modelDir,
        CACHE_DIR: join(modelDir, 'cache'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).not.toBe(0);
    expect(output).toMatch(/CACHE_DIR=\S+ is inside MODEL_DIR=\S+/);
    expect((await readdir(modelDir)).includes('cache')).toBe(false);
  });
});
