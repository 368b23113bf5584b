/**
 * The bench voice: a network with Piper's interface (docs/PIPER.md §5) and the inference cost of
 * a published *medium* voice (§8: about 145 ms for ~3.3 s of audio on 2 intra-op threads,
 * real-time factor 0.043; 0.061 on 1 thread), built from seeded random weights. Benchmarks
 * and load tests use it to measure the server against the real floor without shipping a
 * 63 MB voice.
 *
 * The compute follows a Piper medium VITS at inference, stage by stage:
 *
 *   1. Phoneme embedding 256 × 192, masked by input_lengths.
 *   2. Text encoder at id rate: 6 layers of 2-head self-attention and a feed-forward block
 *      (Conv1d 192→768 k3, ReLU, Conv1d 768→192 k3), each with residual and channel
 *      LayerNorm; then a 1×1 projection to the prior's means and log-scales (2 × 192).
 *   3. Duration predictor and length regulation, as VITS at inference: VITS'
 *      DurationPredictor on the encoder's hidden state (Conv1d 192→256 k3, ReLU,
 *      LayerNorm, Conv1d 256→256 k3, ReLU, LayerNorm, 1×1 projection) gives log-durations
 *      logw per id; w_ceil = Ceil(exp(logw)·length_scale) frames (the graph's one Ceil,
 *      which the engine makes an output for timestamps, docs/PIPER.md §5); each id's
 *      prior statistics are repeated w_ceil times (a Gather on the frame→id index, which
 *      gives what VITS' path matrix and MatMul give, in memory linear in the frames).
 *      Random weights would give any durations, so logw is bounded: log(BASE) +
 *      SPREAD·tanh(projection normalised over the sentence's ids), which puts every id
 *      between 2 and 5 frames whatever the seed and their mean at about 3 (3.07 over
 *      English sentences): 100 ids → about 300 frames → 76 800 samples ≈ 3.5 s at 22 050 Hz,
 *      about 30 ids (≈ 14 phonemes with their pads, §4) per second, the rate of real speech.
 *   4. Prior sample z = m + ε·exp(log σ)·noise_scale, then 4 mean-only coupling layers, each
 *      a WaveNet of 4 gated Conv1d (k5) layers with 192 hidden channels, and a channel flip.
 *   5. HiFi-GAN decoder with Piper medium's upsampling (rates 8·8·4 = hop 256, kernels
 *      16·16·8): Conv1d 192→320 k7, then per stage LeakyReLU(0.1) + ConvTranspose1d halving
 *      the channels (320 → 160 → 80 → 40) and a multi-receptive-field block of three
 *      "resblock 2" (kernels 3, 5, 7; dilations (1,2), (2,6), (3,12)), averaged;
 *      LeakyReLU(0.01), Conv1d →1 k7, tanh.
 *
 * With `speakers` above 1 the network takes `sid` (§5) and conditions on a speaker embedding
 * (109 speakers × 512 channels in `en_GB-vctk-medium`) the way VITS does: a 1×1 projection
 * of it added to the duration predictor's input, to every flow WaveNet layer's gate and to
 * the decoder's first convolution. That is per-utterance work (broadcast additions per
 * frame), so a 109-speaker network costs what a single-speaker one does and weighs 79 MB
 * against 65 MB, as the published voices do (§1).
 *
 * Published medium voices start the decoder at 256 channels. That exact shape runs at a
 * real-time factor of about 0.030–0.035 here, because a PyTorch export carries work this
 * graph leaves out (relative-position attention, the stochastic duration predictor's flows,
 * per-frame randn, mask multiplications); 320 channels put the measured cost
 * back on §8's figures for both 1 and 2 threads, and the file at about 64 MB.
 *
 * Simplifications that keep the bench deterministic: ε is a fixed per-channel pattern, and
 * noise_w enters as a small additive term on the encoder output (a real voice feeds it to
 * the duration predictor, negligible in cost). Weights are drawn N(0, gain²/fan_in) from a
 * seeded PRNG, so one seed always writes the same bytes.
 */
