/**
 * Reads MODEL_DIR into voice entries: finds the voices of both layouts (see
 * voice-registry.service.ts), validates each (the network's ONNX structure, the
 * config), and picks its card and demo files. Configs and network checks are kept per
 * file and redone only when a file's size or mtime changes, so a rescan costs a stat
 * per file. Plain TypeScript: what it finds wrong goes to `report`, the registry's
 * once-per-problem log.
 */
import { readdir, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { loadVoiceConfig, readOnnxEnvelope, type VoiceConfig } from '@app/piper';
import {
  VOICE_NAME_PATTERN,
  type InvalidVoice,
  type VoiceEntry,
  type VoiceLayout,
} from './voice-entry';

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

export class VoiceDirectoryScanner {
  /** Parsed configs and network checks by path, valid while the file's size and mtime are. */
  private readonly configs = new FileMemo<VoiceConfig>();
  private readonly networks = new FileMemo<void>();

  constructor(private readonly report: (warning: string) => void) {}

  /**
   * Every voice in `modelDir` by name (directory layout first: a flat voice of the same
   * name is skipped), and those not served with their reasons.
   */
  async scan(
    modelDir: string,
  ): Promise<{ found: Map<string, VoiceEntry>; invalid: InvalidVoice[] }> {
    const found = new Map<string, VoiceEntry>();
    const invalid: InvalidVoice[] = [];
    for (const candidate of await this.findCandidates(modelDir, invalid)) {
      const existing = found.get(candidate.name);
      const modelPath = join(candidate.dir, `${candidate.name}.onnx`);
      if (existing) {
        const reason = `voice "${candidate.name}" is already installed at ${existing.modelPath}`;
        this.report(`skipping ${modelPath}: ${reason}`);
        invalid.push({ name: candidate.name, path: modelPath, reasons: [reason] });
        continue;
      }
      const entry = await this.readVoice(candidate, invalid);
      if (entry) found.set(entry.name, Object.freeze(entry));
    }
    this.configs.sweep();
    this.networks.sweep();
    return { found, invalid };
  }

  /** Directory-layout voices first, then flat ones, each in name order. */
  private async findCandidates(
    modelDir: string,
    invalid: InvalidVoice[],
  ): Promise<VoiceCandidate[]> {
    let rootFiles: string[];
    try {
      rootFiles = (await readdir(modelDir)).sort();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.report(
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
        const candidate = await this.directoryCandidate(path, fileName, invalid);
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
  private async directoryCandidate(
    dir: string,
    name: string,
    invalid: InvalidVoice[],
  ): Promise<VoiceCandidate | undefined> {
    let files: string[];
    try {
      files = (await readdir(dir)).sort();
    } catch (error) {
      const reason = `unreadable (${(error as Error).message})`;
      this.report(`skipping ${dir}: ${reason}`);
      invalid.push({ name, path: dir, reasons: [reason] });
      return undefined;
    }
    if (files.includes(`${name}.onnx`)) return { name, layout: 'directory', dir, files };
    const models = files.filter((file) => file.endsWith('.onnx'));
    if (models.length > 0) {
      const reason =
        `a voice directory must hold <directory name>.onnx ` +
        `(${name}.onnx), found ${models.join(', ')}`;
      this.report(`skipping ${dir}: ${reason}`);
      invalid.push({ name, path: dir, reasons: [reason] });
    }
    return undefined;
  }

  private async readVoice(
    candidate: VoiceCandidate,
    invalid: InvalidVoice[],
  ): Promise<VoiceEntry | undefined> {
    const { name, layout, dir, files } = candidate;
    const modelPath = join(dir, `${name}.onnx`);
    if (!VOICE_NAME_PATTERN.test(name)) {
      const reason = `voice name "${name}" may contain only letters, digits, "_" and "-"`;
      this.report(`skipping ${modelPath}: ${reason}`);
      invalid.push({ name, path: modelPath, reasons: [reason] });
      return undefined;
    }
    const configPath = `${modelPath}.json`;
    const configFile = `${name}.onnx.json`;
    if (!files.includes(configFile) && files.some((file) => isDownloadOf(file, configFile))) {
      return undefined; // being installed: its config is renamed into place last
    }
    const modelStats = await this.statOrWarn(modelPath);
    if (!modelStats) return undefined; // gone since the directory was read
    const reasons: string[] = [];
    if (!modelStats.isFile()) {
      reasons.push(`${modelPath}: not a file`);
    } else {
      try {
        await this.networks.get(modelPath, modelStats, () =>
          readOnnxEnvelope(modelPath).then(() => undefined),
        );
      } catch (error) {
        reasons.push(`${modelPath}: ${(error as Error).message}`);
      }
    }
    // The config's own checks include the default speaker: default_speaker_id and every
    // speaker_id_map id must be below num_speakers. Its messages name the file and field.
    const configStats = await stat(configPath).catch(() => undefined);
    let config: VoiceConfig | undefined;
    try {
      config = await this.configs.get(configPath, configStats, () => loadVoiceConfig(configPath));
    } catch (error) {
      reasons.push((error as Error).message);
    }
    if (reasons.length > 0 || !config || !configStats) {
      this.report(`skipping voice "${name}": ${reasons.join('; ')}`);
      invalid.push({ name, path: modelPath, reasons });
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
      revision: `${fileVersion(modelStats)}/${fileVersion(configStats)}`,
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
      this.report(`skipping ${path}: ${(error as Error).message}`);
      return undefined;
    }
  }
}

/** Size and mtime: what changes when a file is rewritten, renamed over or touched. */
function fileVersion(stats: Stats): string {
  return `${stats.size.toString(36)}.${Math.round(stats.mtimeMs * 1000).toString(36)}`;
}

/** A download's temporary file for `file` (see @app/voice-catalogue downloadVoice). */
function isDownloadOf(fileName: string, file: string): boolean {
  return fileName.startsWith(`.${file}.`) && fileName.endsWith('.part');
}

/**
 * The result of reading a file, kept while its size and mtime stay the same: a rescan
 * every few seconds then costs a stat per file. A failure is kept too (a broken file
 * is not re-parsed until it changes); no stats (the file is missing) is never kept.
 */
class FileMemo<T> {
  private readonly entries = new Map<string, { version: string; result: Promise<T> }>();
  /** Paths asked for since the last sweep. */
  private readonly seen = new Set<string>();

  get(path: string, stats: Stats | undefined, read: () => Promise<T>): Promise<T> {
    this.seen.add(path);
    if (!stats) {
      this.entries.delete(path);
      return read();
    }
    const version = fileVersion(stats);
    const known = this.entries.get(path);
    if (known?.version === version) return known.result;
    const result = read();
    result.catch(() => undefined);
    this.entries.set(path, { version, result });
    return result;
  }

  /** Forgets files not asked for since the last sweep (voices gone from MODEL_DIR). */
  sweep(): void {
    for (const path of this.entries.keys()) if (!this.seen.has(path)) this.entries.delete(path);
    this.seen.clear();
  }
}
