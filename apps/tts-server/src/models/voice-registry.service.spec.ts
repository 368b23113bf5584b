import { Logger } from '@nestjs/common';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWav, loadVoiceConfig, writeTestVoice } from '@app/piper';
import { validateSettings } from '../config/settings';
import { VoiceNotFoundError } from './voice-not-found.error';
import { SINGLE_SPEAKER_ID, VoiceRegistryService } from './voice-registry.service';

/** Copies a generated voice's two files under another stem (names writeTestVoice refuses). */
async function copyVoice(from: string, toDir: string, name: string): Promise<void> {
  await mkdir(toDir, { recursive: true });
  await copyFile(`${from}.onnx`, join(toDir, `${name}.onnx`));
  await copyFile(`${from}.onnx.json`, join(toDir, `${name}.onnx.json`));
}

async function editConfig(
  configPath: string,
  edit: (json: Record<string, unknown>) => void,
): Promise<void> {
  const json = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  edit(json);
  await writeFile(configPath, JSON.stringify(json));
}

describe(VoiceRegistryService.name, () => {
  let modelDir: string;
  let warnings: string[];

  const registryFor = (env: Record<string, string> = {}): VoiceRegistryService =>
    new VoiceRegistryService(validateSettings({ MODEL_DIR: modelDir, ...env }));

  beforeEach(async () => {
    modelDir = await mkdtemp(join(tmpdir(), 'voice-registry-'));
    warnings = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => {
      warnings.push(String(message));
    });
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await rm(modelDir, { recursive: true, force: true });
  });

  describe('layouts', () => {
    let demoWav: Buffer;

    beforeEach(async () => {
      // Piper's flat layout, with a card named after the voice.
      await writeTestVoice(modelDir, { name: 'en_US-flat-medium' });
      await writeFile(join(modelDir, 'en_US-flat-medium.md'), '# flat card\n');
      // The seed's directory layout: MODEL_CARD, a recorded demo, three speakers.
      const seedDir = join(modelDir, 'en_GB-seed-medium');
      await writeTestVoice(seedDir, { name: 'en_GB-seed-medium', speakers: 3 });
      await writeFile(join(seedDir, 'MODEL_CARD'), '# seed card\n');
      demoWav = encodeWav(new Int16Array([1, 2, 3]), 22050);
      await writeFile(join(seedDir, 'demo.wav'), demoWav);
      // A flat voice with neither card nor demo.
      await writeTestVoice(modelDir, { name: 'plain' });
    });

    it('finds voices of both layouts, with their files and configs, in name order', async () => {
      const registry = registryFor();
      await registry.scan();

      expect(registry.names()).toEqual(['en_GB-seed-medium', 'en_US-flat-medium', 'plain']);

      const seed = registry.get('en_GB-seed-medium');
      expect(seed).toMatchObject({
        layout: 'directory',
        modelPath: join(modelDir, 'en_GB-seed-medium', 'en_GB-seed-medium.onnx'),
        configPath: join(modelDir, 'en_GB-seed-medium', 'en_GB-seed-medium.onnx.json'),
        modelCardPath: join(modelDir, 'en_GB-seed-medium', 'MODEL_CARD'),
        demoWavPath: join(modelDir, 'en_GB-seed-medium', 'demo.wav'),
      });
      expect(seed.config.numSpeakers).toBe(3);
      expect(seed.config).toEqual(await loadVoiceConfig(seed.configPath));
      expect(seed.sizeBytes).toBe((await readFile(seed.modelPath)).length);
      expect(await readFile(seed.demoWavPath!)).toEqual(demoWav);

      expect(registry.get('en_US-flat-medium')).toMatchObject({
        layout: 'flat',
        modelPath: join(modelDir, 'en_US-flat-medium.onnx'),
        configPath: join(modelDir, 'en_US-flat-medium.onnx.json'),
        modelCardPath: join(modelDir, 'en_US-flat-medium.md'),
        demoWavPath: undefined,
      });
      expect(registry.get('plain').modelCardPath).toBeUndefined();
      expect(warnings).toEqual([]);
    });

    it('takes any *.md as the card and any *.wav as the demo of a voice directory', async () => {
      const dir = join(modelDir, 'other');
      await writeTestVoice(dir, { name: 'other' });
      await writeFile(join(dir, 'notes.md'), '# notes\n');
      await writeFile(join(dir, 'sample.wav'), demoWav);
      const registry = registryFor();
      await registry.scan();

      expect(registry.get('other')).toMatchObject({
        modelCardPath: join(dir, 'notes.md'),
        demoWavPath: join(dir, 'sample.wav'),
      });
    });

    it('does not give a flat voice the card or demo of another file', async () => {
      await writeFile(join(modelDir, 'MODEL_CARD'), '# whose?\n');
      await writeFile(join(modelDir, 'README.md'), '# the directory\n');
      await writeFile(join(modelDir, 'demo.wav'), demoWav);
      const registry = registryFor();
      await registry.scan();

      expect(registry.get('plain')).toMatchObject({
        modelCardPath: undefined,
        demoWavPath: undefined,
      });
    });

    it('prefers the directory layout when both install the same name, and says so', async () => {
      await writeTestVoice(modelDir, { name: 'en_GB-seed-medium' });
      const registry = registryFor();
      await registry.scan();

      expect(registry.get('en_GB-seed-medium').layout).toBe('directory');
      expect(warnings).toEqual([
        expect.stringContaining(
          `${join(modelDir, 'en_GB-seed-medium.onnx')}: voice "en_GB-seed-medium" is already installed`,
        ),
      ]);
    });

    it('lists speakers by index: names of speaker_id_map, or "default" for one speaker', async () => {
      const registry = registryFor();
      await registry.scan();

      expect(registry.speakers(registry.get('en_GB-seed-medium'))).toEqual([
        { index: '0', id: 'speaker_0' },
        { index: '1', id: 'speaker_1' },
        { index: '2', id: 'speaker_2' },
      ]);
      expect(registry.speakers(registry.get('plain'))).toEqual([
        { index: '0', id: SINGLE_SPEAKER_ID },
      ]);
    });

    it('lists speakers in id order and an unnamed id under its index', async () => {
      const dir = join(modelDir, 'partial');
      const { configPath } = await writeTestVoice(dir, { name: 'partial', speakers: 3 });
      await editConfig(configPath, (json) => {
        json['speaker_id_map'] = { zed: 2, amy: 0 };
      });
      const registry = registryFor();
      await registry.scan();

      expect(registry.speakers(registry.get('partial'))).toEqual([
        { index: '0', id: 'amy' },
        { index: '1', id: '1' },
        { index: '2', id: 'zed' },
      ]);
    });

    it('uses DEFAULT_MODEL as the default voice when it is installed', async () => {
      const registry = registryFor({ DEFAULT_MODEL: 'plain' });
      await registry.scan();

      expect(registry.defaultVoice()?.name).toBe('plain');
      expect(warnings).toEqual([]);
    });

    it('falls back to the first voice by name, with a warning, when DEFAULT_MODEL is absent', async () => {
      const registry = registryFor({ DEFAULT_MODEL: 'en_US-missing-low' });
      await registry.scan();

      expect(registry.defaultVoice()?.name).toBe('en_GB-seed-medium');
      expect(warnings).toEqual([
        expect.stringContaining('DEFAULT_MODEL "en_US-missing-low" is not installed'),
      ]);
    });

    it('uses the first voice by name when DEFAULT_MODEL is unset', async () => {
      const registry = registryFor();
      await registry.scan();

      expect(registry.defaultVoice()?.name).toBe('en_GB-seed-medium');
    });

    it('replaces its voices on a rescan', async () => {
      const registry = registryFor();
      await registry.scan();
      await rm(join(modelDir, 'plain.onnx'));
      await registry.scan();

      expect(registry.has('plain')).toBe(false);
      expect(registry.names()).toEqual(['en_GB-seed-medium', 'en_US-flat-medium']);
    });
  });

  describe('voices it skips', () => {
    it('skips names outside [A-Za-z0-9_-] with a warning naming the file', async () => {
      await writeTestVoice(modelDir, { name: 'good' });
      await writeTestVoice(modelDir, { name: 'has.dot' });
      await writeTestVoice(join(modelDir, 'dir.dot'), { name: 'dir.dot' });
      const registry = registryFor();
      await registry.scan();

      expect(registry.names()).toEqual(['good']);
      expect(warnings).toEqual([
        expect.stringContaining(
          `skipping ${join(modelDir, 'dir.dot', 'dir.dot.onnx')}: voice name`,
        ),
        expect.stringContaining(`skipping ${join(modelDir, 'has.dot.onnx')}: voice name`),
      ]);
    });

    it('skips a voice whose config is invalid, naming the file and the field', async () => {
      await writeTestVoice(modelDir, { name: 'good' });
      const { configPath } = await writeTestVoice(modelDir, { name: 'broken' });
      await editConfig(configPath, (json) => {
        json['audio'] = { sample_rate: 'fast' };
      });
      const registry = registryFor();
      await registry.scan();

      expect(registry.names()).toEqual(['good']);
      expect(warnings).toEqual([
        `skipping voice "broken": ${configPath}: audio.sample_rate: must be a positive integer`,
      ]);
    });

    it('skips a voice whose config is not JSON or is missing', async () => {
      const { configPath } = await writeTestVoice(modelDir, { name: 'garbled' });
      await writeFile(configPath, '{ not json');
      const orphan = await writeTestVoice(modelDir, { name: 'orphan' });
      await rm(orphan.configPath);
      const registry = registryFor();
      await registry.scan();

      expect(registry.names()).toEqual([]);
      expect(warnings).toEqual([
        expect.stringMatching(/^skipping voice "garbled": .*garbled\.onnx\.json: invalid JSON/),
        expect.stringMatching(/^skipping voice "orphan": .*orphan\.onnx\.json: file not found/),
        `no voices found in ${modelDir}`,
      ]);
    });

    it('skips a voice directory without <directory>.onnx, naming what it found', async () => {
      await writeTestVoice(join(modelDir, 'lessac'), { name: 'en_US-lessac-medium' });
      await mkdir(join(modelDir, 'not-a-voice'));
      const registry = registryFor();
      await registry.scan();

      expect(registry.names()).toEqual([]);
      expect(warnings).toEqual([
        expect.stringContaining(
          `skipping ${join(modelDir, 'lessac')}: a voice directory must hold <directory name>.onnx ` +
            '(lessac.onnx), found en_US-lessac-medium.onnx',
        ),
        `no voices found in ${modelDir}`,
      ]);
    });

    it('gives an empty registry and a warning when MODEL_DIR does not exist', async () => {
      const missing = join(modelDir, 'nowhere');
      const registry = new VoiceRegistryService(validateSettings({ MODEL_DIR: missing }));
      await registry.scan();

      expect(registry.list()).toEqual([]);
      expect(registry.defaultVoice()).toBeUndefined();
      expect(warnings[0]).toContain(`MODEL_DIR ${missing} does not exist`);
      expect(() => registry.get('anything')).toThrow(
        'voice "anything" is not installed; installed voices: (none)',
      );
    });
  });

  describe('validation and rescans', () => {
    it('lists every invalid voice with its reasons, and serves the valid ones', async () => {
      await writeTestVoice(modelDir, { name: 'good' });
      const truncated = await writeTestVoice(modelDir, { name: 'truncated' });
      const bytes = await readFile(truncated.modelPath);
      await writeFile(truncated.modelPath, bytes.subarray(0, bytes.length - 10));
      const orphan = await writeTestVoice(modelDir, { name: 'orphan' });
      await rm(orphan.configPath);
      const bad = await writeTestVoice(modelDir, { name: 'bad-speaker', speakers: 2 });
      await editConfig(bad.configPath, (json) => {
        json['default_speaker_id'] = 5;
      });
      const both = await writeTestVoice(modelDir, { name: 'both-broken' });
      await writeFile(both.modelPath, 'not a network');
      await writeFile(both.configPath, '{');
      const registry = registryFor();
      await registry.scan();

      expect(registry.names()).toEqual(['good']);
      expect(registry.invalid()).toEqual([
        {
          name: 'bad-speaker',
          path: bad.modelPath,
          reasons: [
            expect.stringMatching(/default_speaker_id: must be an id below num_speakers \(2\)/),
          ],
        },
        {
          name: 'both-broken',
          path: both.modelPath,
          reasons: [
            expect.stringMatching(
              /both-broken\.onnx: the network file is (not an ONNX model|truncated)/,
            ),
            expect.stringMatching(/both-broken\.onnx\.json: invalid JSON/),
          ],
        },
        {
          name: 'orphan',
          path: orphan.modelPath,
          reasons: [expect.stringMatching(/file not found/)],
        },
        {
          name: 'truncated',
          path: truncated.modelPath,
          reasons: [expect.stringMatching(/truncated\.onnx: the network file is truncated/)],
        },
      ]);
    });

    it('logs a problem once, not on every rescan, and again when it comes back', async () => {
      const orphan = await writeTestVoice(modelDir, { name: 'orphan' });
      await rm(orphan.configPath);
      await writeTestVoice(modelDir, { name: 'good' });
      const registry = registryFor();
      await registry.scan();
      await registry.scan();
      await registry.scan();
      expect(warnings.filter((line) => line.includes('orphan'))).toHaveLength(1);

      await rm(orphan.modelPath);
      await registry.scan();
      await writeTestVoice(modelDir, { name: 'orphan' });
      await rm(orphan.configPath);
      await registry.scan();
      expect(warnings.filter((line) => line.includes('orphan'))).toHaveLength(2);
    });

    it('reports what a rescan added, replaced and removed, and a new default', async () => {
      await writeTestVoice(modelDir, { name: 'alpha' });
      const beta = await writeTestVoice(modelDir, { name: 'beta' });
      const registry = registryFor();
      const seen: Array<Record<string, unknown>> = [];
      registry.onChange((changes) => {
        seen.push({
          added: changes.added.map(({ name }) => name),
          removed: changes.removed.map(({ name }) => name),
          replaced: changes.replaced.map(({ current }) => current.name),
          defaultChanged: changes.defaultChanged,
        });
      });
      await registry.scan();
      const betaBefore = registry.get('beta');

      await rm(join(modelDir, 'alpha.onnx'));
      await writeTestVoice(modelDir, { name: 'gamma' });
      // A replaced voice: same name, a network of another size.
      await writeTestVoice(modelDir, { name: 'beta', speakers: 3 });
      await registry.scan();
      await registry.scan(); // nothing changed: no event

      expect(seen).toEqual([
        { added: ['alpha', 'beta'], removed: [], replaced: [], defaultChanged: true },
        { added: ['gamma'], removed: ['alpha'], replaced: ['beta'], defaultChanged: true },
      ]);
      const betaAfter = registry.get('beta');
      expect(betaAfter.revision).not.toBe(betaBefore.revision);
      expect(betaAfter.config.numSpeakers).toBe(3);
      expect(betaAfter.modelPath).toBe(beta.modelPath);
      expect(registry.defaultVoice()?.name).toBe('beta');
    });

    it('does not list a voice whose download is still being renamed into place', async () => {
      const dir = join(modelDir, 'en_US-new-medium');
      const { configPath } = await writeTestVoice(dir, { name: 'en_US-new-medium' });
      await writeFile(
        join(dir, '.en_US-new-medium.onnx.json.0a1b2c.part'),
        await readFile(configPath),
      );
      await rm(configPath);
      const registry = registryFor();
      await registry.scan();

      expect(registry.names()).toEqual([]);
      expect(registry.invalid()).toEqual([]);
    });

    it('keeps going when a listener throws', async () => {
      await writeTestVoice(modelDir, { name: 'alpha' });
      const registry = registryFor();
      const errors: string[] = [];
      jest.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => {
        errors.push(String(message));
      });
      const after = jest.fn();
      registry.onChange(() => {
        throw new Error('listener broke');
      });
      registry.onChange(after);
      await registry.scan();

      expect(registry.names()).toEqual(['alpha']);
      expect(after).toHaveBeenCalledTimes(1);
      expect(errors).toEqual([expect.stringContaining('listener broke')]);
    });
  });

  describe('lookup', () => {
    let registry: VoiceRegistryService;

    beforeEach(async () => {
      const voice = await writeTestVoice(join(modelDir, 'seed'), { name: 'voice' });
      await writeTestVoice(modelDir, { name: 'en_US-test-medium' });
      // Names that are own keys of Object.prototype are ordinary voice names here.
      await copyVoice(voice.modelPath.replace(/\.onnx$/, ''), modelDir, '__proto__');
      registry = registryFor();
      await registry.scan();
    });

    it('finds a voice only by its exact name', () => {
      expect(registry.get('en_US-test-medium').name).toBe('en_US-test-medium');
      expect(registry.get('__proto__').name).toBe('__proto__');
      expect(registry.has('en_us-test-medium')).toBe(false);
    });

    it('throws VoiceNotFoundError listing the installed voices', () => {
      const lookup = (): unknown => registry.get('en_US-nope-low');
      expect(lookup).toThrow(VoiceNotFoundError);
      expect(lookup).toThrow(
        'voice "en_US-nope-low" is not installed; installed voices: __proto__, en_US-test-medium',
      );
    });

    it.each([
      '../x',
      '../en_US-test-medium',
      './en_US-test-medium',
      'seed/voice',
      '..%2fen_US-test-medium',
      '/etc/passwd',
      'en_US-test-medium.onnx',
      'en_US-test-medium\u0000',
      'a\u0000b',
      '',
      'constructor',
      'toString',
      'hasOwnProperty',
    ])('does not find %j', (name) => {
      expect(registry.has(name)).toBe(false);
      expect(() => registry.get(name)).toThrow(VoiceNotFoundError);
    });

    it('does not find a voice by its absolute path', () => {
      const path = join(modelDir, 'en_US-test-medium');
      expect(registry.has(path)).toBe(false);
      expect(() => registry.get(path)).toThrow(VoiceNotFoundError);
    });

    it('bounds and escapes a hostile name in the error message', () => {
      const hostile = `${'a'.repeat(500)}\u0000\n`;
      let message = '';
      try {
        registry.get(hostile);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^voice "a{100}…" is not installed/);
    });
  });
});
