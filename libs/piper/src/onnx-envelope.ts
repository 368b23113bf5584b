/**
 * A cheap plausibility check of a voice network (`<voice>.onnx`) without loading it:
 * loading takes about 2 s and hundreds of megabytes (docs/PIPER.md §8), while a
 * server that watches MODEL_DIR must tell at once whether a file is a whole network or
 * a half-copied, truncated or foreign one.
 *
 * An ONNX file is one protobuf `ModelProto` message. Its top-level fields are few (about
 * ten: ir_version, producer, opset imports, the graph, metadata), so walking their tags
 * and lengths reads a few hundred bytes even for a 100 MB network, yet a truncated file
 * fails it (the last field runs past the end of the file), and so does a file that is
 * not protobuf (an invalid wire type or a length beyond the file). The graph (field 7)
 * and the IR version (field 1) must be present.
 */
import { open, type FileHandle } from 'node:fs/promises';

/** ModelProto field numbers this check relies on (onnx.proto). */
const IR_VERSION_FIELD = 1;
const GRAPH_FIELD = 7;

/** protobuf wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** More top-level fields than any exporter writes: not a ModelProto. */
const MAX_TOP_LEVEL_FIELDS = 10_000;

export interface OnnxEnvelope {
  sizeBytes: number;
  irVersion: number;
  graphBytes: number;
}

/** Why a file is not a plausible ONNX network. */
export class OnnxEnvelopeError extends Error {}

/** Reads the top-level fields of `path`; throws OnnxEnvelopeError saying what is wrong. */
export async function readOnnxEnvelope(path: string): Promise<OnnxEnvelope> {
  const file = await open(path, 'r');
  try {
    return await walk(file, (await file.stat()).size);
  } finally {
    await file.close();
  }
}

async function walk(file: FileHandle, sizeBytes: number): Promise<OnnxEnvelope> {
  if (sizeBytes === 0) throw new OnnxEnvelopeError('the network file is empty');
  const head = Buffer.alloc(20);
  let position = 0;
  let irVersion: number | undefined;
  let graphBytes: number | undefined;
  for (let fields = 0; position < sizeBytes; fields++) {
    if (fields >= MAX_TOP_LEVEL_FIELDS) throw notOnnx('too many top-level fields');
    const { bytesRead } = await file.read(head, 0, head.length, position);
    const reader = new VarintReader(head.subarray(0, bytesRead));
    const tag = reader.next();
    if (tag === undefined) throw truncated(position, sizeBytes);
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) throw notOnnx(`field number 0 at byte ${position}`);
    let fieldEnd: number;
    if (wireType === VARINT) {
      const value = reader.next();
      if (value === undefined) throw truncated(position, sizeBytes);
      if (field === IR_VERSION_FIELD) irVersion = value;
      fieldEnd = position + reader.offset;
    } else if (wireType === LENGTH_DELIMITED) {
      const length = reader.next();
      if (length === undefined) throw truncated(position, sizeBytes);
      fieldEnd = position + reader.offset + length;
      if (field === GRAPH_FIELD) graphBytes = length;
    } else if (wireType === FIXED64) {
      fieldEnd = position + reader.offset + 8;
    } else if (wireType === FIXED32) {
      fieldEnd = position + reader.offset + 4;
    } else {
      throw notOnnx(`wire type ${wireType} at byte ${position}`);
    }
    if (fieldEnd > sizeBytes) throw truncated(fieldEnd, sizeBytes);
    position = fieldEnd;
  }
  if (irVersion === undefined) throw notOnnx('no ir_version');
  if (graphBytes === undefined || graphBytes === 0) throw notOnnx('no graph');
  return { sizeBytes, irVersion, graphBytes };
}

function truncated(needed: number, sizeBytes: number): OnnxEnvelopeError {
  return new OnnxEnvelopeError(
    `the network file is truncated (${sizeBytes} bytes, its structure needs at least ${needed}): ` +
      'still being copied, or a broken download',
  );
}

function notOnnx(detail: string): OnnxEnvelopeError {
  return new OnnxEnvelopeError(`the network file is not an ONNX model (${detail})`);
}

/** Base-128 varints from a buffer; `undefined` when the buffer ends inside one. */
class VarintReader {
  offset = 0;

  constructor(private readonly bytes: Uint8Array) {}

  next(): number | undefined {
    let value = 0;
    let scale = 1;
    while (this.offset < this.bytes.length) {
      const byte = this.bytes[this.offset++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
      // Ten bytes is the longest 64-bit varint; past 2^53 a length is absurd anyway.
      if (scale > 2 ** 56) throw notOnnx('an overlong varint');
    }
    return undefined;
  }
}
