import type { AudioEncoder, AudioEncoderOptions, EncodedDataListener } from './audio-encoder';
import type { AudioFormat } from './audio-format';
import { MediabunnyEncoder } from './encoders/mediabunny-encoder';
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
    case 'aac':
      return MediabunnyEncoder.create(format, options, onData);
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
  const encoder = await createAudioEncoder(
    format,
    { sampleRate, outputSampleRate, streaming: false },
    (bytes) => parts.push(bytes),
  );
  try {
    await encoder.write(pcm);
    await encoder.end();
  } finally {
    encoder.close();
  }
  return Buffer.concat(parts);
}
