/**
 * The `.onnx.json` half of a generated voice (docs/PIPER.md §1, §2) and the writer for the
 * `<name>.onnx` / `<name>.onnx.json` pair. Shared by the test and bench voices so both
 * look like a published en_US espeak voice to the engine.
 */
import { OnnxGraphBuilder, TensorElementType, attr } from './onnx-graph';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ESPEAK_PHONEME_ID_MAP } from './espeak-phoneme-id-map';

/** Sample rate of every generated voice: the rate of published medium voices (§2). */
export const GENERATED_VOICE_SAMPLE_RATE = 22050;
/** Samples per model frame (§2 `hop_length`), the 8·8·4 upsampling of a medium decoder. */
export const GENERATED_VOICE_HOP_LENGTH = 256;

/** The JSON written next to a generated model, field for field as in published configs (§2). */
export interface GeneratedVoiceConfig {
  audio: { sample_rate: number; quality: string };
  espeak: { voice: string };
  inference: { noise_scale: number; length_scale: number; noise_w: number };
  phoneme_type: 'espeak';
  phoneme_map: Record<string, string[]>;
  phoneme_id_map: Record<string, number[]>;
  num_symbols: number;
  num_speakers: number;
  speaker_id_map: Record<string, number>;
  hop_length: number;
  language: {
    code: string;
    family: string;
    region: string;
    name_native: string;
    name_english: string;
    country_english: string;
  };
  dataset: string;
  piper_version: string;
}

/** Paths of a written voice pair. */
export interface GeneratedVoiceFiles {
  modelPath: string;
  configPath: string;
}

/** An en_US espeak config with the inference defaults of published voices (§2). */
export function generatedVoiceConfig(dataset: string, numSpeakers: number): GeneratedVoiceConfig {
  const speakerIdMap: Record<string, number> = {};
  // Single-speaker voices carry an empty map (§2), multi-speaker ones name every id.
  if (numSpeakers > 1) {
    for (let speakerId = 0; speakerId < numSpeakers; speakerId++) {
      speakerIdMap[`speaker_${speakerId}`] = speakerId;
    }
  }
  return {
    audio: { sample_rate: GENERATED_VOICE_SAMPLE_RATE, quality: 'medium' },
    espeak: { voice: 'en-us' },
    inference: { noise_scale: 0.667, length_scale: 1, noise_w: 0.8 },
    phoneme_type: 'espeak',
    phoneme_map: {},
    phoneme_id_map: Object.fromEntries(
      Object.entries(ESPEAK_PHONEME_ID_MAP).map(([phoneme, ids]) => [phoneme, [...ids]]),
    ),
    num_symbols: 256,
    num_speakers: numSpeakers,
    speaker_id_map: speakerIdMap,
    hop_length: GENERATED_VOICE_HOP_LENGTH,
    language: {
      code: 'en_US',
      family: 'en',
      region: 'US',
      name_native: 'English',
      name_english: 'English',
      country_english: 'United States',
    },
    dataset,
    piper_version: '1.0.0',
  };
}

/**
 * Validates a voice name before it becomes a file name: generated voices are written into
 * directories the caller owns, so a name must not climb out of them.
 */
export function assertVoiceName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || name.includes('..')) {
    throw new RangeError(`invalid voice name "${name}": use letters, digits, "_", "-" and "."`);
  }
}

/** Writes `<outDir>/<name>.onnx` and `<outDir>/<name>.onnx.json`, creating `outDir`. */
export async function writeVoiceFiles(
  outDir: string,
  name: string,
  modelBytes: Uint8Array,
  config: GeneratedVoiceConfig,
): Promise<GeneratedVoiceFiles> {
  assertVoiceName(name);
  await mkdir(outDir, { recursive: true });
  const modelPath = join(outDir, `${name}.onnx`);
  const configPath = `${modelPath}.json`;
  await writeFile(modelPath, modelBytes);
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`, 'utf8');
  return { modelPath, configPath };
}

/**
 * The per-id durations node of a VITS graph: `Ceil` of the frames each id lasts, shaped
 * [1, 1, N] like Piper's `w_ceil` (docs/PIPER.md §5), which the engine makes a graph
 * output at load time for timestamps. `frames` is the float32 scalar the graph repeats
 * each id by, `input` the ids.
 */
export function addDurationsNode(g: OnnxGraphBuilder, frames: string, input: string): string {
  const idCount = g.op('Gather', [g.op('Shape', [input]), g.scalarInt64(1)]);
  const shape = g.op(
    'Concat',
    [g.vectorInt64([1, 1]), g.op('Unsqueeze', [idCount, g.vectorInt64([0])])],
    {
      axis: attr.int(0),
    },
  );
  const perId = g.op('Expand', [
    g.op('Cast', [frames], { to: attr.int(TensorElementType.float32) }),
    shape,
  ]);
  return g.op('Ceil', [perId]);
}
