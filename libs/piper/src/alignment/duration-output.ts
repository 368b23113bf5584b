/**
 * Makes a VITS voice's per-id durations a graph output, in memory, as piper1-gpl's
 * `patch_voice_with_alignment.py` (and `PiperVoice.load(include_alignments=True)`) does:
 * the output of the network's one `Ceil` node (`w_ceil`, frames per phoneme id, shape
 * [1, 1, N]) is appended to `graph.output`, and onnxruntime is given the re-encoded
 * bytes. The file on disk is never changed. The protobuf work is `onnx-proto`'s
 * (protobufjs), the package the voice builder already writes networks with.
 *
 * Frames become samples through the hop length, the product of the decoder's upsample
 * rates (the strides of its `ConvTranspose` nodes: 8·8·4 = 256 in every published
 * voice). A graph without exactly one `Ceil` node (a network exported otherwise, or
 * this project's own test graphs before they had one) is loaded as it is: it speaks,
 * and asking it for timestamps is an AlignmentsUnavailableError.
 */
import { onnx } from 'onnx-proto';

/** A network's bytes, with the name of its durations output when it has one. */
export interface NetworkWithDurations {
  model: Uint8Array;
  /** Output holding frames per phoneme id (`w_ceil`); undefined: the network has none. */
  durationsOutput?: string;
  /** Samples per frame from the graph's upsampling; undefined when it has no ConvTranspose. */
  upsampleHop?: number;
}

export function withDurationsOutput(bytes: Uint8Array): NetworkWithDurations {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    // Not protobuf: onnxruntime will say what is wrong with it.
    return { model: bytes };
  }
  const graph = model.graph;
  if (!graph) return { model: bytes };
  const upsampleHop = hopOfUpsampling(graph.node ?? []);
  const ceilOutputs = (graph.node ?? [])
    .filter((node) => node.opType === 'Ceil')
    .flatMap((node) => node.output ?? []);
  if (ceilOutputs.length !== 1) return { model: bytes, upsampleHop };
  const durationsOutput = ceilOutputs[0];
  const outputs = graph.output ?? [];
  if (outputs.some((output) => output.name === durationsOutput)) {
    // Patched on disk already (piper1-gpl's script): nothing to add.
    return { model: bytes, durationsOutput, upsampleHop };
  }
  graph.output = [...outputs, onnx.ValueInfoProto.create({ name: durationsOutput })];
  return { model: onnx.ModelProto.encode(model).finish(), durationsOutput, upsampleHop };
}

/** Product of the `strides` of every ConvTranspose (the HiFi-GAN upsamplers), if any. */
function hopOfUpsampling(nodes: readonly onnx.INodeProto[]): number | undefined {
  let hop: number | undefined;
  for (const node of nodes) {
    if (node.opType !== 'ConvTranspose') continue;
    const strides = node.attribute?.find((attribute) => attribute.name === 'strides');
    const stride = strides?.ints?.length ? Number(strides.ints[0]) : 1;
    hop = (hop ?? 1) * stride;
  }
  return hop;
}
