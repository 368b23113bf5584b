/**
 * A small typed layer over `onnx-proto` for writing ONNX networks from TypeScript.
 *
 * The project generates its own Piper voices (a tiny test voice with a known output and a
 * bench voice with a medium voice's compute) instead of shipping weights, so it needs to
 * emit ModelProto bytes without Python. This helper keeps the protobuf details in one
 * place: graph inputs/outputs with symbolic dimensions, initializers stored as raw
 * little-endian bytes (the compact form onnxruntime reads fastest), nodes with typed
 * attributes, and fresh value names so call sites read like the network they build.
 *
 * Defaults: ir_version 8 and opset 17 of the default domain. onnxruntime-node 1.30 runs
 * both, and they are what a PyTorch 2.x export of a Piper voice produces.
 */
import { onnx } from 'onnx-proto';

/** The ONNX IR version written into every model (IR 8 = ONNX 1.10+). */
export const ONNX_IR_VERSION = 8;
/** The default-domain opset imported by every model. */
export const ONNX_OPSET_VERSION = 17;

/** Element types this project writes (values of `TensorProto.DataType`). */
export const TensorElementType = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
} as const;
export type TensorElementType = (typeof TensorElementType)[keyof typeof TensorElementType];

/** A dimension of a graph input or output: a fixed size or a symbolic name such as 'phonemes'. */
export type Dimension = number | string;

/** An attribute value, tagged because ONNX distinguishes `1` (INT) from `1.0` (FLOAT). */
export type AttributeValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string };

/** Constructors for {@link AttributeValue}, e.g. `{ strides: attr.ints([8]) }`. */
export const attr = {
  int: (value: number): AttributeValue => ({ kind: 'int', value }),
  float: (value: number): AttributeValue => ({ kind: 'float', value }),
  ints: (value: readonly number[]): AttributeValue => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): AttributeValue => ({ kind: 'floats', value }),
  string: (value: string): AttributeValue => ({ kind: 'string', value }),
} as const;

export type Attributes = Readonly<Record<string, AttributeValue>>;

/** Metadata written into the ModelProto. */
export interface ModelOptions {
  readonly producerName?: string;
  readonly producerVersion?: string;
  readonly docString?: string;
  readonly opsetVersion?: number;
  /** Stored as `metadata_props`; onnxruntime exposes them as custom metadata. */
  readonly metadata?: Readonly<Record<string, string>>;
}

// protobuf stores raw_data little-endian whatever the host; Node runs little-endian on every
// platform it supports, but a DataView costs nothing for the small tensors and keeps us honest.
const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function float32RawData(values: Float32Array): Uint8Array {
  if (hostIsLittleEndian) {
    return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  }
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((value, i) => view.setFloat32(i * 4, value, true));
  return bytes;
}

function int64RawData(values: readonly (number | bigint)[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((value, i) => {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new RangeError(`int64 initializer value ${value} is not a safe integer`);
    }
    view.setBigInt64(i * 8, BigInt(value), true);
  });
  return bytes;
}

function elementCount(dims: readonly number[]): number {
  return dims.reduce((product, dim) => product * dim, 1);
}

function toAttributeProto(name: string, value: AttributeValue): onnx.IAttributeProto {
  const type = onnx.AttributeProto.AttributeType;
  switch (value.kind) {
    case 'int':
      return { name, type: type.INT, i: value.value };
    case 'float':
      return { name, type: type.FLOAT, f: value.value };
    case 'ints':
      return { name, type: type.INTS, ints: [...value.value] };
    case 'floats':
      return { name, type: type.FLOATS, floats: [...value.value] };
    case 'string':
      return { name, type: type.STRING, s: new TextEncoder().encode(value.value) };
  }
}

function toValueInfo(
  name: string,
  elemType: TensorElementType,
  dims: readonly Dimension[],
): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: dims.map((dim) => (typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim })),
        },
      },
    },
  };
}

/**
 * Accumulates one ONNX graph. Every `add*`/`op` call returns the name of the value it
 * produced, so graphs are written as expressions:
 *
 * ```ts
 * const g = new OnnxGraphBuilder('demo');
 * const x = g.addInput('x', TensorElementType.float32, ['batch', 3]);
 * g.addOutput(g.op('Relu', [x], {}, 'y'), TensorElementType.float32, ['batch', 3]);
 * const bytes = g.serialize();
 * ```
 */
