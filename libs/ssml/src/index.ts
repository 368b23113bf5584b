/**
 * @app/ssml: SSML documents as segments Piper can speak (no Nest, no HTTP).
 * This file is the library's only door.
 */
export * from './ssml-errors';
export { looksLikeSsml, parseSsml, speechText, speechTextOffset } from './ssml-parser';
export {
  SSML_LIMITS,
  type SsmlBreak,
  type SsmlDocument,
  type SsmlMark,
  type SsmlParseOptions,
  type SsmlPiece,
  type SsmlSegment,
  type SsmlSpeech,
  type SsmlVoiceChoice,
} from './ssml-document';
export { SAY_AS_KINDS, sayAsText, type SayAsKind } from './say-as';
export { BREAK_STRENGTH_SECONDS, MAX_BREAK_SECONDS, PARAGRAPH_PAUSE_SECONDS } from './ssml-values';
