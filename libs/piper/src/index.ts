/**
 * @app/piper: Piper's text-to-speech inference in TypeScript (no Nest, no HTTP).
 * This file is the library's only door.
 */
export * from './errors';
export * from './voice-config';
export * from './phoneme-ids';
export * from './audio';
export * from './voice-model';
export * from './onnx-envelope';
export * from './piper-voice';
export { EspeakPhonemizer } from './phonemize/espeak-phonemizer';
export { phonemizeText, type PhonemizeOptions } from './phonemize/phonemize';
export { splitClauses, type Clause, type ClauseSplitOptions } from './phonemize/clause-splitter';
export * from './voice-builder';
export * from './alignment';
