/**
 * The voices installed in MODEL_DIR, found once at boot. Two layouts are recognised
 * (a voice is the `<voice>.onnx` + `<voice>.onnx.json` pair of PIPER_CONTRACT.md §1):
 *
 *   directory layout (the Python server's)    flat layout (Piper's own data dir)
 *   models/<voice>/<voice>.onnx                models/<voice>.onnx
 *   models/<voice>/<voice>.onnx.json           models/<voice>.onnx.json
 *   models/<voice>/MODEL_CARD | *.md           models/<voice>.md | <voice>.MODEL_CARD
 *   models/<voice>/*.wav  (demo)               models/<voice>.wav  (demo)
 *
 * In the flat layout the card and demo must carry the voice's name: one directory holds
 * many voices, so a bare MODEL_CARD there would belong to none of them in particular.
 * When both layouts install the same name the directory wins (and a warning says so).
 *
 * Security: a request's voice name is only ever a key into this registry's Map. Paths
 * are built here, at scan time, from names the file system itself returned; nothing a
 * client sends is ever joined into a path, so traversal ("../x", "/etc/passwd", NUL
 * bytes, encoded slashes) cannot happen rather than being filtered out.
 *
 * A voice that cannot be used (bad name, missing or invalid config) is skipped with a
 * warning naming the file and the field; one broken voice never stops the scan.
 */
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { readdir, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { loadVoiceConfig, type VoiceConfig } from '@app/piper';
import { Settings } from '../config/settings';
import { VoiceNotFoundError } from './voice-not-found.error';

/** Names a voice may have; anything else is skipped at scan time. */
export const VOICE_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;

/**
 * The `id` listed for the only speaker of a single-speaker voice. Such voices have an
 * empty speaker_id_map (§2), so there is no real name to show; clients select speakers
 * by `index`, and "0" is what the engine accepts for these voices.
 */
export const SINGLE_SPEAKER_ID = 'default';

export type VoiceLayout = 'directory' | 'flat';

export interface VoiceEntry {
  /** The registry key: the model file's stem, matching VOICE_NAME_PATTERN. */
  readonly name: string;
  readonly layout: VoiceLayout;
  /** Absolute path of `<voice>.onnx`. */
  readonly modelPath: string;
  /** Absolute path of `<voice>.onnx.json`. */
  readonly configPath: string;
  readonly config: VoiceConfig;
  readonly modelCardPath?: string;
  /** A recorded demo shipped with the voice; without one the demo is synthesized. */
  readonly demoWavPath?: string;
  /** Size of the `.onnx` file. */
  readonly sizeBytes: number;
}

/** One speaker as /voices lists it: the index to send, and a human-readable id. */
export interface SpeakerInfo {
  index: string;
  id: string;
}

/** A voice found on disk before its config is read. */
interface VoiceCandidate {
  name: string;
  layout: VoiceLayout;
  /** Directory holding the voice's files. */
  dir: string;
  /** File names in `dir`. */
  files: readonly string[];
}

/** Card file names, most specific first; then any `*.md` (directory layout only). */
const DIRECTORY_CARD_NAMES = (voice: string): string[] => [
  'MODEL_CARD',
  'MODEL_CARD.md',
  `${voice}.md`,
  'README.md',
];
const FLAT_CARD_NAMES = (voice: string): string[] => [`${voice}.md`, `${voice}.MODEL_CARD`];
const DIRECTORY_DEMO_NAMES = (voice: string): string[] => ['demo.wav', `${voice}.wav`];
const FLAT_DEMO_NAMES = (voice: string): string[] => [`${voice}.wav`];

@Injectable()
export class VoiceRegistry implements OnModuleInit {
  private readonly logger = new Logger(VoiceRegistry.name);
  private voices: ReadonlyMap<string, VoiceEntry> = new Map();
  private defaultName: string | undefined;

  constructor(private readonly settings: Settings) {}

  async onModuleInit(): Promise<void> {
    await this.scan();
  }

  /** (Re)reads MODEL_DIR; the new set of voices replaces the old one at once. */
  async scan(): Promise<void> {
    const modelDir = this.settings.modelDir;
    const found = new Map<string, VoiceEntry>();
    for (const candidate of await this.findCandidates(modelDir)) {
      const existing = found.get(candidate.name);
      if (existing) {
        this.logger.warn(
          `skipping ${join(candidate.dir, `${candidate.name}.onnx`)}: voice "${candidate.name}" ` +
            `is already installed at ${existing.modelPath}`,
        );
        continue;
      }
      const entry = await this.readVoice(candidate);
      if (entry) found.set(entry.name, Object.freeze(entry));
    }

    this.voices = new Map([...found.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    this.defaultName = this.chooseDefault();
    if (this.voices.size === 0) {
      this.logger.warn(`no voices found in ${modelDir}`);
    } else {
      this.logger.log(
        `${this.voices.size} voice(s) in ${modelDir}: ${this.names().join(', ')} ` +
          `(default ${this.defaultName})`,
      );
    }
  }

  /** Every voice, in name order. */
  list(): VoiceEntry[] {
    return [...this.voices.values()];
  }

  /** Every voice name, in order. */
  names(): string[] {
    return [...this.voices.keys()];
  }

  has(name: string): boolean {
    return this.voices.has(name);
  }

  /** The voice with this exact name; VoiceNotFoundError (listing the installed ones) if none. */
  get(name: string): VoiceEntry {
    const entry = this.voices.get(name);
    if (!entry) throw new VoiceNotFoundError(name, this.names());
    return entry;
  }

  /** DEFAULT_MODEL when it is installed, else the first voice by name; none if empty. */
  defaultVoice(): VoiceEntry | undefined {
    return this.defaultName === undefined ? undefined : this.voices.get(this.defaultName);
  }

  /**
   * The voice's speakers by index. Multi-speaker voices list the names of
   * speaker_id_map in id order (an id with no name is listed under its index);
   * single-speaker voices list one speaker, index "0", id SINGLE_SPEAKER_ID.
   */
  speakers(entry: VoiceEntry): SpeakerInfo[] {
    const { numSpeakers, speakerIdMap } = entry.config;
    if (numSpeakers <= 1) return [{ index: '0', id: SINGLE_SPEAKER_ID }];
    const speakers: { speakerId: number; id: string }[] = Object.entries(speakerIdMap).map(
      ([id, speakerId]) => ({ speakerId, id }),
    );
    const named = new Set(speakers.map(({ speakerId }) => speakerId));
    for (let speakerId = 0; speakerId < numSpeakers; speakerId++) {
      if (!named.has(speakerId)) speakers.push({ speakerId, id: String(speakerId) });
    }
    return speakers
      .sort((a, b) => a.speakerId - b.speakerId || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(({ speakerId, id }) => ({ index: String(speakerId), id }));
  }

  private chooseDefault(): string | undefined {
    const configured = this.settings.DEFAULT_MODEL;
    const first = this.voices.keys().next().value;
    if (configured === undefined || this.voices.has(configured)) return configured ?? first;
    this.logger.warn(
      `DEFAULT_MODEL "${configured}" is not installed in ${this.settings.modelDir}; ` +
        (first === undefined ? 'there is no voice to use instead' : `using "${first}" instead`),
    );
    return first;
  }

  /** Directory-layout voices first, then flat ones, each in name order. */
  private async findCandidates(modelDir: string): Promise<VoiceCandidate[]> {
    let rootFiles: string[];
    try {
      rootFiles = (await readdir(modelDir)).sort();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.logger.warn(
        code === 'ENOENT' || code === 'ENOTDIR'
          ? `MODEL_DIR ${modelDir} does not exist or is not a directory: no voices installed`
          : `MODEL_DIR ${modelDir} is unreadable (${(error as Error).message}): no voices installed`,
      );
      return [];
    }

    const directories: VoiceCandidate[] = [];
    const flat: VoiceCandidate[] = [];
    for (const fileName of rootFiles) {
      if (fileName.startsWith('.')) continue;
      const path = join(modelDir, fileName);
      // stat, not the dirent type: symlinked voices and voice directories are common.
      const stats = await this.statOrWarn(path);
      if (stats?.isDirectory()) {
        const candidate = await this.directoryCandidate(path, fileName);
        if (candidate) directories.push(candidate);
      } else if (stats?.isFile() && fileName.endsWith('.onnx')) {
        flat.push({
          name: fileName.slice(0, -'.onnx'.length),
          layout: 'flat',
          dir: modelDir,
          files: rootFiles,
        });
      }
    }
    return [...directories, ...flat];
  }

  /** A directory is a voice when it holds `<dir>/<dir>.onnx`. */
  private async directoryCandidate(dir: string, name: string): Promise<VoiceCandidate | undefined> {
    let files: string[];
    try {
      files = (await readdir(dir)).sort();
    } catch (error) {
      this.logger.warn(`skipping ${dir}: unreadable (${(error as Error).message})`);
      return undefined;
    }
    if (files.includes(`${name}.onnx`)) return { name, layout: 'directory', dir, files };
    const models = files.filter((file) => file.endsWith('.onnx'));
    if (models.length > 0) {
      this.logger.warn(
        `skipping ${dir}: a voice directory must hold <directory name>.onnx ` +
          `(${name}.onnx), found ${models.join(', ')}`,
      );
    }
    return undefined;
  }

  private async readVoice(candidate: VoiceCandidate): Promise<VoiceEntry | undefined> {
    const { name, layout, dir, files } = candidate;
    const modelPath = join(dir, `${name}.onnx`);
    if (!VOICE_NAME_PATTERN.test(name)) {
      this.logger.warn(
        `skipping ${modelPath}: voice name "${name}" may contain only letters, digits, "_" and "-"`,
      );
      return undefined;
    }
    const modelStats = await this.statOrWarn(modelPath);
    if (!modelStats?.isFile()) {
      if (modelStats) this.logger.warn(`skipping ${modelPath}: not a file`);
      return undefined;
    }
    const configPath = `${modelPath}.json`;
    let config: VoiceConfig;
    try {
      config = await loadVoiceConfig(configPath);
    } catch (error) {
      // VoiceConfigError's message already names the file and the field.
      this.logger.warn(`skipping voice "${name}": ${(error as Error).message}`);
      return undefined;
    }

    const cardNames = layout === 'directory' ? DIRECTORY_CARD_NAMES(name) : FLAT_CARD_NAMES(name);
    const demoNames = layout === 'directory' ? DIRECTORY_DEMO_NAMES(name) : FLAT_DEMO_NAMES(name);
    const anyFile = layout === 'directory';
    return {
      name,
      layout,
      modelPath,
      configPath,
      config,
      modelCardPath: await this.pickFile(dir, files, cardNames, anyFile ? /\.md$/i : undefined),
      demoWavPath: await this.pickFile(dir, files, demoNames, anyFile ? /\.wav$/i : undefined),
      sizeBytes: modelStats.size,
    };
  }

  /** The first of `preferred` that is a regular file, else the first match of `pattern`. */
  private async pickFile(
    dir: string,
    files: readonly string[],
    preferred: readonly string[],
    pattern?: RegExp,
  ): Promise<string | undefined> {
    const fallbacks = pattern ? files.filter((file) => pattern.test(file)) : [];
    for (const fileName of [...preferred, ...fallbacks]) {
      if (!files.includes(fileName)) continue;
      const path = join(dir, fileName);
      if ((await this.statOrWarn(path))?.isFile()) return path;
    }
    return undefined;
  }

  private async statOrWarn(path: string): Promise<Stats | undefined> {
    try {
      return await stat(path);
    } catch (error) {
      this.logger.warn(`skipping ${path}: ${(error as Error).message}`);
      return undefined;
    }
  }
}