import { TensorElementType, attr } from './onnx-graph';
import { VitsLayers } from './vits-layers';
import {
  GENERATED_VOICE_HOP_LENGTH,
  GeneratedVoiceFiles,
  generatedVoiceConfig,
  writeVoiceFiles,
} from './voice-files';

/**
 * Bounds of the duration predictor's output (stage 3): frames per id at length_scale 1
 * are Ceil(BASE·exp(SPREAD·tanh(·))), between Ceil(1.12) = 2 and Ceil(4.81) = 5, about 3
 * on average over English sentences (a speaker's rate moves that in multi-speaker voices).
 */
const DURATION_BASE_FRAMES = 2.32;
const DURATION_LOG_SPREAD = 0.73;
/** Std of a speaker's log-rate in multi-speaker voices: ±15% for most speakers. */
const SPEAKER_RATE_LOG_SPREAD = 0.15;

/** Speakers of the multi-speaker bench voice: those of `en_GB-vctk-medium` (docs/PIPER.md §1). */
export const BENCH_VOICE_VCTK_SPEAKERS = 109;

/** Shape of the bench network; the defaults give the measured cost of a Piper medium voice. */
export interface BenchVoiceArchitecture {
  /** Rows of the embedding table (§2 num_symbols). */
  numSymbols: number;
  /** Channels of the encoder, the flow and the decoder input (VITS hidden/inter channels). */
  hiddenChannels: number;
  /** Inner width of each encoder feed-forward block. */
  filterChannels: number;
  encoderLayers: number;
  attentionHeads: number;
  flowCouplings: number;
  /** Gated convolution layers inside each coupling's WaveNet. */
  flowWaveNetLayers: number;
  /** Channels after the decoder's first convolution; halved by every upsampling. */
  upsampleInitialChannels: number;
  /** Product must equal hop_length (256). */
  upsampleRates: readonly number[];
  upsampleKernelSizes: readonly number[];
  resblockKernelSizes: readonly number[];
  resblockDilations: readonly (readonly number[])[];
  /** Channels of the duration predictor's two convolutions (VITS filter_channels 256). */
  durationPredictorChannels: number;
  /** Width of a speaker's embedding in multi-speaker voices (VITS gin_channels). */
  speakerEmbeddingChannels: number;
}

export const BENCH_VOICE_MEDIUM_ARCHITECTURE: Readonly<BenchVoiceArchitecture> = Object.freeze({
  numSymbols: 256,
  hiddenChannels: 192,
  filterChannels: 768,
  encoderLayers: 6,
  attentionHeads: 2,
  flowCouplings: 4,
  flowWaveNetLayers: 4,
  upsampleInitialChannels: 320,
  upsampleRates: [8, 8, 4],
  upsampleKernelSizes: [16, 16, 8],
  resblockKernelSizes: [3, 5, 7],
  resblockDilations: [
    [1, 2],
    [2, 6],
    [3, 12],
  ],
  durationPredictorChannels: 256,
  speakerEmbeddingChannels: 512,
});

export interface BenchVoiceOptions {
  /** File stem and `dataset`; default `bench-voice`. */
  name?: string;
  /** PRNG seed of the weights; default 1. */
  seed?: number;
  /** Override the network shape (benchmarks of other voice sizes); default medium. */
  architecture?: Partial<BenchVoiceArchitecture>;
  /** Number of speakers; above 1 the network takes `sid` (e.g. 109, as VCTK). Default 1. */
  speakers?: number;
}

/** Builds the graph stage by stage; one instance per model. */
class BenchVoiceGraph extends VitsLayers {
  constructor(
    private readonly arch: BenchVoiceArchitecture,
    seed: number,
    private readonly speakers: number,
  ) {
    super('piper_bench_voice', seed);
  }

