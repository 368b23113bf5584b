import type { AudioEncoder, AudioEncoderOptions, EncodedDataListener } from './audio-encoder';
import type { AudioFormat } from './audio-format';
import { AacEncoder } from './encoders/aac-encoder';
import { FlacEncoder } from './encoders/flac-encoder';
import { Mp3Encoder } from './encoders/mp3-encoder';
import { OpusEncoder } from './encoders/opus-encoder';
import { PcmEncoder } from './encoders/pcm-encoder';

/** An encoder for one stream of 16-bit mono samples; bytes go to `onData` as they are made. */
export function createAudioEncoder(
  format: AudioFormat,
  options: AudioEncoderOptions,
  onData: EncodedDataListener,
): Promise<AudioEncoder> {
  switch (format) {
    case 'wav':
    case 'pcm':
      return PcmEncoder.create(format, options, onData);
    case 'mp3':
      return Mp3Encoder.create(options, onData);
    case 'opus':
      return OpusEncoder.create(options, onData);
    case 'flac':
      return FlacEncoder.create(options, onData);
    case 'aac':
      return AacEncoder.create(options, onData);
  }
}

/** A whole file in `format` from the samples of a voice. */
export async function encodeAudio(
  format: AudioFormat,
  pcm: Int16Array,
  sampleRate: number,
  outputSampleRate?: number,
): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  const onData = (bytes: Uint8Array): void => void parts.push(bytes);
  const options = { sampleRate, outputSampleRate, streaming: false };
  // A FLAC file written whole can say how many samples it holds.
  const encoder =
    format === 'flac'
      ? await FlacEncoder.create({ ...options, totalSamples: pcm.length }, onData)
      : await createAudioEncoder(format, options, onData);
  try {
    await encoder.write(pcm);
    await encoder.end();
  } finally {
    encoder.close();
  }
  return Buffer.concat(parts);
}
