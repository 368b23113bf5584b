import type { Encoder as LibOpusEncoder } from '@evan/opus';
import type { AudioEncoder, AudioEncoderOptions, EncodedDataListener } from '../audio-encoder';
import { contentTypeOf } from '../audio-format';
import { mediabunny, type Mediabunny } from '../mediabunny';
import { requireNative } from '../native-esm';
import { PcmResampler } from '../resampler';

/** Opus encodes at these rates only; other voices are resampled (22.05 kHz to 24 kHz). */
const OPUS_RATES = [8000, 12000, 16000, 24000, 48000];
/** Ogg's granule positions count 48 kHz samples whatever the encoding rate (RFC 7845 §4). */
const GRANULE_RATE = 48000;
const FRAME_SECONDS = 0.02;
/** OPUS_GET_LOOKAHEAD_REQUEST (opus_defines.h); @evan/opus's typings misspell its getter. */
const GET_LOOKAHEAD = 4027;
const BITRATE = 32000;
/**
 * A streamed page holds at most this much audio, so a sentence's packets leave soon
 * after it is synthesized; each page costs about 30 bytes of framing.
 */
const MAX_PAGE_SECONDS = 0.2;

function opusRateFor(sampleRate: number): number {
  if (OPUS_RATES.includes(sampleRate)) return sampleRate;
  return sampleRate <= 24000 ? 24000 : 48000;
}

/**
 * Opus in Ogg (RFC 7845): libopus (@evan/opus, a native build with a WebAssembly
 * fallback) makes 20 ms packets on the calling thread, about 200 seconds of speech per
 * second; mediabunny pages them. The identification header declares the encoder's
 * look-ahead as pre-skip, and the last page's granule position trims the padding of
 * the last frame, so a decoder returns exactly the samples that were written.
 */
export class OpusEncoder implements AudioEncoder {
  readonly format = 'opus';
  readonly contentType = contentTypeOf('opus', 0);
  private readonly frameSamples: number;
  private readonly lookahead: number;
  private pending: Int16Array = new Int16Array(0);
  private packetIndex = 0;
  private samplesWritten = 0;
  private closed = false;

  private constructor(
    readonly sampleRate: number,
    private readonly inputSampleRate: number,
    private readonly opus: LibOpusEncoder,
    private readonly resampler: PcmResampler | undefined,
    private readonly output: Mediabunny.Output,
    private readonly packets: Mediabunny.EncodedAudioPacketSource,
  ) {
    this.frameSamples = Math.round(sampleRate * FRAME_SECONDS);
    this.lookahead = opus.ctl(GET_LOOKAHEAD);
  }

  static async create(
    options: AudioEncoderOptions,
    onData: EncodedDataListener,
  ): Promise<OpusEncoder> {
    const rate = opusRateFor(options.sampleRate);
    const resampler =
      rate === options.sampleRate ? undefined : await PcmResampler.create(options.sampleRate, rate);
    // Loaded by Node itself, once per process: a native addon loaded a second time in
    // one process (as Jest does, once per test file) encodes garbage.
    const { Encoder } = requireNative<{ Encoder: typeof LibOpusEncoder }>('@evan/opus');
    const opus = new Encoder({
      channels: 1,
      sample_rate: rate as 24000,
      application: 'audio',
    });
    opus.bitrate = BITRATE;
    const mb = mediabunny();
    const output = new mb.Output({
      format: new mb.OggOutputFormat({ maximumPageDuration: MAX_PAGE_SECONDS }),
      target: new mb.AppendOnlyStreamTarget(
        new WritableStream<Uint8Array>({ write: (bytes) => onData(bytes.slice()) }),
      ),
    });
    const packets = new mb.EncodedAudioPacketSource('opus');
    output.addAudioTrack(packets);
    await output.start();
    return new OpusEncoder(rate, options.sampleRate, opus, resampler, output, packets);
  }

  async write(pcm: Int16Array): Promise<void> {
    if (this.closed) return;
    const samples = this.resampler ? this.resampler.resample(pcm) : pcm;
    this.samplesWritten += samples.length;
    const joined = new Int16Array(this.pending.length + samples.length);
    joined.set(this.pending);
    joined.set(samples, this.pending.length);
    let offset = 0;
    for (; offset + this.frameSamples <= joined.length; offset += this.frameSamples) {
      await this.addPacket(joined.subarray(offset, offset + this.frameSamples), false);
    }
    this.pending = joined.slice(offset);
  }

  async end(): Promise<void> {
    if (this.closed) return;
    // The encoder's look-ahead (declared as pre-skip) delays everything: feed that much
    // silence more so the last real samples come out, then pad the last frame.
    const tail = new Int16Array(this.pending.length + this.lookahead);
    tail.set(this.pending);
    this.pending = new Int16Array(0);
    for (let offset = 0; offset < tail.length; offset += this.frameSamples) {
      const frame = new Int16Array(this.frameSamples);
      frame.set(tail.subarray(offset, offset + this.frameSamples));
      await this.addPacket(frame, offset + this.frameSamples >= tail.length);
    }
    await this.output.finalize();
    this.closed = true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.output.cancel().catch(() => undefined);
  }

  private async addPacket(frame: Int16Array, last: boolean): Promise<void> {
    const mb = mediabunny();
    const data = this.opus.encode(frame).slice();
    const start = this.packetIndex * this.frameSamples;
    // The last packet is cut to end at pre-skip + the samples written.
    const samples = last ? this.lookahead + this.samplesWritten - start : this.frameSamples;
    const packet = new mb.EncodedPacket(
      data,
      'key',
      start / this.sampleRate,
      samples / this.sampleRate,
    );
    await this.packets.add(
      packet,
      this.packetIndex === 0
        ? {
            decoderConfig: {
              codec: 'opus',
              numberOfChannels: 1,
              sampleRate: this.sampleRate,
              description: this.identificationHeader(),
            },
          }
        : undefined,
    );
    this.packetIndex++;
  }

  /** The OpusHead packet (RFC 7845 §5.1): mono, pre-skip, the voice's own rate. */
  private identificationHeader(): Uint8Array {
    const header = Buffer.alloc(19);
    header.write('OpusHead', 0, 'ascii');
    header.writeUInt8(1, 8); // version
    header.writeUInt8(1, 9); // channels
    header.writeUInt16LE(Math.round((this.lookahead * GRANULE_RATE) / this.sampleRate), 10);
    header.writeUInt32LE(this.inputSampleRate, 12);
    header.writeInt16LE(0, 16); // output gain
    header.writeUInt8(0, 18); // channel mapping family: mono/stereo
    return header;
  }
}
