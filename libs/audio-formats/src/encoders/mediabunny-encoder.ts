import type { AudioEncoder, AudioEncoderOptions, EncodedDataListener } from '../audio-encoder';
import { contentTypeOf } from '../audio-format';
import { mediabunny, type Mediabunny } from '../mediabunny';

const AAC_BITRATE = 64000;

/**
 * FLAC and AAC (in ADTS), encoded by mediabunny's encoder extensions on a worker thread
 * of their own, so bytes arrive a little after the samples that made them. Streamed
 * FLAC is append-only, so its STREAMINFO leaves the total sample count unknown (0, as
 * the format allows); a FLAC file that is not streamed is written whole with the exact
 * counts and checksum.
 */
export class MediabunnyEncoder implements AudioEncoder {
  readonly contentType: string;
  private timestampSamples = 0;
  private closed = false;

  private constructor(
    readonly format: 'flac' | 'aac',
    readonly sampleRate: number,
    private readonly output: Mediabunny.Output,
    private readonly samples: Mediabunny.AudioSampleSource,
    private readonly whole: Mediabunny.BufferTarget | undefined,
    private readonly onData: EncodedDataListener,
  ) {
    this.contentType = contentTypeOf(format, sampleRate);
  }

  static async create(
    format: 'flac' | 'aac',
    options: AudioEncoderOptions,
    onData: EncodedDataListener,
  ): Promise<MediabunnyEncoder> {
    const mb = mediabunny();
    const whole = format === 'flac' && !options.streaming ? new mb.BufferTarget() : undefined;
    const output = new mb.Output({
      format:
        format === 'flac'
          ? new mb.FlacOutputFormat({ appendOnly: options.streaming })
          : new mb.AdtsOutputFormat(),
      target:
        whole ??
        new mb.AppendOnlyStreamTarget(
          new WritableStream<Uint8Array>({ write: (bytes) => onData(bytes.slice()) }),
        ),
    });
    const samples = new mb.AudioSampleSource({ codec: format, bitrate: AAC_BITRATE });
    output.addAudioTrack(samples);
    await output.start();
    return new MediabunnyEncoder(format, options.sampleRate, output, samples, whole, onData);
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
    if (this.whole?.buffer) this.onData(new Uint8Array(this.whole.buffer));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.output.cancel().catch(() => undefined);
  }
}