  /**
   * Stage 1–2: ids [1, N] → the encoder's hidden state [1, C, N] (which the duration
   * predictor reads), prior statistics [1, 2C, N] (means and log-scales) and the id mask.
   */
  textEncoder(
    input: string,
    inputLengths: string,
    noiseW: string,
  ): { hidden: string; statistics: string; mask: string } {
    const { g, arch } = this;
    const channels = arch.hiddenChannels;
    // VITS scales the embedding by √C and initialises it N(0, 1/C): unit-variance inputs.
    const embedding = this.randomTensor([arch.numSymbols, channels], 1);
    const embedded = g.op('Transpose', [g.op('Gather', [embedding, input])], {
      perm: attr.ints([0, 2, 1]),
    });

    // mask [1, 1, N]: position < input_lengths[0], as VITS' sequence_mask.
    const idCount = g.op('Gather', [g.op('Shape', [input]), g.scalarInt64(1)]);
    const positions = g.op('Range', [g.scalarInt64(0), idCount, g.scalarInt64(1)]);
    const mask = g.op('Cast', [g.op('Less', [positions, inputLengths])], {
      to: attr.int(TensorElementType.float32),
    });
    // Additive bias that removes padded keys from every softmax.
    const keyMaskBias = g.op('Mul', [g.op('Sub', [mask, g.scalarFloat(1)]), g.scalarFloat(1e4)]);
    let x = g.op('Mul', [embedded, mask]);

    for (let layer = 0; layer < arch.encoderLayers; layer++) {
      x = this.channelLayerNorm(
        this.add(
          x,
          this.selfAttention(x, keyMaskBias, this.arch.hiddenChannels, this.arch.attentionHeads),
        ),
        channels,
      );
      const inner = g.op('Relu', [
        this.conv1d(g.op('Mul', [x, mask]), channels, arch.filterChannels, 3, 1.4),
      ]);
      const feedForward = this.conv1d(
        g.op('Mul', [inner, mask]),
        arch.filterChannels,
        channels,
        3,
        1,
      );
      x = this.channelLayerNorm(this.add(x, g.op('Mul', [feedForward, mask])), channels);
    }

    // noise_w must be a real input; a small per-channel offset keeps it cheap but live.
    const durationNoise = this.randomTensor([1, channels, 1], 0.01);
    x = this.add(x, g.op('Mul', [durationNoise, noiseW]));
    // Means and log-scales of the prior; a small gain keeps exp(log σ) near 1.
    const statistics = this.conv1d(x, channels, 2 * channels, 1, 0.3);
    return { hidden: x, statistics: g.op('Mul', [statistics, mask]), mask };
  }

  /** A speaker's embedding as [1, gin, 1] (VITS' emb_g(sid).unsqueeze(-1)). */
  speakerEmbedding(sid: string): string {
    const { g, arch } = this;
    const table = this.randomTensor([this.speakers, arch.speakerEmbeddingChannels], 1);
    return g.op('Unsqueeze', [g.op('Gather', [table, sid]), g.vectorInt64([2])]);
  }

  /**
   * VITS' `cond` layers: a 1×1 projection of the speaker embedding, added to `x`. `gain`
   * sets how far one speaker moves the layer from another.
   */
  conditioned(x: string, channels: number, speaker: string | undefined, gain = 0.3): string {
    if (speaker === undefined) return x;
    return this.add(x, this.conv1d(speaker, this.arch.speakerEmbeddingChannels, channels, 1, gain));
  }

