/**
 * A voice as the registry serves it, and what a scan of MODEL_DIR reports. Types only
 * (and the name rule), shared by the registry and its directory scanner.
 */
import type { VoiceConfig } from '@app/piper';

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
