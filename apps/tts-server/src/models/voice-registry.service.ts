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
 * Reading the directory is voice-directory-scanner.ts; this service keeps the result,
 * chooses the default voice, logs what changed and tells the listeners.
 */
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { Settings } from '../config/settings';
import { VoiceDirectoryScanner } from './voice-directory-scanner';
import {
  SINGLE_SPEAKER_ID,
  type InvalidVoice,
  type VoiceChangeListener,
  type VoiceChanges,
  type VoiceEntry,
} from './voice-entry';
import { VoiceNotFoundError } from './voice-not-found.error';

export {
  SINGLE_SPEAKER_ID,
  VOICE_NAME_PATTERN,
  voicePaths,
  type InvalidVoice,
  type VoiceChangeListener,
  type VoiceChanges,
  type VoiceEntry,
  type VoiceLayout,
} from './voice-entry';

/** One speaker as /voices lists it: the index to send, and a human-readable id. */
export interface SpeakerInfo {
  index: string;
  id: string;
}

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
  private readonly scanner = new VoiceDirectoryScanner((warning) => this.report(warning));

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
    this.pendingReports = new Set();
    const { found, invalid } = await this.scanner.scan(modelDir);

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
