/**
 * @app/voice-catalogue against a real HTTP server on loopback serving generated voices
 * with faults: every outcome of a download, and that MODEL_DIR never holds a broken or
 * partial voice (no temporary file left, no `.onnx` without its `.onnx.json`, every
 * installed file with the catalogue's md5).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { freePort } from './support/processes';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChecksumMismatchError,
  NetworkError,
  RemoteFileNotFoundError,
  SizeMismatchError,
  VoiceCatalogue,
  VoiceNotInCatalogueError,
  defaultCatalogueCacheDir,
  downloadVoice,
  listInstalledVoices,
  type Catalogue,
  type DownloadProgress,
  type DownloadRetry,
  type RetryPolicy,
} from '@app/voice-catalogue';
import { PiperVoice } from '@app/piper';
import {
  startVoiceCatalogueServer,
  type CatalogueVoiceSpec,
  type VoiceCatalogueServer,
} from './support/voice-catalogue-server';

const FAST_RETRY: RetryPolicy = {
  attempts: 3,
  baseDelayMs: 10,
  maxDelayMs: 40,
  stallTimeoutMs: 10_000,
};

const CATALOGUE_VOICES: CatalogueVoiceSpec[] = [
  { name: 'en_US-good-medium' },
  { name: 'en_GB-multi-low', speakers: 3 },
  { name: 'de_DE-thorsten-low' },
  { name: 'en_US-corrupt-medium', faults: { 'en_US-corrupt-medium.onnx': { corrupt: true } } },
  {
    name: 'en_US-wrongsize-medium',
    faults: { 'en_US-wrongsize-medium.onnx.json': { listedSize: 123 } },
  },
  { name: 'en_US-missing-medium', faults: { 'en_US-missing-medium.onnx': { notFound: true } } },
  {
    name: 'en_US-flaky-medium',
    faults: {
      'en_US-flaky-medium.onnx': { dropFirst: 2 },
      'en_US-flaky-medium.onnx.json': { unavailableFirst: 1 },
    },
  },
  { name: 'en_US-dead-medium', faults: { 'en_US-dead-medium.onnx': { dropFirst: 1000 } } },
];

/** Every file under `dir`, relative, skipping the catalogue cache. */
async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  let entries: string[];
  try {
    entries = await readdir(join(dir, prefix));
  } catch {
    return [];
  }
  for (const entry of entries) {
    const relative = prefix ? `${prefix}/${entry}` : entry;
    if (relative === '.catalogue') continue;
    if ((await stat(join(dir, relative))).isDirectory()) {
      found.push(...(await filesUnder(dir, relative)));
    } else {
      found.push(relative);
    }
  }
  return found.sort();
}

/** No temporary file, no network without its config, and the catalogue's md5 everywhere. */
async function expectNoBrokenVoice(modelDir: string, catalogue: Catalogue): Promise<void> {
  const files = await filesUnder(modelDir);
  expect(files.filter((file) => file.endsWith('.part') || file.includes('/.'))).toEqual([]);
  for (const file of files.filter((name) => name.endsWith('.onnx'))) {
    expect(files).toContain(`${file}.json`);
  }
  for (const file of files) {
    const [voiceName, fileName] = file.split('/');
    const listed = catalogue
      .get(voiceName)
      .files.find((entry) => entry.path.endsWith(`/${fileName}`));
    const md5 = createHash('md5')
      .update(await readFile(join(modelDir, file)))
      .digest('hex');
    expect({ file, md5 }).toEqual({ file, md5: listed?.md5 });
  }
}

