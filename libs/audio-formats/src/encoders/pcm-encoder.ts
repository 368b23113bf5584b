import { wavHeader } from '@app/piper';
import type { AudioEncoder, AudioEncoderOptions, EncodedDataListener } from '../audio-encoder';
import { contentTypeOf } from '../audio-format';
import { PcmResampler } from '../resampler';

/**
 * WAV and raw PCM. Streamed WAV starts with a header of unknown size (players read
 * it as "until the end"); a WAV file that is not streamed is held until the end to
 * write the exact sizes.
 */
export class PcmEncoder implements AudioEncoder {
  readonly contentType: string;
  private readonly held: Int16Array[] = [];
  private headerSent = false;
  private closed = false;

  private constructor(
    readonly format: 'wav' | 'pcm',
    readonly sampleRate: number,
    private readonly streaming: boolean,
    private readonly resampler: PcmResampler | undefined,
    private readonly onData: EncodedDataListener,
  ) {
    this.contentType = contentTypeOf(format, sampleRate);
  }

  static async create(
    format: 'wav' | 'pcm',
    options: AudioEncoderOptions,
    onData: EncodedDataListener,
  ): Promise<PcmEncoder> {
    const rate = options.outputSampleRate ?? options.sampleRate;
    const resampler =
      rate === options.sampleRate ? undefined : await PcmResampler.create(options.sampleRate, rate);
    return new PcmEncoder(format, rate, options.streaming, resampler, onData);
  }

  write(pcm: Int16Array): Promise<void> {
    if (this.closed) return Promise.resolve();
    const samples = this.resampler ? this.resampler.resample(pcm) : pcm;
    if (this.format === 'wav' && !this.streaming) {
      this.held.push(samples.slice());
      return Promise.resolve();
    }
    if (this.format === 'wav' && !this.headerSent) {
      this.headerSent = true;
      this.onData(wavHeader({ sampleRate: this.sampleRate }));
    }
    this.onData(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength).slice());
    return Promise.resolve();
  }

  end(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.format === 'wav') {
      if (this.streaming) {
        if (!this.headerSent) this.onData(wavHeader({ sampleRate: this.sampleRate }));
      } else {
        const dataBytes = this.held.reduce((sum, samples) => sum + samples.byteLength, 0);
        this.onData(wavHeader({ sampleRate: this.sampleRate }, dataBytes));
        for (const samples of this.held) this.onData(new Uint8Array(samples.buffer));
      }
    }
    this.close();
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
    this.held.length = 0;
  }
}