  /**
   * Stage 3a: VITS' DurationPredictor on the encoder's hidden state → w_ceil [1, 1, N],
   * frames per id, Ceil(exp(logw)·length_scale) with logw bounded (see the file header).
   */
  durationPredictor(
    hidden: string,
    mask: string,
    lengthScale: string,
    speaker: string | undefined,
  ): string {
    const { g, arch } = this;
    const channels = arch.hiddenChannels;
    const filters = arch.durationPredictorChannels;
    let x = this.conditioned(hidden, channels, speaker);
    x = this.channelLayerNorm(
      g.op('Relu', [this.conv1d(g.op('Mul', [x, mask]), channels, filters, 3, 1.4)]),
      filters,
    );
    x = this.channelLayerNorm(
      g.op('Relu', [this.conv1d(g.op('Mul', [x, mask]), filters, filters, 3, 1.4)]),
      filters,
    );
    // Random weights put the projection's mean over a sentence anywhere, a trained network
    // puts it at the speaker's rate: normalised over the ids, tanh then spreads them over
    // the bounded range around BASE whatever the seed, and a speaker's own rate is a
    // 1×1 projection of its embedding, a few tens of percent either way.
    const projection = g.op(
      'MeanVarianceNormalization',
      [this.conv1d(g.op('Mul', [x, mask]), filters, 1, 1, 1)],
      { axes: attr.ints([2]) },
    );
    let logw = g.op('Add', [
      g.op('Mul', [g.op('Tanh', [projection]), g.scalarFloat(DURATION_LOG_SPREAD)]),
      g.scalarFloat(Math.log(DURATION_BASE_FRAMES)),
    ]);
    if (speaker !== undefined) {
      logw = this.add(
        logw,
        this.conv1d(speaker, arch.speakerEmbeddingChannels, 1, 1, SPEAKER_RATE_LOG_SPREAD),
      );
    }
    const w = g.op('Mul', [g.op('Mul', [g.op('Exp', [logw]), mask]), lengthScale]);
    return g.op('Ceil', [w]);
  }

  /**
   * Stage 3b: [1, C, N] → [1, C, T], id j repeated w_ceil[j] frames. VITS multiplies by a
   * [T, N] path matrix; indexing the same frames through a Gather gives the same values
   * without a matrix that grows as ids × frames (a long sentence at length_scale 20).
   */
  lengthRegulator(statistics: string, durations: string): string {
    const { g } = this;
    const frames = g.op('Cast', [g.op('Reshape', [durations, g.vectorInt64([-1])])], {
      to: attr.int(TensorElementType.int64),
    });
    const ends = g.op('CumSum', [frames, g.scalarInt64(0)]);
    const starts = g.op('Sub', [ends, frames]);
    const totalFrames = g.op('Gather', [ends, g.vectorInt64([-1])]);
    // A 1 where each id's frames start (durations are ≥ 1, so no two ids share one), summed
    // into each frame's id.
    const zeros = g.op('Expand', [g.vectorInt64([0]), totalFrames]);
    const ones = g.op('Expand', [g.vectorInt64([1]), g.op('Shape', [starts])]);
    const starting = g.op('ScatterElements', [zeros, starts, ones], { axis: attr.int(0) });
    const frameIds = g.op('Sub', [g.op('CumSum', [starting, g.scalarInt64(0)]), g.scalarInt64(1)]);
    return g.op('Gather', [statistics, frameIds], { axis: attr.int(2) });
  }