describe(VoiceCatalogue.name, () => {
  let workDir: string;
  let modelDir: string;
  let server: VoiceCatalogueServer;
  let catalogue: Catalogue;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'voice-catalogue-'));
    modelDir = join(workDir, 'models');
    server = await startVoiceCatalogueServer(join(workDir, 'source'), CATALOGUE_VOICES);
    catalogue = await new VoiceCatalogue({
      baseUrl: server.baseUrl,
      cacheDir: defaultCatalogueCacheDir(modelDir),
      retry: FAST_RETRY,
    }).load();
  });

  afterAll(async () => {
    await server.close();
    await rm(workDir, { recursive: true, force: true });
  });

  const requestsFor = (voice: string, file: string) =>
    server.requests.filter((request) => request.path === server.pathOf(voice, file));

  describe('catalogue', () => {
    it('lists every voice with language, quality, speakers and download size', () => {
      expect([...catalogue.voices.keys()]).toHaveLength(CATALOGUE_VOICES.length);
      const multi = catalogue.get('en_GB-multi-low');
      expect(multi).toMatchObject({
        language: { code: 'en_GB', family: 'en' },
        quality: 'low',
        numSpeakers: 3,
      });
      expect(multi.downloadBytes).toBe(multi.files.reduce((sum, file) => sum + file.sizeBytes, 0));
      expect(catalogue.list({ language: 'en_GB' }).map((voice) => voice.name)).toEqual([
        'en_GB-multi-low',
      ]);
      expect(catalogue.list({ language: 'de' }).map((voice) => voice.name)).toEqual([
        'de_DE-thorsten-low',
      ]);
      expect(catalogue.get('en-us-good-medium').name).toBe('en_US-good-medium');
    });

    it('names close voices when a name is not in the catalogue', () => {
      expect(() => catalogue.get('en_US-god-medium')).toThrow(VoiceNotInCatalogueError);
      expect(() => catalogue.get('en_US-god-medium')).toThrow(
        'voice "en_US-god-medium" is not in the catalogue; close names: en_US-good-medium',
      );
    });

    it('is cached on disk: a second load makes no request, and works when offline', async () => {
      const before = server.requests.length;
      const again = await new VoiceCatalogue({
        baseUrl: server.baseUrl,
        cacheDir: defaultCatalogueCacheDir(modelDir),
      }).load();
      expect(server.requests.length).toBe(before);
      expect(again.source.stale).toBe(false);
      expect([...again.voices.keys()]).toEqual([...catalogue.voices.keys()]);

      // A cache of any age beats no catalogue: when a refresh cannot reach the server,
      // the cached copy is used, marked stale.
      const mirror = await startVoiceCatalogueServer(join(workDir, 'mirror'), [
        { name: 'en_US-good-medium' },
      ]);
      const options = {
        baseUrl: mirror.baseUrl,
        cacheDir: join(workDir, 'mirror-cache'),
        retry: FAST_RETRY,
      };
      expect((await new VoiceCatalogue(options).load()).source.stale).toBe(false);
      await mirror.close();
      const stale = await new VoiceCatalogue(options).load({ refresh: true });
      expect(stale.source.stale).toBe(true);
      expect(stale.source.staleReason).toMatch(/^no network: .*ECONNREFUSED/);
      expect([...stale.voices.keys()]).toEqual(['en_US-good-medium']);
    });

    it('says "no network" in one line when voices.json cannot be reached', async () => {
      const port = await freePort();
      const offline = new VoiceCatalogue({
        baseUrl: `http://127.0.0.1:${port}`,
        cacheDir: join(workDir, 'empty-cache'),
        retry: FAST_RETRY,
      });
      const error = (await offline.load().catch((caught: unknown) => caught)) as Error;
      expect(error).toBeInstanceOf(NetworkError);
      expect(error.message).toBe(
        `no network: cannot download http://127.0.0.1:${port}/voices.json (ECONNREFUSED, 3 attempts); ` +
          'check the connection or VOICES_BASE_URL',
      );
    });
  });

  describe('downloads', () => {
    it('installs a voice: network, config and card, verified, loadable by the engine', async () => {
      const progress: DownloadProgress[] = [];
      const result = await downloadVoice(catalogue, 'en_US-good-medium', {
        modelDir,
        onProgress: (update) => progress.push(update),
      });
      const dir = join(modelDir, 'en_US-good-medium');
      expect(result).toEqual({
        voice: 'en_US-good-medium',
        dir,
        files: [
          join(dir, 'MODEL_CARD'),
          join(dir, 'en_US-good-medium.onnx'),
          join(dir, 'en_US-good-medium.onnx.json'),
        ],
        alreadyInstalled: false,
      });
      const last = progress.filter((update) => update.file === 'en_US-good-medium.onnx').pop();
      expect(last).toMatchObject({ bytes: last?.totalBytes, etaSeconds: 0 });
      await expectNoBrokenVoice(modelDir, catalogue);

      const voice = await PiperVoice.load(join(dir, 'en_US-good-medium.onnx'), {
        intraOpThreads: 1,
      });
      try {
        const { pcm } = await voice.synthesizeAll('Hello.');
        expect(pcm.length).toBeGreaterThan(0);
      } finally {
        await voice.release();
      }
      expect(await listInstalledVoices(modelDir)).toEqual([
        expect.objectContaining({
          name: 'en_US-good-medium',
          layout: 'directory',
          quality: 'medium',
        }),
      ]);
    });

    it('does nothing for a voice already installed, unless forced', async () => {
      const before = server.requests.length;
      const result = await downloadVoice(catalogue, 'en_US-good-medium', { modelDir });
      expect(result.alreadyInstalled).toBe(true);
      expect(server.requests.length).toBe(before);
      const forced = await downloadVoice(catalogue, 'en_US-good-medium', { modelDir, force: true });
      expect(forced.alreadyInstalled).toBe(false);
      expect(server.requests.length).toBe(before + 3);
      await expectNoBrokenVoice(modelDir, catalogue);
    });

    it('rejects a corrupted file by md5 and installs nothing of the voice', async () => {
      const error = (await downloadVoice(catalogue, 'en_US-corrupt-medium', { modelDir }).catch(
        (caught: unknown) => caught,
      )) as ChecksumMismatchError;
      expect(error).toBeInstanceOf(ChecksumMismatchError);
      expect(error.message).toMatch(
        /^checksum mismatch for en_US-corrupt-medium\.onnx: md5 [0-9a-f]{32}, the catalogue lists [0-9a-f]{32}; nothing was installed$/,
      );
      expect(requestsFor('en_US-corrupt-medium', 'en_US-corrupt-medium.onnx')).toHaveLength(1);
      await expect(stat(join(modelDir, 'en_US-corrupt-medium'))).rejects.toThrow('ENOENT');
      await expectNoBrokenVoice(modelDir, catalogue);
    });

    it('rejects a file whose size is not the catalogue’s, without retrying', async () => {
      const error = (await downloadVoice(catalogue, 'en_US-wrongsize-medium', { modelDir }).catch(
        (caught: unknown) => caught,
      )) as SizeMismatchError;
      expect(error).toBeInstanceOf(SizeMismatchError);
      expect(error.expectedBytes).toBe(123);
      expect(error.message).toMatch(
        /^size mismatch for en_US-wrongsize-medium\.onnx\.json: the catalogue lists 123 bytes, the server sent \d+; nothing was installed$/,
      );
      expect(
        requestsFor('en_US-wrongsize-medium', 'en_US-wrongsize-medium.onnx.json'),
      ).toHaveLength(1);
      await expect(stat(join(modelDir, 'en_US-wrongsize-medium'))).rejects.toThrow('ENOENT');
      await expectNoBrokenVoice(modelDir, catalogue);
    });

    it('reports a 404 at once, without retrying', async () => {
      const error = (await downloadVoice(catalogue, 'en_US-missing-medium', { modelDir }).catch(
        (caught: unknown) => caught,
      )) as RemoteFileNotFoundError;
      expect(error).toBeInstanceOf(RemoteFileNotFoundError);
      expect(error.message).toBe(
        `not found (HTTP 404): ${server.baseUrl}/${server.pathOf('en_US-missing-medium', 'en_US-missing-medium.onnx')}; ` +
          'check VOICES_BASE_URL and the catalogue revision',
      );
      expect(requestsFor('en_US-missing-medium', 'en_US-missing-medium.onnx')).toHaveLength(1);
      await expectNoBrokenVoice(modelDir, catalogue);
    });

    it('retries dropped connections and 503s with backoff, resuming where it stopped', async () => {
      const retries: DownloadRetry[] = [];
      const result = await downloadVoice(catalogue, 'en_US-flaky-medium', {
        modelDir,
        onRetry: (retry) => retries.push(retry),
      });
      expect(result.alreadyInstalled).toBe(false);
      expect(retries.map(({ file, attempt, reason }) => ({ file, attempt, reason }))).toEqual([
        { file: 'en_US-flaky-medium.onnx', attempt: 2, reason: expect.any(String) as string },
        { file: 'en_US-flaky-medium.onnx', attempt: 3, reason: expect.any(String) as string },
        { file: 'en_US-flaky-medium.onnx.json', attempt: 2, reason: 'HTTP 503' },
      ]);
      for (const retry of retries) expect(retry.delayMs).toBeLessThanOrEqual(40);
      // The second and third requests asked for the rest of the file only.
      const onnx = requestsFor('en_US-flaky-medium', 'en_US-flaky-medium.onnx');
      expect(onnx.map((request) => request.status)).toEqual([200, 206, 206]);
      expect(onnx[1].range).toMatch(/^bytes=\d+-$/);
      await expectNoBrokenVoice(modelDir, catalogue);
      expect((await listInstalledVoices(modelDir)).map((voice) => voice.name)).toEqual([
        'en_US-flaky-medium',
        'en_US-good-medium',
      ]);
    });

    it('gives up after the last attempt with a one-line network error', async () => {
      const error = (await downloadVoice(catalogue, 'en_US-dead-medium', { modelDir }).catch(
        (caught: unknown) => caught,
      )) as NetworkError;
      expect(error).toBeInstanceOf(NetworkError);
      expect(error.message).toMatch(
        /^no network: cannot download http:\/\/127\.0\.0\.1:\d+\/piper-voices\/en\/en_US\/dead\/medium\/en_US-dead-medium\.onnx \(.+, 3 attempts\); check the connection or VOICES_BASE_URL$/,
      );
      expect(error.message).not.toContain('\n');
      expect(requestsFor('en_US-dead-medium', 'en_US-dead-medium.onnx')).toHaveLength(3);
      await expect(stat(join(modelDir, 'en_US-dead-medium'))).rejects.toThrow('ENOENT');
      await expectNoBrokenVoice(modelDir, catalogue);
    });
  });
});
