// Must precede onnxruntime-node: see the module's header.
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { onnx } from 'onnx-proto';

import {
  ONNX_IR_VERSION,
  ONNX_OPSET_VERSION,
  OnnxGraphBuilder,
  TensorElementType,
  attr,
} from './onnx-graph';

describe(OnnxGraphBuilder.name, () => {
  /** y = LeakyRelu(x · w + b) with a symbolic batch dimension. */
  function buildAffine(): Uint8Array {
    const g = new OnnxGraphBuilder('affine');
    const x = g.addInput('x', TensorElementType.float32, ['batch', 2]);
    const w = g.addFloatInitializer([1, -2, 3, 4], [2, 2]);
    const b = g.addFloatInitializer([0.5, -100], [2]);
    const y = g.op(
      'LeakyRelu',
      [g.op('Add', [g.op('MatMul', [x, w]), b])],
      { alpha: attr.float(0.25) },
      'y',
    );
    g.addOutput(y, TensorElementType.float32, ['batch', 2]);
    const shape = g.op('Shape', [x], {}, 'x_shape');
    g.addOutput(
      g.op('Mul', [shape, g.vectorInt64([10, 10])], {}, 'scaled_shape'),
      TensorElementType.int64,
      [2],
    );
    return g.serialize({ metadata: { purpose: 'spec' } });
  }

  it('writes IR 8 / opset 17 with raw-data initializers and symbolic dims', () => {
    const model = onnx.ModelProto.decode(buildAffine());
    expect(Number(model.irVersion)).toBe(ONNX_IR_VERSION);
    expect(model.opsetImport.map((opset) => Number(opset.version))).toEqual([ONNX_OPSET_VERSION]);
    // Decoded messages are class instances even where the typings say "interface or null".
    const graph = onnx.GraphProto.fromObject(model.graph ?? {});
    expect(graph.initializer.map((tensor) => tensor.dataType)).toEqual([1, 1, 7]);
    expect(graph.initializer.every((tensor) => (tensor.rawData?.length ?? 0) > 0)).toBe(true);
    expect(onnx.ModelProto.toObject(model).metadataProps).toEqual([
      { key: 'purpose', value: 'spec' },
    ]);
    expect(
      graph.input[0].type?.tensorType?.shape?.dim?.map(
        (dim) => dim.dimParam || Number(dim.dimValue),
      ),
    ).toEqual(['batch', 2]);
  });

  it('produces a model onnxruntime runs with the intended arithmetic', async () => {
    const session = await InferenceSession.create(buildAffine());
    const { y, scaled_shape } = await session.run({
      x: new Tensor('float32', Float32Array.of(1, 1, 2, 0), [2, 2]),
    });
    // [1, 1]·w = [4, 2] → +b = [4.5, -98] → LeakyRelu → [4.5, -24.5]; [2, 0]·w = [2, -4] → [2.5, -104·0.25]
    expect(Array.from(y.data as Float32Array)).toEqual([4.5, -24.5, 2.5, -26]);
    expect(Array.from(scaled_shape.data as BigInt64Array)).toEqual([20n, 20n]);
    await session.release();
  });

  it('refuses to reuse a value name', () => {
    const g = new OnnxGraphBuilder('dup');
    g.addInput('x', TensorElementType.float32, [1]);
    expect(() => g.addInput('x', TensorElementType.float32, [1])).toThrow(/already used/);
    expect(() => g.addFloatInitializer([1, 2, 3], [2])).toThrow(RangeError);
  });
});
