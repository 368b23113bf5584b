import { Test, type TestingModule } from '@nestjs/testing';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SettingsModule } from '../config/settings.module';
import { MetricsModule } from '../metrics/metrics.module';
import { RedisModule } from '../redis/redis.module';
import { AudioCacheModule } from './audio-cache.module';
import { AudioCacheService, type CachedAudio } from './audio-cache.service';
import { contentHashOf } from './cached-audio';

function wavLike(seed: number, bytes = 20_000): CachedAudio {
  const body = Buffer.alloc(bytes, seed);
  return { body, contentType: 'audio/wav', sampleRate: 22050, durationSeconds: 0.45 };
}

describe(AudioCacheService.name, () => {
  let root: string;
  let modelDir: string;
  let cacheDir: string;
  let open: TestingModule[] = [];

  /** An AudioCacheService as the server builds it, over `settings`. */
  async function start(settings: Record<string, string> = {}): Promise<AudioCacheService> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SettingsModule.forRoot({ MODEL_DIR: modelDir, CACHE_DIR: cacheDir, ...settings }),
        MetricsModule,
        RedisModule,
        AudioCacheModule,
      ],
    }).compile();
    await moduleRef.init();
    open.push(moduleRef);
    return moduleRef.get(AudioCacheService);
  }

  /** Closes every cache (as a shutdown does: disk writes finish first). */
  async function stopAll(): Promise<void> {
    await Promise.all(open.map((moduleRef) => moduleRef.close()));
    open = [];
  }

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'audio-cache-'));
    modelDir = join(root, 'models');
    cacheDir = join(root, 'cache');
    await mkdir(modelDir);
  });

  afterEach(async () => {
    await stopAll();
    await rm(root, { recursive: true, force: true });
  });

  it('answers from memory, then after a restart from disk, then from memory again', async () => {
    const audio = wavLike(1);
    const produce = jest.fn(() => Promise.resolve(audio));
    const first = await start();
    const miss = await first.getOrProduce('audio:k', produce);
    expect(miss.cache).toBe('MISS');
    expect(miss.tier).toBeUndefined();
    expect(miss.audio.contentHash).toBe(contentHashOf(audio.body));
    expect(await first.getOrProduce('audio:k', produce)).toMatchObject({
      cache: 'HIT',
      tier: 'memory',
    });
    await stopAll();

    const second = await start();
    const fromDisk = await second.getOrProduce('audio:k', produce);
    expect(fromDisk).toMatchObject({ cache: 'HIT', tier: 'disk' });
    expect(fromDisk.audio.contentHash).toBe(miss.audio.contentHash);
    expect(fromDisk.audio.body.equals(audio.body)).toBe(true);
    expect(fromDisk.audio).toMatchObject({ contentType: 'audio/wav', sampleRate: 22050 });
    expect(await second.getOrProduce('audio:k', produce)).toMatchObject({ tier: 'memory' });
    expect(produce).toHaveBeenCalledTimes(1);
  });

  it('get() (the streamed path) looks in both tiers and reports which', async () => {
    const first = await start();
    await first.set('audio:s', wavLike(2));
    expect((await first.get('audio:s'))?.tier).toBe('memory');
    await stopAll();
    const second = await start();
    expect((await second.get('audio:s'))?.tier).toBe('disk');
    expect((await second.get('audio:s'))?.tier).toBe('memory');
    expect(await second.get('audio:absent')).toBeUndefined();
  });

  it('identical lookups at once share one disk read or one synthesis', async () => {
    const first = await start();
    const produce = jest.fn(() => Promise.resolve(wavLike(3)));
    const together = await Promise.all([1, 2, 3].map(() => first.getOrProduce('audio:t', produce)));
    expect(together.map((lookup) => lookup.cache).sort()).toEqual(['HIT', 'HIT', 'MISS']);
    await stopAll();

    const second = await start();
    const fromDisk = await Promise.all(
      [1, 2, 3].map(() => second.getOrProduce('audio:t', produce)),
    );
    expect(fromDisk.map((lookup) => `${lookup.cache} ${lookup.tier}`)).toEqual([
      'HIT disk',
      'HIT disk',
      'HIT disk',
    ]);
    expect(produce).toHaveBeenCalledTimes(1);
  });

  it('without CACHE_DIR nothing survives a restart', async () => {
    const produce = jest.fn(() => Promise.resolve(wavLike(4)));
    await (await start({ CACHE_DIR: '' })).getOrProduce('audio:m', produce);
    await stopAll();
    expect((await (await start({ CACHE_DIR: '' })).getOrProduce('audio:m', produce)).cache).toBe(
      'MISS',
    );
    expect(existsSync(cacheDir)).toBe(false);
  });

  it('with ENABLE_CACHING=false nothing is written to CACHE_DIR', async () => {
    const cache = await start({ ENABLE_CACHING: 'false' });
    const produce = jest.fn(() => Promise.resolve(wavLike(5)));
    await cache.getOrProduce('audio:off', produce);
    await cache.getOrProduce('audio:off', produce);
    await stopAll();
    expect(produce).toHaveBeenCalledTimes(2);
    expect(existsSync(cacheDir)).toBe(false);
  });

  it('with the memory tier off (CACHE_MAX_BYTES=0) every hit comes from disk', async () => {
    const cache = await start({ CACHE_MAX_BYTES: '0' });
    await cache.getOrProduce('audio:d', () => Promise.resolve(wavLike(6)));
    await stopAll();
    const again = await start({ CACHE_MAX_BYTES: '0' });
    const produce = jest.fn(() => Promise.resolve(wavLike(6)));
    expect((await again.getOrProduce('audio:d', produce)).tier).toBe('disk');
    expect((await again.getOrProduce('audio:d', produce)).tier).toBe('disk');
    expect(produce).not.toHaveBeenCalled();
  });

  it('refuses to start with CACHE_DIR inside MODEL_DIR, also through a symbolic link', async () => {
    await expect(start({ CACHE_DIR: join(modelDir, 'cache') })).rejects.toThrow(
      /CACHE_DIR=.* is inside MODEL_DIR=/,
    );
    await expect(start({ CACHE_DIR: modelDir })).rejects.toThrow(/inside MODEL_DIR/);
    await symlink(modelDir, join(root, 'alias'));
    await expect(start({ CACHE_DIR: join(root, 'alias', 'cache') })).rejects.toThrow(
      /inside MODEL_DIR/,
    );
    expect(await readdir(modelDir)).toEqual([]);
  });

  it('a cache directory it cannot use still answers (fail open) and counts the failures', async () => {
    await writeFile(cacheDir, 'a file where the directory should be');
    const cache = await start();
    const produce = jest.fn(() => Promise.resolve(wavLike(7)));
    expect((await cache.getOrProduce('audio:f', produce)).cache).toBe('MISS');
    expect((await cache.getOrProduce('audio:f', produce)).tier).toBe('memory');
    await stopAll();
    expect(cache.diskFailures().directory_unavailable).toBeGreaterThan(0);
  });
});
