/**
 * The voices installed in MODEL_DIR, found once at boot. Two layouts are recognised
 * (a voice is the `<voice>.onnx` + `<voice>.onnx.json` pair of docs/PIPER.md §1):
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
 * Validation, at start and on every rescan (VoiceReloaderService rescans MODEL_DIR while the
 * server runs): the network must be a whole ONNX model (its top-level structure read
 * without loading it: a truncated or half-copied file fails), the config present and
 * valid (including its default speaker: default_speaker_id and every speaker_id_map id
 * below num_speakers), the name usable. A voice that fails is not served; it is listed
 * by `invalid()` (GET /health/detailed) with every reason, and logged once, not on
 * every rescan. One broken voice never stops the scan or the server.
 *
 * A rescan is cheap: configs and network checks are kept per file and redone only when
 * a file's size or mtime changes, and that same pair is a voice's `revision`, so a
 * replaced voice is a new revision (new sessions in the workers, new cache keys).
 */
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { readdir, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { loadVoiceConfig, readOnnxEnvelope, type VoiceConfig } from '@app/piper';
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
  /**
   * Version of the voice's two files (their sizes and mtimes): a voice replaced in
   * MODEL_DIR gets a new revision, so it is loaded afresh and cached apart.
   */
  readonly revision: string;
}

/** What the engine needs to load a voice: its two files and their revision. */
export function voicePaths({ modelPath, configPath, revision }: VoiceEntry): {
  modelPath: string;
  configPath: string;
  revision: string;
} {
  return { modelPath, configPath, revision };
}

/** A voice found in MODEL_DIR that is not served, and why. */
export interface InvalidVoice {
  name: string;
  /** The voice's network file, or its directory when there is no network to name. */
  path: string;
  reasons: string[];
}

/** What a scan changed; `defaultChanged` also covers the first scan. */
export interface VoiceChanges {
  added: VoiceEntry[];
  removed: VoiceEntry[];
  /** Same name, new files. */
  replaced: { previous: VoiceEntry; current: VoiceEntry }[];
  defaultChanged: boolean;
}

export type VoiceChangeListener = (changes: VoiceChanges) => void | Promise<void>;

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
export class VoiceRegistryService implements OnModuleInit {
  private readonly logger = new Logger(VoiceRegistryService.name);
  private voices: ReadonlyMap<string, VoiceEntry> = new Map();
  private invalidVoices: InvalidVoice[] = [];
  private defaultName: string | undefined;
  private scanned = false;
  /** Scans run one after another: the poller, the admin routes and tests may all ask. */
  private scanning: Promise<VoiceChanges> = Promise.resolve(noChanges());
  private readonly listeners: VoiceChangeListener[] = [];
  /** Warnings of the previous scan: each is logged when it first appears, not every scan. */
  private reported = new Set<string>();
  private pendingReports = new Set<string>();
  /** Parsed configs and network checks by path, valid while the file's size and mtime are. */
  private readonly configs = new FileMemo<VoiceConfig>();
  private readonly networks = new FileMemo<void>();

  constructor(private readonly settings: Settings) {}

  async onModuleInit(): Promise<void> {
    await this.scan();
  }

  /**
   * (Re)reads MODEL_DIR; the new set of voices replaces the old one at once, then the
   * change listeners run (awaited, in order; one that throws is logged, not fatal).
   */
  scan(): Promise<VoiceChanges> {
    this.scanning = this.scanning.then(
      () => this.scanOnce(),
      () => this.scanOnce(),
    );
    return this.scanning;
  }

  /** Called after every scan that changed something (voices, revisions or the default). */
  onChange(listener: VoiceChangeListener): void {
    this.listeners.push(listener);
  }

  /** Voices found in MODEL_DIR but not served, with their reasons, by name. */
  invalid(): InvalidVoice[] {
    return this.invalidVoices.map((voice) => ({ ...voice, reasons: [...voice.reasons] }));
  }

  private async scanOnce(): Promise<VoiceChanges> {
    const modelDir = this.settings.modelDir;
    const found = new Map<string, VoiceEntry>();
    const invalid: InvalidVoice[] = [];
    this.pendingReports = new Set();
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

    const previous = this.voices;
    const previousDefault = this.defaultName;
    this.voices = new Map([...found.entries()].sort(([a], [b]) => compareNames(a, b)));
    this.invalidVoices = invalid.sort((a, b) => compareNames(a.name, b.name));
    this.defaultName = this.chooseDefault();
    const changes = diff(previous, this.voices);
    changes.defaultChanged = !this.scanned || previousDefault !== this.defaultName;
    const changed =
      changes.defaultChanged ||
      changes.added.length + changes.removed.length + changes.replaced.length > 0;
    if (changed) this.logVoices(modelDir, changes, !this.scanned);
    this.scanned = true;
    this.reported = this.pendingReports;
    this.configs.sweep();
    this.networks.sweep();
    if (changed) await this.notify(changes);
    return changes;
  }

  private logVoices(modelDir: string, changes: VoiceChanges, firstScan: boolean): void {
    if (this.voices.size === 0) {
      this.report(`no voices found in ${modelDir}`);
      return;
    }
    if (!firstScan) {
      const names = (entries: VoiceEntry[]): string => entries.map(({ name }) => name).join(', ');
      const parts = [
        changes.added.length ? `added ${names(changes.added)}` : '',
        changes.replaced.length
          ? `replaced ${names(changes.replaced.map(({ current }) => current))}`
          : '',
        changes.removed.length ? `removed ${names(changes.removed)}` : '',
      ].filter(Boolean);
      if (parts.length) this.logger.log(`MODEL_DIR changed: ${parts.join('; ')}`);
    }
    this.logger.log(
      `${this.voices.size} voice(s) in ${modelDir}: ${this.names().join(', ')} ` +
        `(default ${this.defaultName})`,
    );
  }

  private async notify(changes: VoiceChanges): Promise<void> {
    for (const listener of this.listeners) {
      try {
        await listener(changes);
      } catch (error) {
        this.logger.error(`reacting to a MODEL_DIR change failed: ${(error as Error).message}`);
      }
    }
  }

  /** Logs a warning unless the previous scan logged the same one. */
  private report(warning: string): void {
    this.pendingReports.add(warning);
    if (!this.reported.has(warning)) this.logger.warn(warning);
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
    this.report(
      `DEFAULT_MODEL "${configured}" is not installed in ${this.settings.modelDir}; ` +
        (first === undefined ? 'there is no voice to use instead' : `using "${first}" instead`),
    );
    return first;
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

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function noChanges(): VoiceChanges {
  return { added: [], removed: [], replaced: [], defaultChanged: false };
}

function diff(
  previous: ReadonlyMap<string, VoiceEntry>,
  current: ReadonlyMap<string, VoiceEntry>,
): VoiceChanges {
  const changes = noChanges();
  for (const [name, entry] of current) {
    const before = previous.get(name);
    if (!before) changes.added.push(entry);
    else if (before.revision !== entry.revision || before.modelPath !== entry.modelPath) {
      changes.replaced.push({ previous: before, current: entry });
    }
  }
  for (const [name, entry] of previous) if (!current.has(name)) changes.removed.push(entry);
  return changes;
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
