/**
 * @app/audio-formats: 16-bit mono PCM to WAV, raw PCM, MP3, Opus (Ogg), FLAC and AAC,
 * streamed or whole, with encoders from the npm registry (no Nest, no HTTP).
 * This file is the library's only door.
 */
export * from './audio-format';
export * from './audio-encoder';
export { createAudioEncoder, encodeAudio } from './create-audio-encoder';
export { PcmResampler } from './resampler';
