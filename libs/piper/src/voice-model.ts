/**
 * The VITS network of a voice, run with onnxruntime-node on CPU
 * (docs/PIPER.md §5): inputs `input`, `input_lengths`, `scales` and,
 * only in multi-speaker voices, `sid`; output `output` in either published shape,
 * flattened.
 */
import { readFile, stat } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { withDurationsOutput } from './alignment/duration-output';
import { InferenceError, VoiceModelError } from './errors';

export interface VoiceModelOptions {
  /** onnxruntime intra-op threads; 0 lets onnxruntime use every core. */
  intraOpThreads?: number;
}

export interface InferenceScales {
  noiseScale: number;
  lengthScale: number;
  noiseW: number;
}

const REQUIRED_INPUTS = ['input', 'input_lengths', 'scales'] as const;

/** One run's audio and, when asked for, the network's frames per phoneme id. */
export interface InferenceWithDurations {
  audio: Float32Array;
  /** `w_ceil`: frames (a whole number each) per id, in the order of the ids. */
  frames: Float32Array;
}

export class VoiceModel {
  private constructor(
    readonly modelPath: string,
    private readonly session: ort.InferenceSession,
    /** Whether the network takes a speaker id (`sid`). */
    readonly hasSpeakerInput: boolean,
    private readonly outputName: string,
    /** The graph output with frames per id (docs/PIPER.md §5), when the network has one. */
    readonly durationsOutput: string | undefined,
    /** Samples per frame from the graph's upsampling, when it has ConvTranspose nodes. */
    readonly upsampleHop: number | undefined,
  ) {}

  static async load(modelPath: string, options: VoiceModelOptions = {}): Promise<VoiceModel> {
    try {
      const info = await stat(modelPath);
      if (!info.isFile()) throw new VoiceModelError(modelPath, 'not a file');
    } catch (error) {
      if (error instanceof VoiceModelError) throw error;
      throw new VoiceModelError(modelPath, 'file not found', { cause: error });
    }
    let session: ort.InferenceSession;
    let network: ReturnType<typeof withDurationsOutput>;
    try {
      network = withDurationsOutput(await readFile(modelPath));
    } catch (error) {
      throw new VoiceModelError(modelPath, 'file not readable', { cause: error });
    }
    try {
      session = await ort.InferenceSession.create(network.model, {
        executionProviders: ['cpu'],
        intraOpNumThreads: options.intraOpThreads ?? 0,
        // One sentence is one sequential graph: inter-op parallelism only adds threads.
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
      });
    } catch (error) {
      throw new VoiceModelError(
        modelPath,
        `not a loadable ONNX network (corrupt or truncated?): ${firstLine(error)}`,
        { cause: error },
      );
    }
    const missing = REQUIRED_INPUTS.filter((name) => !session.inputNames.includes(name));
    if (missing.length > 0 || session.outputNames.length === 0) {
      await session.release();
      throw new VoiceModelError(
        modelPath,
        `not a Piper voice network: missing input(s) ${missing.join(', ') || '(none)'}; ` +
          `inputs are ${session.inputNames.join(', ')}`,
      );
    }
    const outputName = session.outputNames.includes('output') ? 'output' : session.outputNames[0];
    const durationsOutput =
      network.durationsOutput !== undefined && session.outputNames.includes(network.durationsOutput)
        ? network.durationsOutput
        : undefined;
    return new VoiceModel(
      modelPath,
      session,
      session.inputNames.includes('sid'),
      outputName,
      durationsOutput,
      network.upsampleHop,
    );
  }

  /**
   * Runs the network once on one sentence's ids.
   * @returns the audio as float32 samples in about [-1, 1] (a view, not a copy).
   */
  async infer(
    phonemeIds: readonly number[],
    scales: InferenceScales,
    speakerId?: number,
  ): Promise<Float32Array> {
    const results = await this.run(phonemeIds, scales, speakerId, [this.outputName]);
    return this.audioOf(results);
  }

  /**
   * Runs the network once and also fetches its durations output: the same run, the same
   * audio (one more tensor read out of it). Only for a network that has the output.
   */
  async inferWithDurations(
    phonemeIds: readonly number[],
    scales: InferenceScales,
    speakerId?: number,
  ): Promise<InferenceWithDurations> {
    const durationsOutput = this.durationsOutput;
    if (durationsOutput === undefined) {
      throw new InferenceError(`${this.modelPath}: the network has no durations output`);
    }
    const results = await this.run(phonemeIds, scales, speakerId, [
      this.outputName,
      durationsOutput,
    ]);
    const durations = results[durationsOutput];
    const frames =
      durations.data instanceof Float32Array
        ? durations.data
        : Float32Array.from(durations.data as ArrayLike<number>, Number);
    return { audio: this.audioOf(results), frames };
  }

  private async run(
    phonemeIds: readonly number[],
    scales: InferenceScales,
    speakerId: number | undefined,
    fetches: string[],
  ): Promise<ort.InferenceSession.OnnxValueMapType> {
    const count = phonemeIds.length;
    const ids = new BigInt64Array(count);
    for (let i = 0; i < count; i++) ids[i] = BigInt(phonemeIds[i]);
    const feeds: Record<string, ort.Tensor> = {
      input: new ort.Tensor('int64', ids, [1, count]),
      input_lengths: new ort.Tensor('int64', BigInt64Array.of(BigInt(count)), [1]),
      scales: new ort.Tensor(
        'float32',
        Float32Array.of(scales.noiseScale, scales.lengthScale, scales.noiseW),
        [3],
      ),
    };
    if (this.hasSpeakerInput) {
      feeds.sid = new ort.Tensor('int64', BigInt64Array.of(BigInt(speakerId ?? 0)), [1]);
    }
    try {
      return await this.session.run(feeds, fetches);
    } catch (error) {
      throw new InferenceError(`inference failed for ${this.modelPath}: ${firstLine(error)}`, {
        cause: error,
      });
    }
  }

  private audioOf(results: ort.InferenceSession.OnnxValueMapType): Float32Array {
    const output = results[this.outputName];
    if (output.type !== 'float32') {
      throw new InferenceError(`${this.modelPath}: output is ${output.type}, expected float32`);
    }
    // [1, 1, 1, samples] or [1, 1, samples]: the data is already flat.
    return output.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].trim();
}
