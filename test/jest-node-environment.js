/**
 * Jest's node environment, sharing Node's own typed-array constructors with the specs.
 *
 * Jest runs each spec in its own V8 context with its own Float32Array, BigInt64Array,
 * …, while onnxruntime-node's native addon creates tensors with the main context's
 * ones; onnxruntime-common's `instanceof` checks then reject every output ("A float32
 * tensor's data must be type of function Float32Array()", jestjs/jest#11864). Jest
 * already shares Uint8Array for Buffer; this shares the rest.
 */
const { TestEnvironment } = require('jest-environment-node');

const TYPED_ARRAYS = [
  'Int8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class NodeTypedArrayEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of TYPED_ARRAYS) this.global[name] = globalThis[name];
  }
}

module.exports = NodeTypedArrayEnvironment;
