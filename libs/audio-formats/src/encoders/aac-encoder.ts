import type { AudioEncoder, AudioEncoderOptions, EncodedDataListener } from '../audio-encoder';
import { contentTypeOf } from '../audio-format';
import { mediabunny, type Mediabunny } from '../mediabunny';

const AAC_BITRATE = 64000;

/**
 * AAC-LC in ADTS, from FFmpeg's AAC encoder compiled to WebAssembly (mediabunny's
 * extension), which runs on a worker thread of its own: bytes arrive a little after the
 * samples that made them, and the thread starts with the first samples (about 150 ms
 * before the first bytes of a stream).
 */
export class AacEncoder implements AudioEncoder {
  readonly format = 'aac';
  readonly contentType = contentTypeOf('aac', 0);
  private timestampSamples = 0;
  private closed = false;

  private constructor(
    readonly sampleRate: number,
    private readonly output: Mediabunny.Output,
    private readonly samples: Mediabunny.AudioSampleSource,
  ) {}

  static async create(
    options: AudioEncoderOptions,
    onData: EncodedDataListener,
  ): Promise<AacEncoder> {
    const mb = mediabunny();
    const output = new mb.Output({
      format: new mb.AdtsOutputFormat(),
      target: new mb.AppendOnlyStreamTarget(
        new WritableStream<Uint8Array>({ write: (bytes) => onData(bytes.slice()) }),
      ),
    });
    const samples = new mb.AudioSampleSource({ codec: 'aac', bitrate: AAC_BITRATE });
    output.addAudioTrack(samples);
    await output.start();
    return new AacEncoder(options.sampleRate, output, samples);
  }

  async write(pcm: Int16Array): Promise<void> {
    if (this.closed || pcm.length === 0) return;
    const mb = mediabunny();
    const sample = new mb.AudioSample({
      data: pcm,
      format: 's16',
      numberOfChannels: 1,
      sampleRate: this.sampleRate,
      timestamp: this.timestampSamples / this.sampleRate,
    });
    this.timestampSamples += pcm.length;
    try {
      await this.samples.add(sample);
    } finally {
      sample.close();
    }
  }

  async end(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.output.finalize();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.output.cancel().catch(() => undefined);
  }
}
