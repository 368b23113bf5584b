import type { AudioEncoder, AudioEncoderOptions, EncodedDataListener } from '../audio-encoder';
import { contentTypeOf } from '../audio-format';
import { requireNative } from '../native-esm';

/** The part of libflacjs (libFLAC compiled by Emscripten) this encoder uses. */
interface LibFlac {
  isReady(): boolean;
  on(event: 'ready', listener: () => void): void;
  create_libflac_encoder(
    sampleRate: number,
    channels: number,
    bitsPerSample: number,
    compressionLevel: number,
    totalSamples: number,
    verify: boolean,
    blockSize: number,
  ): number;
  init_encoder_stream(
    encoder: number,
    write: (data: Uint8Array, bytes: number) => void,
    metadata: () => void,
  ): number;
  FLAC__stream_encoder_process_interleaved(
    encoder: number,
    samples: Int32Array,
    samplesPerChannel: number,
  ): boolean;
  FLAC__stream_encoder_finish(encoder: number): boolean;
  FLAC__stream_encoder_delete(encoder: number): void;
}

/** libFLAC's default level: what `flac` uses with no option. */
const COMPRESSION_LEVEL = 5;

let library: Promise<LibFlac> | undefined;

/**
 * libFLAC's asm.js build: about 300 seconds of speech per second on the calling thread,
 * and an encoder costs about a millisecond to set up, so the first bytes of a stream
 * follow the first sentence at once. (The package's WebAssembly build fetches its
 * binary with `fetch`, which fails on a file path in Node.) Loaded once per process.
 */
function libFlac(): Promise<LibFlac> {
  library ??= new Promise((resolve) => {
    const flac = requireNative<LibFlac>('libflacjs/dist/libflac.js');
    if (flac.isReady()) resolve(flac);
    else flac.on('ready', () => resolve(flac));
  });
  return library;
}

/**
 * FLAC frames as libFLAC writes them, after a STREAMINFO header. Streamed, the header
 * cannot know the total sample count and says 0 ("unknown", as the format allows); a
 * file that is not streamed is given the count up front. The MD5 field stays 0
 * ("not computed"): filling it needs a seek back to the header after the last frame.
 */
export class FlacEncoder implements AudioEncoder {
  readonly format = 'flac';
  readonly contentType = contentTypeOf('flac', 0);
  private encoder: number | undefined;

  private constructor(
    private readonly flac: LibFlac,
    encoder: number,
    readonly sampleRate: number,
  ) {
    this.encoder = encoder;
  }

  static async create(
    options: AudioEncoderOptions & { totalSamples?: number },
    onData: EncodedDataListener,
  ): Promise<FlacEncoder> {
    const flac = await libFlac();
    const encoder = flac.create_libflac_encoder(
      options.sampleRate,
      1,
      16,
      COMPRESSION_LEVEL,
      options.totalSamples ?? 0,
      false,
      0,
    );
    if (!encoder) throw new Error('libFLAC could not create an encoder');
    // libFLAC reuses the buffer it hands to the callback.
    const status = flac.init_encoder_stream(
      encoder,
      (data, bytes) => onData(data.slice(0, bytes)),
      () => undefined,
    );
    if (status !== 0) {
      flac.FLAC__stream_encoder_delete(encoder);
      throw new Error(`libFLAC could not start an encoder (status ${status})`);
    }
    return new FlacEncoder(flac, encoder, options.sampleRate);
  }

  write(pcm: Int16Array): Promise<void> {
    if (this.encoder === undefined || pcm.length === 0) return Promise.resolve();
    const ok = this.flac.FLAC__stream_encoder_process_interleaved(
      this.encoder,
      Int32Array.from(pcm),
      pcm.length,
    );
    return ok ? Promise.resolve() : Promise.reject(new Error('libFLAC failed to encode'));
  }

  end(): Promise<void> {
    if (this.encoder === undefined) return Promise.resolve();
    this.flac.FLAC__stream_encoder_finish(this.encoder);
    this.close();
    return Promise.resolve();
  }

  close(): void {
    if (this.encoder === undefined) return;
    this.flac.FLAC__stream_encoder_delete(this.encoder);
    this.encoder = undefined;
  }
}
