import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxEnvelopeError, readOnnxEnvelope } from './onnx-envelope';
import { writeTestVoice } from './voice-builder';

describe('readOnnxEnvelope', () => {
  let dir: string;
  let network: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'onnx-envelope-'));
    network = (await writeTestVoice(dir)).modelPath;
  });

  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('accepts a whole network and reports its graph', async () => {
    const envelope = await readOnnxEnvelope(network);
    expect(envelope.sizeBytes).toBe((await readFile(network)).length);
    expect(envelope.irVersion).toBeGreaterThan(0);
    expect(envelope.graphBytes).toBeGreaterThan(0);
  });

  it.each([
    [
      'cut in the middle',
      (bytes: Buffer) => bytes.subarray(0, Math.floor(bytes.length / 2)),
      /truncated/,
    ],
    ['missing its last byte', (bytes: Buffer) => bytes.subarray(0, bytes.length - 1), /truncated/],
    ['empty', () => Buffer.alloc(0), /empty/],
    ['text', () => Buffer.from('<html>404 Not Found</html>'), /not an ONNX model|truncated/],
    ['zeros', () => Buffer.alloc(4096), /not an ONNX model/],
  ])('rejects a network %s', async (_label, mangle, reason) => {
    const path = join(dir, `mangled-${Math.random().toString(36).slice(2)}.onnx`);
    await writeFile(path, mangle(await readFile(network)));
    const error = await readOnnxEnvelope(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OnnxEnvelopeError);
    expect((error as Error).message).toMatch(reason);
  });

  it('rejects a network truncated in place', async () => {
    const path = join(dir, 'in-place.onnx');
    await writeFile(path, await readFile(network));
    await truncate(path, 100);
    await expect(readOnnxEnvelope(path)).rejects.toThrow(/truncated/);
  });
});
