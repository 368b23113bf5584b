import type { AudioFormat } from './audio-format';

export interface AudioEncoderOptions {
  /** Rate of the 16-bit mono samples given to `write`. */
  sampleRate: number;
  /**
   * Rate of the encoded audio, where the format allows a choice (wav, pcm): the
   * samples are resampled to it. Opus always encodes at one of its own rates.
   */
  outputSampleRate?: number;
  /**
   * Streaming output is append-only and sent as it is produced; container fields that
   * need the total length (WAV sizes, FLAC's sample count) say "unknown". A file that
   * is not streamed gets them exact.
   */
  streaming: boolean;
}

/**
 * Encodes a voice's samples as they come, sentence by sentence. Encoded bytes are
 * handed to the `onData` callback given at creation as soon as the encoder produces
 * them: some encoders work in frames and hold samples back until a frame is full,
 * others run on a worker thread and deliver later.
 */
export interface AudioEncoder {
  readonly format: AudioFormat;
  readonly contentType: string;
  /** Rate of the encoded audio. */
  readonly sampleRate: number;
  write(pcm: Int16Array): Promise<void>;
  /** Flushes what is held back and closes the encoder. */
  end(): Promise<void>;
  /** Releases the encoder without finishing (the client left). Safe to call twice. */
  close(): void;
}

export type EncodedDataListener = (bytes: Uint8Array) => void;