export class OnnxGraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly usedNames = new Set<string>();
  private nextId = 0;

  constructor(readonly graphName: string) {}

  /** A name not used yet in this graph, built from `hint` (e.g. 'Conv' → 'Conv_12'). */
  freshName(hint: string): string {
    let name: string;
    do {
      name = `${hint}_${this.nextId++}`;
    } while (this.usedNames.has(name));
    this.usedNames.add(name);
    return name;
  }

  private claim(name: string): string {
    if (this.usedNames.has(name)) {
      throw new Error(`ONNX value name "${name}" is already used in graph ${this.graphName}`);
    }
    this.usedNames.add(name);
    return name;
  }

  addInput(name: string, elemType: TensorElementType, dims: readonly Dimension[]): string {
    this.inputs.push(toValueInfo(this.claim(name), elemType, dims));
    return name;
  }

  /** Declares an existing value (any node output) as a graph output. */
  addOutput(name: string, elemType: TensorElementType, dims: readonly Dimension[]): string {
    this.outputs.push(toValueInfo(name, elemType, dims));
    return name;
  }

  /** A float32 constant tensor. `dims` [] makes a scalar. */
  addFloatInitializer(
    values: Float32Array | readonly number[],
    dims: readonly number[],
    name?: string,
  ): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    if (data.length !== elementCount(dims)) {
      throw new RangeError(
        `float initializer has ${data.length} values for dims [${dims.join(', ')}]`,
      );
    }
    const tensorName = name === undefined ? this.freshName('const_f32') : this.claim(name);
    this.initializers.push({
      name: tensorName,
      dataType: TensorElementType.float32,
      dims: [...dims],
      rawData: float32RawData(data),
    });
    return tensorName;
  }

  /** An int64 constant tensor (shapes, indices, axes). `dims` [] makes a scalar. */
  addInt64Initializer(
    values: readonly (number | bigint)[],
    dims: readonly number[],
    name?: string,
  ): string {
    if (values.length !== elementCount(dims)) {
      throw new RangeError(
        `int64 initializer has ${values.length} values for dims [${dims.join(', ')}]`,
      );
    }
    const tensorName = name === undefined ? this.freshName('const_i64') : this.claim(name);
    this.initializers.push({
      name: tensorName,
      dataType: TensorElementType.int64,
      dims: [...dims],
      rawData: int64RawData(values),
    });
    return tensorName;
  }

  /** Shorthand for a float32 scalar constant. */
  scalarFloat(value: number): string {
    return this.addFloatInitializer([value], []);
  }

  /** Shorthand for an int64 scalar constant. */
  scalarInt64(value: number): string {
    return this.addInt64Initializer([value], []);
  }

  /** Shorthand for a 1-D int64 constant (shapes, axes, split sizes). */
  vectorInt64(values: readonly number[]): string {
    return this.addInt64Initializer(values, [values.length]);
  }

  /**
   * Appends a node and returns its output names. `outputs` is either the explicit names or
   * the number of fresh names to generate. An empty input name means "optional input absent".
   */
  addNode(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[] | number = 1,
    attributes: Attributes = {},
  ): string[] {
    const outputNames =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, () => this.freshName(opType))
        : outputs.map((name) => this.claim(name));
    this.nodes.push({
      opType,
      name: this.freshName(`${opType}_node`),
      input: [...inputs],
      output: outputNames,
      attribute: Object.entries(attributes).map(([name, value]) => toAttributeProto(name, value)),
    });
    return outputNames;
  }

  /** A single-output node; `outputName` fixes the name (needed for graph outputs). */
  op(
    opType: string,
    inputs: readonly string[],
    attributes: Attributes = {},
    outputName?: string,
  ): string {
    const [output] = this.addNode(
      opType,
      inputs,
      outputName === undefined ? 1 : [outputName],
      attributes,
    );
    return output;
  }

  /** Number of float32/int64 parameters stored as initializers (for reports and tests). */
  get parameterCount(): number {
    return this.initializers.reduce(
      (sum, tensor) => sum + elementCount((tensor.dims ?? []).map(Number)),
      0,
    );
  }

  toModelProto(options: ModelOptions = {}): onnx.ModelProto {
    return onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      opsetImport: [{ domain: '', version: options.opsetVersion ?? ONNX_OPSET_VERSION }],
      producerName: options.producerName ?? 'piper-tts-server voice-builder',
      producerVersion: options.producerVersion ?? '',
      docString: options.docString ?? '',
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
  }

  /** The `.onnx` file's bytes. */
  serialize(options: ModelOptions = {}): Uint8Array {
    return onnx.ModelProto.encode(this.toModelProto(options)).finish();
  }
}
