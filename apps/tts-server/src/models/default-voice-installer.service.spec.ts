import { Logger } from '@nestjs/common';
import { mkdtemp, rm } from 'node:fs/promises';

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTestVoice } from '@app/piper';
import { VoiceCatalogue, defaultCatalogueCacheDir } from '@app/voice-catalogue';
import {
  startVoiceCatalogueServer,
  type VoiceCatalogueServer,
} from '../../../../test/support/voice-catalogue-server';
import { freePort } from '../../../../test/support/processes';
import { validateSettings } from '../config/settings';
import { DefaultVoiceInstallerService } from './default-voice-installer.service';
import { VoiceRegistryService } from './voice-registry.service';

describe(DefaultVoiceInstallerService.name, () => {
  let workDir: string;
  let modelDir: string;
  let catalogueServer: VoiceCatalogueServer;
  let errors: string[];
  let warnings: string[];

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'default-voice-installer-'));
    catalogueServer = await startVoiceCatalogueServer(join(workDir, 'remote'), [
      { name: 'en_US-fresh-medium' },
    ]);
  });

  afterAll(async () => {
    await catalogueServer.close();
    await rm(workDir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    modelDir = await mkdtemp(join(workDir, 'models-'));
    await writeTestVoice(modelDir, { name: 'local-voice' });
    errors = [];
    warnings = [];
    jest.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => {
      errors.push(String(message));
    });
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => {
      warnings.push(String(message));
    });
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });

  afterEach(() => jest.restoreAllMocks());

  async function installerFor(env: Record<string, string>): Promise<{
    installer: DefaultVoiceInstallerService;
    registry: VoiceRegistryService;
  }> {
    const settings = validateSettings({ MODEL_DIR: modelDir, ...env });
    const registry = new VoiceRegistryService(settings);
    await registry.scan();
    const catalogue = new VoiceCatalogue({
      baseUrl: settings.VOICES_BASE_URL,
      cacheDir: defaultCatalogueCacheDir(settings.modelDir),
      // One attempt: the retries' backoff is the catalogue's own (tested there).
      retry: { attempts: 1 },
    });
    return { installer: new DefaultVoiceInstallerService(settings, registry, catalogue), registry };
  }

  it('downloads a missing DEFAULT_MODEL, then serves it as the default voice', async () => {
    const { installer, registry } = await installerFor({
      DEFAULT_MODEL: 'en_US-fresh-medium',
      VOICES_BASE_URL: catalogueServer.baseUrl,
    });
    expect(registry.defaultVoice()?.name).toBe('local-voice');

    installer.onApplicationBootstrap();
    expect(installer.status()).toMatchObject({ state: 'downloading', voice: 'en_US-fresh-medium' });
    await installer.whenSettled();

    expect(installer.status()).toEqual({ state: 'installed', voice: 'en_US-fresh-medium' });
    expect(registry.names()).toEqual(['en_US-fresh-medium', 'local-voice']);
    expect(registry.defaultVoice()?.name).toBe('en_US-fresh-medium');
    expect(errors).toEqual([]);
  });

  it('offline: one clear error line, and the installed voices are still served', async () => {
    const { installer, registry } = await installerFor({
      DEFAULT_MODEL: 'en_US-fresh-medium',
      VOICES_BASE_URL: `http://127.0.0.1:${await freePort()}/voices`,
    });
    installer.onApplicationBootstrap();
    await installer.whenSettled();

    expect(installer.status()).toMatchObject({
      state: 'failed',
      voice: 'en_US-fresh-medium',
      reason: expect.stringContaining('no network'),
    });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^could not download DEFAULT_MODEL "en_US-fresh-medium": no network/);
    expect(errors[0]).toContain('npx piper-server voices download en_US-fresh-medium');
    expect(errors[0]).toContain('Serving the 1 installed voice(s)');
    expect(registry.defaultVoice()?.name).toBe('local-voice');
  });

  it('says so when DEFAULT_MODEL is not in the catalogue', async () => {
    const { installer } = await installerFor({
      DEFAULT_MODEL: 'en_US-fersh-medium',
      VOICES_BASE_URL: catalogueServer.baseUrl,
    });
    installer.onApplicationBootstrap();
    await installer.whenSettled();

    expect(installer.status()).toMatchObject({ state: 'failed' });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('en_US-fersh-medium');
    expect(errors[0]).toContain('en_US-fresh-medium'); // the close name is suggested
  });

  it('does nothing when DEFAULT_MODEL is installed, unset, or AUTO_DOWNLOAD is off', async () => {
    const requestsBefore = catalogueServer.requests.length;
    for (const env of <Record<string, string>[]>[
      { DEFAULT_MODEL: 'local-voice' },
      {},
      { DEFAULT_MODEL: 'en_US-fresh-medium', AUTO_DOWNLOAD: 'false' },
    ]) {
      const { installer } = await installerFor({
        ...env,
        VOICES_BASE_URL: catalogueServer.baseUrl,
      });
      installer.onApplicationBootstrap();
      await installer.whenSettled();
      expect(installer.status()).toEqual({ state: 'not-needed' });
    }
    expect(catalogueServer.requests.length).toBe(requestsBefore);
    expect(warnings).toContainEqual(
      expect.stringContaining(
        'AUTO_DOWNLOAD is off: install it with `npx piper-server voices download en_US-fresh-medium`',
      ),
    );
  });
});
