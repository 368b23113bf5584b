/**
 * The layers a VITS network is made of (convolutions, the upsampler, LayerNorm over
 * channels, self-attention), as ONNX nodes with seeded random weights: bench-voice.ts
 * assembles them into Piper's architecture. One seed always gives the same weights.
 */
import { OnnxGraphBuilder, attr } from './onnx-graph';

// Module-level aliases: inside a vm context (Jest), every lookup of the global `Math` goes
// through the context's interceptors, which made drawing 16 M weights take seconds.
const { cos, imul, log, sin, sqrt } = Math;
const TWO_PI = 2 * Math.PI;
const UINT32_RANGE = 4294967296;

/**
 * Seeded N(0, 1) samples: mulberry32 (a 32-bit PRNG, fast and good enough for weights)
 * through Box–Muller. Math.random cannot be seeded, and determinism is the point: one seed,
 * one file.
 */
class SeededNormalRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  private uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / UINT32_RANGE;
  }

  /** Fills `target` with N(0, std²) samples, two per Box–Muller draw. */
  fill(target: Float32Array, std: number): void {
    for (let i = 0; i < target.length; i += 2) {
      const radius = std * sqrt(-2 * log(1 - this.uniform()));
      const angle = TWO_PI * this.uniform();
      target[i] = radius * cos(angle);
      if (i + 1 < target.length) target[i + 1] = radius * sin(angle);
    }
  }
}

/** A graph being built, with the layers every stage uses. */
export class VitsLayers {
  readonly g: OnnxGraphBuilder;
  private readonly random: SeededNormalRandom;

  constructor(graphName: string, seed: number) {
    this.g = new OnnxGraphBuilder(graphName);
    this.random = new SeededNormalRandom(seed);
  }

  /** A float32 tensor of N(0, std²) weights. */
  protected randomTensor(dims: readonly number[], std: number): string {
    const values = new Float32Array(dims.reduce((product, dim) => product * dim, 1));
    this.random.fill(values, std);
    return this.g.addFloatInitializer(values, dims);
  }

  /**
   * Conv1d with "same" padding and bias. `gain` scales the He-style std 1/√fan_in: about √2
   * before a ReLU-like nonlinearity keeps activations from shrinking, well below 1 on
   * residual branches keeps a deep stack from growing.
   */
  conv1d(
    x: string,
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    gain: number,
    dilation = 1,
  ): string {
    const weight = this.randomTensor(
      [outChannels, inChannels, kernelSize],
      gain / Math.sqrt(inChannels * kernelSize),
    );
    const bias = this.randomTensor([outChannels], 0.01);
    const pad = (dilation * (kernelSize - 1)) / 2;
    return this.g.op('Conv', [x, weight, bias], {
      kernel_shape: attr.ints([kernelSize]),
      dilations: attr.ints([dilation]),
      pads: attr.ints([pad, pad]),
    });
  }

  /** ConvTranspose1d that multiplies the length by `rate` exactly (HiFi-GAN's upsampler). */
  convTranspose1d(
    x: string,
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    rate: number,
  ): string {
    // Each output sample sums kernelSize/rate taps of every input channel.
    const weight = this.randomTensor(
      [inChannels, outChannels, kernelSize],
      1.4 / Math.sqrt((inChannels * kernelSize) / rate),
    );
    const bias = this.randomTensor([outChannels], 0.01);
    const pad = (kernelSize - rate) / 2;
    return this.g.op('ConvTranspose', [x, weight, bias], {
      kernel_shape: attr.ints([kernelSize]),
      strides: attr.ints([rate]),
      pads: attr.ints([pad, pad]),
    });
  }

  leakyRelu(x: string, alpha: number): string {
    return this.g.op('LeakyRelu', [x], { alpha: attr.float(alpha) });
  }

  add(a: string, b: string): string {
    return this.g.op('Add', [a, b]);
  }

  /** LayerNorm over channels of [1, C, T], as VITS' `modules.LayerNorm` (γ = 1, β = 0). */
  channelLayerNorm(x: string, channels: number): string {
    const { g } = this;
    const toTimeMajor = g.op('Transpose', [x], { perm: attr.ints([0, 2, 1]) });
    const normalized = g.op(
      'LayerNormalization',
      [
        toTimeMajor,
        g.addFloatInitializer(new Float32Array(channels).fill(1), [channels]),
        g.addFloatInitializer(new Float32Array(channels), [channels]),
      ],
      { axis: attr.int(-1), epsilon: attr.float(1e-5) },
    );
    return g.op('Transpose', [normalized], { perm: attr.ints([0, 2, 1]) });
  }

  /**
   * Multi-head self-attention over ids in [1, C, N] layout (VITS' MultiHeadAttention without
   * relative position embeddings, whose cost is negligible): 1×1 convolutions for q, k, v and
   * the output, keys beyond input_lengths masked out.
   */
  selfAttention(x: string, keyMaskBias: string, channels: number, headCount: number): string {
    const { g } = this;
    const headChannels = channels / headCount;
    const heads = (projected: string): string =>
      g.op('Reshape', [projected, g.vectorInt64([1, headCount, headChannels, -1])]);
    const query = g.op('Transpose', [heads(this.conv1d(x, channels, channels, 1, 1))], {
      perm: attr.ints([0, 1, 3, 2]),
    });
    const key = heads(this.conv1d(x, channels, channels, 1, 1));
    const value = heads(this.conv1d(x, channels, channels, 1, 1));
    // scores[h, i, j] = q_i · k_j / √d, then softmax over keys j.
    const scores = g.op('Add', [
      g.op('Mul', [g.op('MatMul', [query, key]), g.scalarFloat(1 / Math.sqrt(headChannels))]),
      keyMaskBias,
    ]);
    const weights = g.op('Softmax', [scores], { axis: attr.int(-1) });
    // out[:, i] = Σ_j v[:, j] · weights[i, j]
    const attended = g.op('MatMul', [
      value,
      g.op('Transpose', [weights], { perm: attr.ints([0, 1, 3, 2]) }),
    ]);
    const merged = g.op('Reshape', [attended, g.vectorInt64([1, channels, -1])]);
    return this.conv1d(merged, channels, channels, 1, 1);
  }
}
