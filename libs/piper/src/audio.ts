/**
 * Audio out (docs/PIPER.md §6): piper1-gpl's per-sentence
 * normalisation to 16-bit PCM, and the 44-byte RIFF/WAVE header.
 */

const MAX_WAV_VALUE = 32767;
/** Below this peak a sentence is treated as silence (piper1-gpl). */
const SILENCE_PEAK = 1e-8;
const WAV_HEADER_BYTES = 44;
/** Data size written in a streaming header, where the length is not known yet. */
const STREAMING_SIZE = 0xffffffff;

/**
 * Float network output to int16 exactly as piper1-gpl does it in numpy float32:
 * divide by the peak, multiply by `volume`, clip to [-1, 1], scale by 32767 and
 * truncate toward zero. Every intermediate is rounded to float32 (Math.fround) so
 * that the samples are bit-identical to Piper's, not merely close.
 */
export function floatToPcm16(audio: Float32Array, volume = 1): Int16Array {
  const pcm = new Int16Array(audio.length);
  let peak = 0;
  let finite = true;
  for (let i = 0; i < audio.length; i++) {
    const magnitude = Math.abs(audio[i]);
    if (magnitude > peak) peak = magnitude;
    else if (Number.isNaN(magnitude)) finite = false;
  }
  // A network that emits NaN or infinity is broken for this sentence: numpy would
  // give undefined int16 values; a defined silence is the safer answer.
  if (!finite || peak === Infinity || peak < SILENCE_PEAK) return pcm;

  const volume32 = Math.fround(volume);
  const applyVolume = volume !== 1;
  for (let i = 0; i < audio.length; i++) {
    let sample = Math.fround(audio[i] / peak);
    if (applyVolume) sample = Math.fround(sample * volume32);
    if (sample > 1) sample = 1;
    else if (sample < -1) sample = -1;
    // |sample| <= 1, so sample * 32767 needs no second clip.
    pcm[i] = Math.trunc(Math.fround(sample * MAX_WAV_VALUE));
  }
  return pcm;
}

export interface WavFormat {
  sampleRate: number;
  channels?: number;
  bitsPerSample?: number;
}

/**
 * The 44-byte RIFF/WAVE header for 16-bit PCM. Without `dataBytes` it is a streaming
 * header: RIFF and data sizes 0xFFFFFFFF, which players read as "until the end".
 */
export function wavHeader(format: WavFormat, dataBytes?: number): Buffer {
  const channels = format.channels ?? 1;
  const bitsPerSample = format.bitsPerSample ?? 16;
  const blockAlign = (channels * bitsPerSample) / 8;
  const header = Buffer.alloc(WAV_HEADER_BYTES);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(dataBytes === undefined ? STREAMING_SIZE : 36 + dataBytes, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(format.sampleRate, 24);
  header.writeUInt32LE(format.sampleRate * blockAlign, 28);
  header.writeUInt16LE(blockAlign, 32);
  header.writeUInt16LE(bitsPerSample, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes === undefined ? STREAMING_SIZE : dataBytes, 40);
  return header;
}

/** Little-endian bytes of 16-bit samples, sharing memory with `pcm` (no copy). */
export function pcmBytes(pcm: Int16Array): Buffer {
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

/** One buffer of the given PCM pieces in order (sentences into a whole text). */
export function concatPcm(pieces: readonly Int16Array[]): Int16Array {
  const pcm = new Int16Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let offset = 0;
  for (const piece of pieces) {
    pcm.set(piece, offset);
    offset += piece.length;
  }
  return pcm;
}

/** A whole WAV file of mono 16-bit PCM. */
export function encodeWav(pcm: Int16Array, sampleRate: number): Buffer {
  return Buffer.concat([wavHeader({ sampleRate }, pcm.byteLength), pcmBytes(pcm)]);
}

export interface WavInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  pcm: Int16Array;
}

/** Reads back a 16-bit PCM WAV as written by `encodeWav` (tests, demo files). */
export function decodeWav(wav: Buffer): WavInfo {
  if (
    wav.length < WAV_HEADER_BYTES ||
    wav.toString('ascii', 0, 4) !== 'RIFF' ||
    wav.toString('ascii', 8, 12) !== 'WAVE'
  ) {
    throw new Error('not a RIFF/WAVE file');
  }
  let offset = 12;
  let sampleRate = 0;
  let channels = 0;
  let bitsPerSample = 0;
  while (offset + 8 <= wav.length) {
    const chunkId = wav.toString('ascii', offset, offset + 4);
    const chunkSize = wav.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (chunkId === 'fmt ') {
      channels = wav.readUInt16LE(body + 2);
      sampleRate = wav.readUInt32LE(body + 4);
      bitsPerSample = wav.readUInt16LE(body + 14);
    } else if (chunkId === 'data') {
      const end =
        chunkSize === STREAMING_SIZE ? wav.length : Math.min(wav.length, body + chunkSize);
      const bytes = wav.subarray(body, end - ((end - body) % 2));
      const pcm = new Int16Array(bytes.length / 2);
      for (let i = 0; i < pcm.length; i++) pcm[i] = bytes.readInt16LE(i * 2);
      return { sampleRate, channels, bitsPerSample, pcm };
    }
    offset = body + chunkSize + (chunkSize % 2);
  }
  throw new Error('WAV file has no data chunk');
}
