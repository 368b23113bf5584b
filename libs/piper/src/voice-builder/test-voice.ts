/**
 * The test voice: a tiny ONNX network with Piper's exact interface (docs/PIPER.md §5) whose
 * audio is a known function of its inputs, so a test can prove from the samples alone
 * that the right ids, scales and speaker reached the network.
 *
 * Definition (sampleRate 22050, hop_length 256, FRAMES_PER_ID 4):
 *
 *   inputs   input int64 [1, N], input_lengths int64 [1],
 *            scales float32 [3] = [noise_scale, length_scale, noise_w],
 *            sid int64 [1] only when the voice has more than one speaker (speaker 0 otherwise)
 *   frames       = round_half_to_even(FRAMES_PER_ID · length_scale)   (ONNX Round; ≥ 0)
 *   samplesPerId = frames · 256, the same for every id
 *   f_p          = 100 + 20·input[p] + 7·sid                            (Hz)
 *   φ            = noise_scale + 2·noise_w                              (radians)
 *   audio[p·samplesPerId + k] = 0.5 · sin(2π·f_p·k / 22050 + φ)   for 0 ≤ k < samplesPerId
 *                              and 0 where p ≥ input_lengths[0]
 *   output   float32 [1, 1, 1, N·samplesPerId]
 *   w_ceil   Ceil(frames) for every id, [1, 1, N]: not an output of the file; the engine
 *            makes it one for timestamps, as for a published voice (docs/PIPER.md §5)
 *
 * With the input_lengths[0] = N that Piper always feeds, the mask never applies; it is there
 * so a wrong length is audible too. The engine divides each sentence by its peak (§6), so the
 * amplitude 0.5 is informational; frequencies and phase survive normalisation.
 *
 * The graph keeps float32 accurate by computing f_p·k mod 22050 in int64 (exact) before
 * turning it into an angle: sin(2π·f·k/sr + φ) = sin(2π·((f·k) mod sr)/sr + φ), but a float32
 * argument of a few thousand radians would lose three decimal digits. {@link
 * testVoiceReferenceAudio} evaluates the formula directly in float64 and matches the network
 * to about 1e-6.
 */
import { OnnxGraphBuilder, TensorElementType, attr } from './onnx-graph';
import {
  addDurationsNode,
  GENERATED_VOICE_HOP_LENGTH,
  GENERATED_VOICE_SAMPLE_RATE,
  GeneratedVoiceFiles,
  generatedVoiceConfig,
  writeVoiceFiles,
} from './voice-files';

/** Model frames per id at length_scale 1. */
export const TEST_VOICE_FRAMES_PER_ID = 4;
export const TEST_VOICE_SAMPLE_RATE = GENERATED_VOICE_SAMPLE_RATE;
export const TEST_VOICE_HOP_LENGTH = GENERATED_VOICE_HOP_LENGTH;
/** Amplitude of every sine segment (informational: the engine peak-normalises, §6). */
export const TEST_VOICE_AMPLITUDE = 0.5;
/** f = BASE + PER_ID·id + PER_SPEAKER·speakerId, in Hz. */
export const TEST_VOICE_BASE_FREQUENCY_HZ = 100;
export const TEST_VOICE_FREQUENCY_PER_ID_HZ = 20;
export const TEST_VOICE_FREQUENCY_PER_SPEAKER_HZ = 7;

/** The three values fed through the `scales` input (§5). */
export interface VoiceScales {
  noiseScale: number;
  lengthScale: number;
  noiseW: number;
}

export interface TestVoiceOptions {
  /** File stem and `dataset`; default `test-voice`. */
  name?: string;
  /** Number of speakers; above 1 the network takes `sid`. Default 1. */
  speakers?: number;
}

