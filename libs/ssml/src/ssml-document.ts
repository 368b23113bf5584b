/**
 * What an SSML document becomes: its segments (speech stretches and breaks), marks and
 * warnings, and the bounds the parser keeps. Types only (and the bounds' defaults);
 * ssml-parser.ts builds them.
 */
import type { SayAsKind } from './say-as';

/** Default bounds of one document. */
export const SSML_LIMITS = { maxElements: 1000, maxDepth: 32 } as const;

export interface SsmlParseOptions {
  /** Characters of markup (code units) accepted at all; beyond: SsmlTooLargeError. */
  maxMarkupLength: number;
  maxElements?: number;
  maxDepth?: number;
  /**
   * Default true: `<audio>` and unknown elements are an SsmlUnsupportedError naming them.
   * False: their content is spoken, and a warning says so.
   */
  strict?: boolean;
}

/** `<voice>` or `<lang>`: a voice by name (or speaker name), or by language. */
export interface SsmlVoiceChoice {
  name?: string;
  language?: string;
}

export type SsmlPiece =
  | { kind: 'text'; text: string }
  | { kind: 'say-as'; text: string; interpretAs: SayAsKind; format?: string }
  | { kind: 'phonemes'; phonemes: string };

export interface SsmlSpeech {
  type: 'speech';
  pieces: SsmlPiece[];
  /** The innermost `<voice>`/`<lang>`; undefined: the request's own voice. */
  voice?: SsmlVoiceChoice;
  /** Factor on the voice's length_scale (`<prosody rate>`, `<emphasis>`); 1 = unchanged. */
  lengthScaleFactor: number;
  /** Factor on the volume (`<prosody volume>`); 1 = unchanged. */
  volumeFactor: number;
  /** The segment ends a sentence (Piper's sentence silence follows it). */
  endsSentence: boolean;
}

export interface SsmlBreak {
  type: 'break';
  seconds: number;
}

export type SsmlSegment = SsmlSpeech | SsmlBreak;

/**
 * Where a `<mark>` is: in speech segment `segmentIndex` before its piece `pieceIndex`
 * (and `pieceOffset` code units into it, for a mark inside text that runs on), or, with
 * `pieceIndex` 0 and `pieceOffset` 0, at the start of that segment, speech or break
 * (segments.length: at the end of the document). speechTextOffset turns it into an
 * offset in the text the segment speaks.
 */
export interface SsmlMark {
  name: string;
  segmentIndex: number;
  pieceIndex: number;
  pieceOffset: number;
}

export interface SsmlDocument {
  segments: SsmlSegment[];
  marks: SsmlMark[];
  /** Code points spoken: text, aliases, say-as content, phonemes; what MAX_TEXT_LENGTH bounds. */
  spokenLength: number;
  /** What was not honoured (pitch, unknown elements when not strict), one line each. */
  warnings: string[];
}

/** Markup starting with `<speak` (after blanks or an XML declaration) is SSML. */
