/**
 * Voices the project generates itself (no weights in the repository): a test voice whose
 * audio is a known function of its inputs, and a bench voice with a medium voice's cost.
 */
export { ESPEAK_PHONEME_ID_MAP } from './espeak-phoneme-id-map';
export {
  TEST_VOICE_FRAMES_PER_ID,
  TEST_VOICE_HOP_LENGTH,
  TEST_VOICE_SAMPLE_RATE,
  buildTestVoiceModel,
  testVoiceFramesPerId,
  testVoiceReferenceAudio,
  writeTestVoice,
} from './test-voice';
export type { TestVoiceOptions, VoiceScales } from './test-voice';
export {
  BENCH_VOICE_VCTK_SPEAKERS,
  BENCH_VOICE_MEDIUM_ARCHITECTURE,
  buildBenchVoiceModel,
  writeBenchVoice,
} from './bench-voice';
export type { BenchVoiceArchitecture, BenchVoiceOptions } from './bench-voice';
export type { GeneratedVoiceConfig, GeneratedVoiceFiles } from './voice-files';
