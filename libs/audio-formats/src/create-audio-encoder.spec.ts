import {
  decodeAudio,
  decodeFlac,
  decoderMissing,
  maxExtraSeconds,
  type DecodedAudio,
} from '../../../test/support/audio-decoders';
import { itUnless } from '../../../test/support/skips';
import { AUDIO_FORMATS, type AudioFormat } from './audio-format';
import { createAudioEncoder, encodeAudio } from './create-audio-encoder';

const RATE = 22050;

/** 0.6 s at 440 Hz then 0.6 s at 880 Hz: two "sentences" a decoder must give back in order. */
function twoTones(): Int16Array {
  const half = Math.round(RATE * 0.6);
  const pcm = new Int16Array(half * 2);
  for (let i = 0; i < pcm.length; i++) {
    const frequency = i < half ? 440 : 880;
    pcm[i] = Math.round(16000 * Math.sin((2 * Math.PI * frequency * i) / RATE));
  }
  return pcm;
}

/** Frequency of a tone from its zero crossings over [fromSeconds, toSeconds). */
function toneFrequency(audio: DecodedAudio, fromSeconds: number, toSeconds: number): number {
  const from = Math.round(fromSeconds * audio.sampleRate);
  const to = Math.round(toSeconds * audio.sampleRate);
  let crossings = 0;
  for (let i = from + 1; i < to; i++) {
    if (audio.samples[i - 1] < 0 !== audio.samples[i] < 0) crossings++;
  }
  return crossings / 2 / (toSeconds - fromSeconds);
}

/** Streams `pcm` in two writes, as a server streams two sentences, collecting the bytes. */
async function streamed(
  format: AudioFormat,
  pcm: Int16Array,
): Promise<{ bytes: Buffer; beforeEnd: number }> {
  const parts: Uint8Array[] = [];
  const encoder = await createAudioEncoder(format, { sampleRate: RATE, streaming: true }, (b) =>
    parts.push(b),
  );
  const half = pcm.length / 2;
  await encoder.write(pcm.subarray(0, half));
  // Encoders on a worker thread deliver a little later: wait for the first sentence's bytes.
  for (let tries = 0; parts.length === 0 && tries < 100; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await encoder.write(pcm.subarray(half));
  const beforeEnd = parts.reduce((sum, part) => sum + part.length, 0);
  await encoder.end();
  return { bytes: Buffer.concat(parts), beforeEnd };
}

describe('createAudioEncoder', () => {
  const pcm = twoTones();
  const seconds = pcm.length / RATE;

  for (const format of AUDIO_FORMATS) {
    itUnless(decoderMissing(format))(
      `${format}: streamed audio decodes to the same length and tones`,
      async () => {
        const { bytes, beforeEnd } = await streamed(format, pcm);
        // Bytes left the encoder before the stream ended: a listener hears the first sentence.
        expect(beforeEnd).toBeGreaterThan(0);
        const audio = await decodeAudio(format, bytes, RATE);
        const decodedSeconds = audio.samples.length / audio.sampleRate;
        expect(Math.abs(decodedSeconds - seconds)).toBeLessThanOrEqual(
          maxExtraSeconds(format, RATE) + 1e-9,
        );
        expect(toneFrequency(audio, 0.1, 0.5)).toBeCloseTo(440, -1);
        expect(toneFrequency(audio, 0.7, 1.1)).toBeCloseTo(880, -1);
      },
    );
  }

  for (const format of AUDIO_FORMATS) {
    itUnless(decoderMissing(format))(
      `${format}: a whole file decodes to the same length`,
      async () => {
        const audio = await decodeAudio(format, await encodeAudio(format, pcm, RATE), RATE);
        const decodedSeconds = audio.samples.length / audio.sampleRate;
        expect(Math.abs(decodedSeconds - seconds)).toBeLessThanOrEqual(
          maxExtraSeconds(format, RATE) + 1e-9,
        );
      },
    );
  }

  it('flac is lossless, and a whole file states its length', async () => {
    // The decoder scales 16-bit samples by 1/32767.
    const samplesOf = (audio: DecodedAudio) =>
      Int16Array.from(audio.samples, (s) => Math.round(s * 32767));
    // STREAMINFO's total sample count: the low 36 bits of the 8 bytes at offset 18.
    const totalSamples = (flac: Buffer) => Number(flac.readBigUInt64BE(18) & 0xfffffffffn);
    const stream = (await streamed('flac', pcm)).bytes;
    const whole = await encodeAudio('flac', pcm, RATE);
    expect(samplesOf(await decodeFlac(stream))).toEqual(pcm);
    expect(samplesOf(await decodeFlac(whole))).toEqual(pcm);
    expect(totalSamples(whole)).toBe(pcm.length);
    expect(totalSamples(stream)).toBe(0); // "unknown": the header leaves before the audio
  });
});