  /** Stage 4: one mean-only residual coupling layer (reverse direction) and the flip. */
  couplingLayer(z: string, speaker: string | undefined): string {
    const { g, arch } = this;
    const channels = arch.hiddenChannels;
    const half = channels / 2;
    const [z0, z1] = g.addNode('Split', [z, g.vectorInt64([half, half])], 2, { axis: attr.int(1) });

    let h = this.conv1d(z0, half, channels, 1, 1);
    let skip: string | undefined;
    for (let layer = 0; layer < arch.flowWaveNetLayers; layer++) {
      const gate = this.conditioned(
        this.conv1d(h, channels, 2 * channels, 5, 1),
        2 * channels,
        speaker,
      );
      const [filterPart, gatePart] = g.addNode(
        'Split',
        [gate, g.vectorInt64([channels, channels])],
        2,
        {
          axis: attr.int(1),
        },
      );
      const acts = g.op('Mul', [g.op('Tanh', [filterPart]), g.op('Sigmoid', [gatePart])]);
      const last = layer === arch.flowWaveNetLayers - 1;
      const resSkip = this.conv1d(acts, channels, last ? channels : 2 * channels, 1, 0.7);
      let skipPart = resSkip;
      if (!last) {
        const [residualPart, skipOut] = g.addNode(
          'Split',
          [resSkip, g.vectorInt64([channels, channels])],
          2,
          {
            axis: attr.int(1),
          },
        );
        h = this.add(h, residualPart);
        skipPart = skipOut;
      }
      skip = skip === undefined ? skipPart : this.add(skip, skipPart);
    }
    // VITS zero-initialises `post`; a small gain keeps the flow close to identity too.
    const mean = this.conv1d(skip ?? h, channels, half, 1, 0.1);
    const shifted = g.op('Concat', [z0, g.op('Sub', [z1, mean])], { axis: attr.int(1) });
    const reversedChannels = g.vectorInt64(
      Array.from({ length: channels }, (_, i) => channels - 1 - i),
    );
    return g.op('Gather', [shifted, reversedChannels], { axis: attr.int(1) });
  }

  /** Stage 5: HiFi-GAN generator [1, C, T] → audio [1, 1, T·hop] in (-1, 1). */
  decoder(z: string, speaker: string | undefined): string {
    const { g, arch } = this;
    let channels = arch.upsampleInitialChannels;
    let x = this.conditioned(
      this.conv1d(z, arch.hiddenChannels, channels, 7, 1),
      channels,
      speaker,
    );
    arch.upsampleRates.forEach((rate, stage) => {
      const outChannels = channels / 2;
      x = this.convTranspose1d(
        this.leakyRelu(x, 0.1),
        channels,
        outChannels,
        arch.upsampleKernelSizes[stage],
        rate,
      );
      channels = outChannels;
      // Multi-receptive-field fusion: the average of one resblock per kernel size.
      let fused: string | undefined;
      arch.resblockKernelSizes.forEach((kernelSize, block) => {
        let y = x;
        for (const dilation of arch.resblockDilations[block]) {
          y = this.add(
            y,
            this.conv1d(this.leakyRelu(y, 0.1), channels, channels, kernelSize, 0.6, dilation),
          );
        }
        fused = fused === undefined ? y : this.add(fused, y);
      });
      x = g.op('Mul', [fused ?? x, g.scalarFloat(1 / arch.resblockKernelSizes.length)]);
    });
    return g.op('Tanh', [this.conv1d(this.leakyRelu(x, 0.01), channels, 1, 7, 0.5)]);
  }

  build(): Uint8Array {
    const { g } = this;
    const { float32, int64 } = TensorElementType;
    const input = g.addInput('input', int64, ['batch_size', 'phonemes']);
    const inputLengths = g.addInput('input_lengths', int64, ['batch_size']);
    const scales = g.addInput('scales', float32, [3]);
    const sid = this.speakers > 1 ? g.addInput('sid', int64, [1]) : undefined;
    const speaker = sid === undefined ? undefined : this.speakerEmbedding(sid);
    const noiseScale = g.op('Gather', [scales, g.scalarInt64(0)]);
    const lengthScale = g.op('Gather', [scales, g.scalarInt64(1)]);
    const noiseW = g.op('Gather', [scales, g.scalarInt64(2)]);

    const channels = this.arch.hiddenChannels;
    const { hidden, statistics, mask } = this.textEncoder(input, inputLengths, noiseW);
    const durations = this.durationPredictor(hidden, mask, lengthScale, speaker);
    const frameStatistics = this.lengthRegulator(statistics, durations);
    const [mean, logScale] = g.addNode(
      'Split',
      [frameStatistics, g.vectorInt64([channels, channels])],
      2,
      {
        axis: attr.int(1),
      },
    );

    // z = m + ε·exp(log σ)·noise_scale as in VITS, but with a fixed ε instead of randn so the
    // bench is reproducible; the cost and data flow are the same.
    const priorNoise = this.randomTensor([1, channels, 1], 1);
    let z = this.add(
      mean,
      g.op('Mul', [g.op('Mul', [g.op('Exp', [logScale]), priorNoise]), noiseScale]),
    );
    for (let coupling = 0; coupling < this.arch.flowCouplings; coupling++) {
      z = this.couplingLayer(z, speaker);
    }

    const audio = this.decoder(z, speaker);
    const output = g.op('Reshape', [audio, g.vectorInt64([1, 1, 1, -1])], {}, 'output');
    g.addOutput(output, float32, [1, 1, 1, 'time']);
    return g.serialize({ docString: 'Piper bench voice: medium-voice compute, random weights' });
  }
}

