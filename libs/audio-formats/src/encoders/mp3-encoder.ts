import { readFileSync } from 'node:fs';
import { createEncoder, type WasmMediaEncoder } from 'wasm-media-encoders';
import type { AudioEncoder, AudioEncoderOptions, EncodedDataListener } from '../audio-encoder';
import { contentTypeOf } from '../audio-format';
import { resolveNative } from '../native-esm';

type LameEncoder = WasmMediaEncoder<'audio/mpeg'>;
type CompiledLame = Exclude<Parameters<typeof createEncoder>[1], string | ArrayBuffer | Uint8Array>;
/** Node's WebAssembly global; this project's TypeScript libs leave it undeclared. */
const { WebAssembly: wasm } = globalThis as unknown as {
  WebAssembly: { compile(bytes: Uint8Array): Promise<CompiledLame> };
};

/**
 * Constant bit rate by sample rate: Piper's audio has nothing above 11 kHz, and 64
 * kbit/s at 22.05 kHz mono (MPEG-2 layer III) keeps speech clean at a fifth of WAV's size.
 */
function bitrateFor(sampleRate: number): 32 | 48 | 64 {
  if (sampleRate >= 22050) return 64;
  return sampleRate >= 16000 ? 48 : 32;
}

/**
 * LAME compiled to WebAssembly (wasm-media-encoders), run on the calling thread: it
 * encodes about 300 seconds of speech per second, so a sentence costs a few
 * milliseconds. Setting up an instance costs 6 to 15 ms, more than encoding a sentence,
 * so finished instances are kept and reconfigured for the next stream.
 */
class LamePool {
  private module: Promise<CompiledLame> | undefined;
  private readonly idle: LameEncoder[] = [];
  private static readonly MAX_IDLE = 4;

  async take(): Promise<LameEncoder> {
    const reused = this.idle.pop();
    if (reused) return reused;
    this.module ??= wasm.compile(readFileSync(resolveNative('wasm-media-encoders/wasm/mp3')));
    return createEncoder('audio/mpeg', await this.module);
  }

  give(encoder: LameEncoder): void {
    if (this.idle.length < LamePool.MAX_IDLE) this.idle.push(encoder);
  }
}

const lamePool = new LamePool();

/** MP3 frames as LAME produces them: a stream any player starts anywhere, no header to patch. */
export class Mp3Encoder implements AudioEncoder {
  readonly format = 'mp3';
  readonly contentType = contentTypeOf('mp3', 0);
  private lame: LameEncoder | undefined;

  private constructor(
    lame: LameEncoder,
    readonly sampleRate: number,
    private readonly onData: EncodedDataListener,
  ) {
    this.lame = lame;
  }

  static async create(
    options: AudioEncoderOptions,
    onData: EncodedDataListener,
  ): Promise<Mp3Encoder> {
    const lame = await lamePool.take();
    // configure() also resets an instance that ended a stream early.
    lame.configure({
      channels: 1,
      sampleRate: options.sampleRate,
      bitrate: bitrateFor(options.sampleRate),
    });
    return new Mp3Encoder(lame, options.sampleRate, onData);
  }

  write(pcm: Int16Array): Promise<void> {
    if (!this.lame || pcm.length === 0) return Promise.resolve();
    const samples = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
    this.emit(this.lame.encode([samples]));
    return Promise.resolve();
  }

  end(): Promise<void> {
    if (!this.lame) return Promise.resolve();
    this.emit(this.lame.finalize());
    this.close();
    return Promise.resolve();
  }

  close(): void {
    if (this.lame) lamePool.give(this.lame);
    this.lame = undefined;
  }

  /** LAME's output lives in its WebAssembly memory and is overwritten by the next call. */
  private emit(bytes: Uint8Array): void {
    if (bytes.length > 0) this.onData(bytes.slice());
  }
}
