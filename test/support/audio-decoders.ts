/**
 * Real decoders for the formats the server encodes, so tests check what a player
 * would get: mpg123 (MP3), libopus (Ogg Opus) and libFLAC, compiled to WebAssembly,
 * and FFmpeg's AAC decoder where an `ffmpeg` binary is on PATH (.ci/run installs it).
 * The decoders are ES modules, loaded with Node's own require (see libs/audio-formats'
 * native-esm.ts for why).
 */
import { spawnSync } from 'node:child_process';
import type { MPEGDecoder } from 'mpg123-decoder';
import type { OggOpusDecoder } from 'ogg-opus-decoder';
import type { FLACDecoder } from '@wasm-audio-decoders/flac';

export interface DecodedAudio {
  /** Mono samples in [-1, 1]. */
  samples: Float32Array;
  sampleRate: number;
}

function requireNative<T>(specifier: string): T {
  const { createRequire } = process.getBuiltinModule('node:module');
  return createRequire(__filename)(specifier) as T;
}

interface WasmDecoded {
  channelData: Float32Array[];
  sampleRate: number;
  errors: Array<{ message: string }>;
}

/** Runs one decode on a fresh decoder and frees its WebAssembly memory afterwards. */
async function decodeWith<D extends { ready: Promise<void>; free(): unknown }>(
  label: string,
  decoder: D,
  decode: (decoder: D) => WasmDecoded | Promise<WasmDecoded>,
): Promise<DecodedAudio> {
  await decoder.ready;
  try {
    const decoded = await decode(decoder);
    if (decoded.errors.length) throw new Error(`${label}: ${decoded.errors[0].message}`);
    return { samples: decoded.channelData[0], sampleRate: decoded.sampleRate };
  } finally {
    await decoder.free();
  }
}

export function decodeMp3(bytes: Uint8Array): Promise<DecodedAudio> {
  const { MPEGDecoder: Decoder } = requireNative<{ MPEGDecoder: typeof MPEGDecoder }>(
    'mpg123-decoder',
  );
  return decodeWith('mp3', new Decoder(), (decoder) => decoder.decode(bytes));
}

export function decodeOggOpus(bytes: Uint8Array): Promise<DecodedAudio> {
  const { OggOpusDecoder: Decoder } = requireNative<{ OggOpusDecoder: typeof OggOpusDecoder }>(
    'ogg-opus-decoder',
  );
  return decodeWith('opus', new Decoder(), (decoder) => decoder.decodeFile(bytes));
}

export function decodeFlac(bytes: Uint8Array): Promise<DecodedAudio> {
  const { FLACDecoder: Decoder } = requireNative<{ FLACDecoder: typeof FLACDecoder }>(
    '@wasm-audio-decoders/flac',
  );
  return decodeWith('flac', new Decoder(), (decoder) => decoder.decodeFile(bytes));
}

export const HAS_FFMPEG = spawnSync('ffmpeg', ['-version']).status === 0;

/** AAC (ADTS) through FFmpeg's decoder, to 16-bit mono at the stream's own rate. */
export function decodeAacWithFfmpeg(bytes: Uint8Array, sampleRate: number): DecodedAudio {
  const result = spawnSync(
    'ffmpeg',
    ['-v', 'error', '-f', 'aac', '-i', 'pipe:0', '-f', 's16le', '-ac', '1', 'pipe:1'],
    { input: bytes, maxBuffer: 256 * 1024 * 1024 },
  );
  if (result.status !== 0) throw new Error(`ffmpeg: ${result.stderr.toString()}`);
  const pcm = new Int16Array(
    result.stdout.buffer,
    result.stdout.byteOffset,
    result.stdout.byteLength / 2,
  );
  return { samples: Float32Array.from(pcm, (s) => s / 32768), sampleRate };
}

const AAC_DECODER_MISSING =
  'AAC is decoded with ffmpeg, which is not on PATH: install it (apt-get install ffmpeg) to run this check';

/** Why a check that decodes `format` cannot run here, if it cannot (for itUnless). */
export function decoderMissing(format: string): string | undefined {
  return format === 'aac' && !HAS_FFMPEG ? AAC_DECODER_MISSING : undefined;
}

/**
 * How much longer than the samples encoded a decoded file may be: encoders pad the last
 * frame, and MP3 and AAC also start with the encoder's fixed delay (LAME's 1105
 * samples, AAC's 1024 priming samples), which neither a stream written front to back
 * nor ADTS can tell a decoder to remove. Opus can (pre-skip and the final granule
 * position), so it gets one 20 ms frame; FLAC, WAV and PCM are exact.
 */
export function maxExtraSeconds(format: string, sampleRate: number): number {
  switch (format) {
    case 'mp3':
      return (1105 + 576) / sampleRate;
    case 'aac':
      return (1024 + 1024) / sampleRate;
    case 'opus':
      return 0.02;
    default:
      return 0;
  }
}

/** Any format the server sends, decoded by a real decoder. */
export async function decodeAudio(
  format: string,
  bytes: Buffer,
  sampleRate: number,
): Promise<DecodedAudio> {
  switch (format) {
    case 'mp3':
      return decodeMp3(bytes);
    case 'opus':
      return decodeOggOpus(bytes);
    case 'flac':
      return decodeFlac(bytes);
    case 'aac':
      return decodeAacWithFfmpeg(bytes, sampleRate);
    case 'wav':
      return { samples: pcmToFloat(bytes.subarray(44)), sampleRate: bytes.readUInt32LE(24) };
    default:
      return { samples: pcmToFloat(bytes), sampleRate };
  }
}

function pcmToFloat(bytes: Buffer): Float32Array {
  const pcm = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  return Float32Array.from(pcm, (s) => s / 32768);
}