function validateArchitecture(arch: BenchVoiceArchitecture): void {
  const hop = arch.upsampleRates.reduce((product, rate) => product * rate, 1);
  if (hop !== GENERATED_VOICE_HOP_LENGTH) {
    throw new RangeError(
      `upsample rates multiply to ${hop}, expected hop_length ${GENERATED_VOICE_HOP_LENGTH}`,
    );
  }
  if (arch.upsampleKernelSizes.length !== arch.upsampleRates.length) {
    throw new RangeError('need one upsample kernel size per upsample rate');
  }
  arch.upsampleRates.forEach((rate, stage) => {
    if ((arch.upsampleKernelSizes[stage] - rate) % 2 !== 0) {
      throw new RangeError(
        `upsample kernel ${arch.upsampleKernelSizes[stage]} - rate ${rate} must be even`,
      );
    }
  });
  if (arch.resblockDilations.length !== arch.resblockKernelSizes.length) {
    throw new RangeError('need one dilation list per resblock kernel size');
  }
  if (arch.resblockKernelSizes.some((kernelSize) => kernelSize % 2 === 0)) {
    throw new RangeError('resblock kernel sizes must be odd for "same" padding');
  }
  if (arch.hiddenChannels % 2 !== 0)
    throw new RangeError('hiddenChannels must be even (coupling split)');
  if (arch.hiddenChannels % arch.attentionHeads !== 0) {
    throw new RangeError('hiddenChannels must divide evenly into attention heads');
  }
  if (arch.upsampleInitialChannels % 2 ** arch.upsampleRates.length !== 0) {
    throw new RangeError('upsampleInitialChannels must halve evenly at every upsampling');
  }
}

/** The bench voice's network as ONNX bytes; `speakers` above 1 adds `sid`. */
export function buildBenchVoiceModel(
  seed = 1,
  architecture: Partial<BenchVoiceArchitecture> = {},
  speakers = 1,
): Uint8Array {
  const arch = { ...BENCH_VOICE_MEDIUM_ARCHITECTURE, ...architecture };
  validateArchitecture(arch);
  if (!Number.isInteger(speakers) || speakers < 1) {
    throw new RangeError(`speakers must be a positive integer, got ${speakers}`);
  }
  return new BenchVoiceGraph(arch, seed, speakers).build();
}

/** Writes `<outDir>/<name>.onnx` and `<name>.onnx.json` for the bench voice. */
export async function writeBenchVoice(
  outDir: string,
  options: BenchVoiceOptions = {},
): Promise<GeneratedVoiceFiles> {
  const name = options.name ?? 'bench-voice';
  const seed = options.seed ?? 1;
  const speakers = options.speakers ?? 1;
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  return writeVoiceFiles(
    outDir,
    name,
    buildBenchVoiceModel(seed, options.architecture, speakers),
    generatedVoiceConfig(name, speakers),
  );
}