/** Rounds like ONNX `Round` and numpy: halves go to the even neighbour. */
export function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction < 0.5) return floor;
  if (fraction > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Frames the test voice gives each id at this length_scale (see the file header). */
export function testVoiceFramesPerId(lengthScale: number): number {
  // The network receives length_scale as float32; ×4 is exact in float32, so rounding the
  // float32 value reproduces the network's choice at every .5 boundary.
  return Math.max(0, roundHalfToEven(Math.fround(lengthScale) * TEST_VOICE_FRAMES_PER_ID));
}

/**
 * The audio the test voice produces for these ids, scales and speaker, computed in float64
 * from the definition in the file header (input_lengths = ids.length).
 */
export function testVoiceReferenceAudio(
  ids: readonly number[],
  scales: VoiceScales,
  speakerId: number,
): Float32Array {
  const samplesPerId = testVoiceFramesPerId(scales.lengthScale) * TEST_VOICE_HOP_LENGTH;
  const phase = Math.fround(scales.noiseScale) + 2 * Math.fround(scales.noiseW);
  const audio = new Float32Array(ids.length * samplesPerId);
  ids.forEach((id, position) => {
    const frequencyHz =
      TEST_VOICE_BASE_FREQUENCY_HZ +
      TEST_VOICE_FREQUENCY_PER_ID_HZ * id +
      TEST_VOICE_FREQUENCY_PER_SPEAKER_HZ * speakerId;
    const offset = position * samplesPerId;
    for (let k = 0; k < samplesPerId; k++) {
      audio[offset + k] =
        TEST_VOICE_AMPLITUDE *
        Math.sin((2 * Math.PI * frequencyHz * k) / TEST_VOICE_SAMPLE_RATE + phase);
    }
  });
  return audio;
}

/** The test voice's network as ONNX bytes. */
export function buildTestVoiceModel(speakers: number): Uint8Array {
  const g = new OnnxGraphBuilder('piper_test_voice');
  const { float32, int64 } = TensorElementType;

  const input = g.addInput('input', int64, ['batch_size', 'phonemes']);
  const inputLengths = g.addInput('input_lengths', int64, ['batch_size']);
  const scales = g.addInput('scales', float32, [3]);
  const sid = speakers > 1 ? g.addInput('sid', int64, [1]) : undefined;

  const scale = (index: number): string => g.op('Gather', [scales, g.scalarInt64(index)]);
  const noiseScale = scale(0);
  const lengthScale = scale(1);
  const noiseW = scale(2);

  // samplesPerId = Round(4 · length_scale) · hop, as an int64 scalar.
  const frames = g.op('Round', [
    g.op('Mul', [lengthScale, g.scalarFloat(TEST_VOICE_FRAMES_PER_ID)]),
  ]);
  // Piper's w_ceil: frames per id, made an output by the engine for timestamps.
  addDurationsNode(g, frames, input);
  const framesInt = g.op('Cast', [frames], { to: attr.int(int64) });
  const samplesPerId = g.op('Mul', [framesInt, g.scalarInt64(TEST_VOICE_HOP_LENGTH)]);

  // k = 0 … samplesPerId-1 as a row [1, S]; a negative length gives an empty range.
  const zero = g.scalarInt64(0);
  const one = g.scalarInt64(1);
  const sampleIndex = g.op('Unsqueeze', [
    g.op('Range', [zero, samplesPerId, one]),
    g.vectorInt64([0]),
  ]);

  // f = 100 + 20·id (+ 7·sid) as a column [N, 1], in integer hertz.
  const idColumn = g.op('Reshape', [input, g.vectorInt64([-1, 1])]);
  let frequencyHz = g.op('Add', [
    g.op('Mul', [idColumn, g.scalarInt64(TEST_VOICE_FREQUENCY_PER_ID_HZ)]),
    g.scalarInt64(TEST_VOICE_BASE_FREQUENCY_HZ),
  ]);
  if (sid !== undefined) {
    frequencyHz = g.op('Add', [
      frequencyHz,
      g.op('Mul', [sid, g.scalarInt64(TEST_VOICE_FREQUENCY_PER_SPEAKER_HZ)]),
    ]);
  }

  // Whole cycles drop out exactly in integers: (f·k) mod sr, then the angle in float32.
  const cyclePosition = g.op(
    'Mod',
    [g.op('Mul', [frequencyHz, sampleIndex]), g.scalarInt64(TEST_VOICE_SAMPLE_RATE)],
    { fmod: attr.int(0) },
  );
  const cycleFraction = g.op('Div', [
    g.op('Cast', [cyclePosition], { to: attr.int(float32) }),
    g.scalarFloat(TEST_VOICE_SAMPLE_RATE),
  ]);
  const phase = g.op('Add', [noiseScale, g.op('Mul', [noiseW, g.scalarFloat(2)])]);
  const angle = g.op('Add', [g.op('Mul', [cycleFraction, g.scalarFloat(2 * Math.PI)]), phase]);
  const segments = g.op('Mul', [g.op('Sin', [angle]), g.scalarFloat(TEST_VOICE_AMPLITUDE)]);

  // Silence ids at positions ≥ input_lengths[0], as a real VITS masks padding.
  const idCount = g.op('Gather', [g.op('Shape', [input]), one]);
  const position = g.op('Unsqueeze', [g.op('Range', [zero, idCount, one]), g.vectorInt64([1])]);
  const inLength = g.op('Cast', [g.op('Less', [position, inputLengths])], {
    to: attr.int(float32),
  });
  const masked = g.op('Mul', [segments, inLength]);

  // [N, S] → [1, 1, 1, N·S], with the length spelled out so N = 0 or S = 0 still reshapes.
  const totalSamples = g.op('Unsqueeze', [
    g.op('Mul', [idCount, samplesPerId]),
    g.vectorInt64([0]),
  ]);
  const outputShape = g.op('Concat', [g.vectorInt64([1, 1, 1]), totalSamples], {
    axis: attr.int(0),
  });
  const output = g.op('Reshape', [masked, outputShape], {}, 'output');
  g.addOutput(output, float32, [1, 1, 1, 'time']);

  return g.serialize({
    docString:
      'Piper test voice: output = 0.5*sin(2*pi*(100+20*id+7*sid)*k/22050 + noise_scale+2*noise_w), ' +
      'round(4*length_scale)*256 samples per id',
  });
}

/**
 * Writes `<outDir>/<name>.onnx` and `<name>.onnx.json` for the test voice (see file header).
 */
export async function writeTestVoice(
  outDir: string,
  options: TestVoiceOptions = {},
): Promise<GeneratedVoiceFiles> {
  const name = options.name ?? 'test-voice';
  const speakers = options.speakers ?? 1;
  if (!Number.isInteger(speakers) || speakers < 1) {
    throw new RangeError(`speakers must be a positive integer, got ${speakers}`);
  }
  return writeVoiceFiles(
    outDir,
    name,
    buildTestVoiceModel(speakers),
    generatedVoiceConfig(name, speakers),
  );
}
