import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import {
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  unlink,
  utimes,
  writeFile,
  appendFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { contentHashOf, type HashedAudio } from './cached-audio';
import { DiskAudioStore, entryNameOf, type DiskAudioStoreOptions } from './disk-audio-store';

const HOUR_MS = 3600_000;

function audioOf(body: Buffer, contentType = 'audio/wav', sampleRate = 22050): HashedAudio {
  return {
    body,
    contentType,
    sampleRate,
    durationSeconds: (body.length - 44) / 2 / sampleRate,
    contentHash: contentHashOf(body),
  };
}

/** A body of `bytes` bytes whose content depends on `seed`, so entries differ. */
function bodyOf(seed: number, bytes = 4096): Buffer {
  const body = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) body[i] = (i * 31 + seed * 7) & 0xff;
  return body;
}

/** Buffers compared by digest: Jest's deep equality walks a Buffer byte by byte. */
const digest = (body: Buffer | undefined): string | undefined =>
  body === undefined ? undefined : contentHashOf(body);

describe(DiskAudioStore.name, () => {
  let dir: string;
  let warn: jest.Mock;
  const stores: DiskAudioStore[] = [];

  const openStore = async (
    options: Partial<DiskAudioStoreOptions> = {},
  ): Promise<DiskAudioStore> => {
    const store = await DiskAudioStore.open({
      dir,
      maxBytes: 1024 * 1024,
      ttlMs: HOUR_MS,
      rescanIntervalMs: 0,
      logger: { warn },
      ...options,
    });
    stores.push(store);
    return store;
  };
  const pathOf = (key: string): string => join(dir, entryNameOf(key));
  const filesIn = async (): Promise<string[]> => (await readdir(dir)).sort();

  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'disk-store-')), 'cache');
    warn = jest.fn();
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await rm(resolve(dir, '..'), { recursive: true, force: true });
  });

  describe('entries', () => {
    it('creates its directory and returns what was stored, metadata included', async () => {
      const store = await openStore();
      const audio = audioOf(bodyOf(1), 'audio/pcm;rate=16000', 16000);
      await store.set('audio:one', audio);
      const hit = await store.get('audio:one');
      expect(hit?.audio).toEqual(audio);
      expect(await store.get('audio:other')).toBeUndefined();
      expect(warn).not.toHaveBeenCalled();
    });

    it('names files by a hash of the key and leaves no temporary file behind', async () => {
      const store = await openStore();
      await store.set('audio:../../etc/passwd', audioOf(bodyOf(2)));
      const files = await filesIn();
      expect(files).toEqual([entryNameOf('audio:../../etc/passwd')]);
      expect(files[0]).toMatch(/^[0-9a-f]{64}\.audio$/);
    });

    it('survives a restart: a new store on the directory finds every entry', async () => {
      const first = await openStore();
      const audio = audioOf(bodyOf(3), 'audio/mpeg', 22050);
      await first.set('audio:kept', audio);
      await first.close();

      const second = await openStore();
      expect(second.stats.entries).toBe(1);
      expect(second.stats.bytes).toBe((await stat(pathOf('audio:kept'))).size);
      const hit = await second.get('audio:kept');
      expect(hit?.audio).toEqual(audio);
      expect(hit?.audio.contentType).toBe('audio/mpeg');
    });

    it('finds an entry another store wrote after it started (shared directory)', async () => {
      const reader = await openStore();
      const writer = await openStore();
      const audio = audioOf(bodyOf(4));
      await writer.set('audio:shared', audio);
      expect((await reader.get('audio:shared'))?.audio.contentHash).toBe(audio.contentHash);
      expect(reader.stats.entries).toBe(1);
    });

    it('does not write an entry larger than the whole bound', async () => {
      const store = await openStore({ maxBytes: 1000 });
      await store.set('audio:big', audioOf(bodyOf(5, 2000)));
      expect(await filesIn()).toEqual([]);
      expect(await store.get('audio:big')).toBeUndefined();
    });
  });

  describe('corruption', () => {
    const key = 'audio:fragile';
    const audio = audioOf(bodyOf(6, 8192));

    async function storedEntry(): Promise<DiskAudioStore> {
      const store = await openStore();
      await store.set(key, audio);
      return store;
    }

    it('a truncated entry is deleted and missed, never served', async () => {
      const store = await storedEntry();
      const { size } = await stat(pathOf(key));
      await truncate(pathOf(key), size - 100);
      expect(await store.get(key)).toBeUndefined();
      expect(existsSync(pathOf(key))).toBe(false);
      expect(store.failures().corrupt_entry).toBe(1);
      expect(store.stats.entries).toBe(0);
    });

    it('an entry cut inside its header is deleted and missed', async () => {
      const store = await storedEntry();
      await truncate(pathOf(key), 50);
      expect(await store.get(key)).toBeUndefined();
      expect(existsSync(pathOf(key))).toBe(false);
    });

    it('a flipped byte in the body is detected by the checksum', async () => {
      const store = await storedEntry();
      const bytes = await readFile(pathOf(key));
      bytes[bytes.length - 1000] ^= 0x01;
      await writeFile(pathOf(key), bytes);
      expect(await store.get(key)).toBeUndefined();
      expect(existsSync(pathOf(key))).toBe(false);
      expect(store.failures().corrupt_entry).toBe(1);
    });

    it('a flipped byte in the metadata is detected by the header checksum', async () => {
      const store = await storedEntry();
      const bytes = await readFile(pathOf(key));
      const at = bytes.indexOf('audio/wav');
      bytes[at + 6] = 'x'.charCodeAt(0); // audio/xav: valid JSON, wrong content type
      await writeFile(pathOf(key), bytes);
      expect(await store.get(key)).toBeUndefined();
      expect(existsSync(pathOf(key))).toBe(false);
    });

    it('bytes appended to an entry make it invalid', async () => {
      const store = await storedEntry();
      await appendFile(pathOf(key), Buffer.from('trailing'));
      expect(await store.get(key)).toBeUndefined();
    });

    it('an entry copied under another key is not served for that key', async () => {
      const store = await storedEntry();
      await writeFile(pathOf('audio:impostor'), await readFile(pathOf(key)));
      expect(await store.get('audio:impostor')).toBeUndefined();
      expect(digest((await store.get(key))?.audio.body)).toBe(audio.contentHash);
    });

    it('logs one warning for many corrupt entries, and counts each', async () => {
      const store = await openStore();
      for (const name of ['a', 'b', 'c']) {
        await store.set(`audio:${name}`, audio);
        await truncate(pathOf(`audio:${name}`), 10);
        expect(await store.get(`audio:${name}`)).toBeUndefined();
      }
      expect(store.failures().corrupt_entry).toBe(3);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0][0]).toMatch(/corrupt or truncated entry/);
    });

    it('an entry deleted while it is being read is either served whole or missed', async () => {
      const store = await storedEntry();
      const reads: Array<Promise<Buffer | undefined>> = [];
      // Reads started before, at, and after the moment of deletion.
      for (let i = 0; i < 20; i++) reads.push(store.get(key).then((hit) => hit?.audio.body));
      const deleted = (async () => {
        await new Promise((resolve) => setImmediate(resolve));
        await unlink(pathOf(key));
      })();
      for (let i = 0; i < 20; i++) reads.push(store.get(key).then((hit) => hit?.audio.body));
      await deleted;
      const results = await Promise.all(reads);
      for (const body of results) {
        if (body !== undefined) expect(digest(body)).toBe(audio.contentHash);
      }
      expect(await store.get(key)).toBeUndefined();
      expect(store.stats.entries).toBe(0);
      expect(store.failures().corrupt_entry).toBe(0);
    });
  });

  describe('concurrent writers', () => {
    const key = 'audio:contended';
    const first = audioOf(bodyOf(7, 64 * 1024));
    const second = audioOf(bodyOf(8, 96 * 1024));

    it('two stores writing one key at once: readers only ever see a whole entry', async () => {
      const a = await openStore();
      const b = await openStore();
      const reader = await openStore();
      const seen: Array<Buffer | undefined> = [];
      let writing = true;
      const reading = (async () => {
        while (writing) seen.push((await reader.get(key))?.audio.body);
      })();
      for (let round = 0; round < 30; round++) {
        await Promise.all([a.set(key, first), b.set(key, second)]);
      }
      writing = false;
      await reading;
      expect(seen.length).toBeGreaterThan(0);
      const whole = [first.contentHash, second.contentHash];
      for (const body of seen) if (body !== undefined) expect(whole).toContain(digest(body));
      expect(await filesIn()).toEqual([entryNameOf(key)]);
      expect(whole).toContain(digest((await reader.get(key))?.audio.body));
      expect(reader.failures().corrupt_entry).toBe(0);
    });

    it('two processes writing one key at once: readers only ever see a whole entry', async () => {
      const reader = await openStore();
      // Each child opens its own store on the directory and rewrites the key 40 times.
      const script = `
        require('ts-node').register({ transpileOnly: true });
        const { DiskAudioStore } = require('./apps/tts-server/src/cache/disk-audio-store');
        const { contentHashOf } = require('./apps/tts-server/src/cache/cached-audio');
        (async () => {
          const store = await DiskAudioStore.open({
            dir: process.env.STORE_DIR, maxBytes: 1e9, ttlMs: 3600e3, rescanIntervalMs: 0,
            logger: { warn: (message) => { console.error(message); process.exitCode = 3; } },
          });
          process.send('ready');
          const body = Buffer.from(await new Promise((resolve) => process.once('message', resolve)), 'base64');
          const audio = { body, contentType: 'audio/wav', sampleRate: 22050,
            durationSeconds: 1, contentHash: contentHashOf(body) };
          for (let i = 0; i < 40; i++) await store.set(process.env.KEY, audio);
          await store.close();
          process.disconnect();
        })();`;
      const bodies = [first, second];
      const children = bodies.map(() =>
        spawn(process.execPath, ['-e', script], {
          cwd: resolve(__dirname, '../../../..'),
          env: { PATH: process.env.PATH, STORE_DIR: dir, KEY: key },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        }),
      );
      const exits = children.map((child) => once(child, 'exit'));
      const seen: Array<Buffer | undefined> = [];
      try {
        await Promise.all(
          children.map((child, i) =>
            Promise.race([
              once(child, 'message'),
              exits[i].then(() => {
                throw new Error('a writer process exited before it was ready');
              }),
            ]),
          ),
        );
        children.forEach((child, i) => child.send(bodies[i].body.toString('base64')));
        let running = true;
        void Promise.all(exits).then(() => (running = false));
        while (running) seen.push((await reader.get(key))?.audio.body);
      } finally {
        children.forEach((child) => child.exitCode === null && child.kill());
      }

      expect((await Promise.all(exits)).map(([code]) => code as number)).toEqual([0, 0]);
      const whole = [first.contentHash, second.contentHash];
      expect(seen.some((body) => body !== undefined)).toBe(true);
      for (const body of seen) if (body !== undefined) expect(whole).toContain(digest(body));
      expect(await filesIn()).toEqual([entryNameOf(key)]);
      expect(whole).toContain(digest((await reader.get(key))?.audio.body));
      expect(reader.failures().corrupt_entry).toBe(0);
    });
  });

  describe('bounds', () => {
    const bodyBytes = 10_000;
    /** What one entry of these tests occupies on disk (header included). */
    let entryBytes: number;

    beforeEach(async () => {
      const probe = await openStore();
      await probe.set('audio:a', audioOf(bodyOf(0, bodyBytes)));
      entryBytes = probe.stats.bytes;
      await probe.close();
      await rm(dir, { recursive: true });
    });

    /** Distinct steps in time, so recency recorded in file times is ordered. */
    const tick = (): Promise<void> => sleep(15);

    it('evicts the least recently used entries first, within the byte bound', async () => {
      const store = await openStore({ maxBytes: Math.floor(entryBytes * 3.5) });
      await store.set('audio:a', audioOf(bodyOf(0, bodyBytes)));
      await tick();
      await store.set('audio:b', audioOf(bodyOf(1, bodyBytes)));
      await tick();
      await store.set('audio:c', audioOf(bodyOf(2, bodyBytes)));
      await tick();
      expect(await store.get('audio:a')).toBeDefined(); // a is now the most recent
      await tick();
      await store.set('audio:d', audioOf(bodyOf(3, bodyBytes)));
      await store.close();

      expect(existsSync(pathOf('audio:b'))).toBe(false);
      for (const name of ['a', 'c', 'd']) expect(existsSync(pathOf(`audio:${name}`))).toBe(true);
      expect(store.stats).toEqual({ entries: 3, bytes: 3 * entryBytes });
    });

    it('keeps the recency order across a restart (rebuilt from file times)', async () => {
      const before = await openStore({ maxBytes: Math.floor(entryBytes * 3.5) });
      for (const name of ['a', 'b', 'c']) {
        await before.set(`audio:${name}`, audioOf(bodyOf(name.charCodeAt(0), bodyBytes)));
        await tick();
      }
      expect(await before.get('audio:a')).toBeDefined();
      await tick();
      await before.close();

      const after = await openStore({ maxBytes: Math.floor(entryBytes * 3.5) });
      await after.set('audio:d', audioOf(bodyOf(3, bodyBytes)));
      await after.close();
      expect(existsSync(pathOf('audio:b'))).toBe(false);
      for (const name of ['a', 'c', 'd']) expect(existsSync(pathOf(`audio:${name}`))).toBe(true);
    });

    it('a restart with a smaller bound evicts down to it, oldest use first', async () => {
      const before = await openStore();
      for (const name of ['a', 'b', 'c', 'd']) {
        await before.set(`audio:${name}`, audioOf(bodyOf(name.charCodeAt(0), bodyBytes)));
        await tick();
      }
      await before.close();
      const after = await openStore({ maxBytes: entryBytes * 2 });
      await after.close();
      expect(after.stats).toEqual({ entries: 2, bytes: 2 * entryBytes });
      expect(await filesIn()).toEqual([pathOf('audio:c'), pathOf('audio:d')].map(baseName).sort());
    });

    it('expires entries the TTL after they were written, on read and at start', async () => {
      const store = await openStore({ ttlMs: 60_000 });
      await store.set('audio:old', audioOf(bodyOf(1, bodyBytes)));
      await store.set('audio:older', audioOf(bodyOf(2, bodyBytes)));
      await store.set('audio:fresh', audioOf(bodyOf(3, bodyBytes)));
      const hit = await store.get('audio:fresh');
      const { mtimeMs } = await stat(pathOf('audio:fresh'));
      expect(hit?.expiresAtMs).toBeCloseTo(mtimeMs + 60_000, -1);

      const longAgo = new Date(Date.now() - 61_000);
      await utimes(pathOf('audio:old'), longAgo, longAgo);
      await utimes(pathOf('audio:older'), longAgo, longAgo);
      expect(await store.get('audio:old')).toBeUndefined();
      expect(existsSync(pathOf('audio:old'))).toBe(false);

      const restarted = await openStore({ ttlMs: 60_000 });
      expect(existsSync(pathOf('audio:older'))).toBe(false);
      expect(restarted.stats.entries).toBe(1);
      expect(store.failures().corrupt_entry).toBe(0);
    });

    it('sweeps stale temporary files of dead writers and leaves unknown files alone', async () => {
      const store = await openStore();
      await store.close();
      const stale = `.tmp-${'0'.repeat(64)}-12345-${'a'.repeat(12)}`;
      const recent = `.tmp-${'1'.repeat(64)}-12345-${'b'.repeat(12)}`;
      await writeFile(join(dir, stale), 'partial');
      await writeFile(join(dir, recent), 'partial');
      await writeFile(join(dir, 'README'), 'not ours');
      const longAgo = new Date(Date.now() - 3600_000);
      await utimes(join(dir, stale), longAgo, longAgo);
      await openStore();
      expect(await filesIn()).toEqual([recent, 'README'].sort());
    });
  });

  describe('disk failures', () => {
    it('a directory replaced by a file: writes and reads fail open, counted, warned once', async () => {
      const store = await openStore();
      await store.set('audio:before', audioOf(bodyOf(1)));
      await rm(dir, { recursive: true });
      await writeFile(dir, 'not a directory');

      await expect(store.set('audio:x', audioOf(bodyOf(2)))).resolves.toBeUndefined();
      await expect(store.set('audio:y', audioOf(bodyOf(3)))).resolves.toBeUndefined();
      expect(await store.get('audio:before')).toBeUndefined();
      await expect(store.rescan()).resolves.toBeUndefined();

      expect(store.failures().directory_unavailable).toBeGreaterThanOrEqual(3);
      const warnings = warn.mock.calls.map(([message]) => String(message));
      expect(warnings.filter((message) => message.includes('not a directory'))).toHaveLength(1);
      expect(warnings[0]).toContain(dir);
      await rm(dir);
    });

    it('a directory that vanished is made again on the next write (counted, warned once)', async () => {
      const store = await openStore();
      await rm(dir, { recursive: true });
      await store.set('audio:again', audioOf(bodyOf(4)));
      expect(digest((await store.get('audio:again'))?.audio.body)).toBe(digest(bodyOf(4)));
      expect(store.failures().directory_unavailable).toBe(1);
      expect(warn).toHaveBeenCalledTimes(1);
    });

    it('opening on a path that is a file does not throw; the store just misses', async () => {
      await rm(dir, { recursive: true, force: true });
      await writeFile(dir, 'a file');
      const store = await openStore();
      await store.set('audio:z', audioOf(bodyOf(5)));
      expect(await store.get('audio:z')).toBeUndefined();
      expect(store.failures().directory_unavailable).toBeGreaterThan(0);
      await rm(dir);
    });
  });
});

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
