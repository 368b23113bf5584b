/**
 * espeak-ng's clause punctuation, as its clause reader sees it: the clause types of
 * `clause_type_from_codepoint()` (ucd-tools' espeak-ng properties) by code point, what
 * Piper's bridge makes of a clause type, and the character classes readclause.c tests
 * (`iswspace`, `IsBracket`, `iswalpha`, ...). Tables only; clause-splitter.ts replays
 * the reader over them.
 */

/** Punctuation Piper appends to a clause's phonemes (docs/PIPER.md §3 rule 4). */
export type ClauseTerminator = '' | '.' | ',' | '?' | '!' | ':' | ';';

const CLAUSE_INTONATION_COMMA = 0x1000;
const CLAUSE_INTONATION_QUESTION = 0x2000;
const CLAUSE_INTONATION_EXCLAMATION = 0x3000;
const CLAUSE_INTONATION_NONE = 0x4000;
export const CLAUSE_OPTIONAL_SPACE_AFTER = 0x8000;
const CLAUSE_TYPE_EOF = 0x10000;
const CLAUSE_TYPE_CLAUSE = 0x40000;
export const CLAUSE_TYPE_SENTENCE = 0x80000;
export const CLAUSE_PUNCTUATION_IN_WORD = 0x100000;
const CLAUSE_SPEAK_PUNCTUATION_NAME = 0x200000;

export const CLAUSE_NONE = CLAUSE_INTONATION_NONE;
export const CLAUSE_PARAGRAPH = 70 | CLAUSE_TYPE_SENTENCE;
export const CLAUSE_EOF = 40 | CLAUSE_TYPE_SENTENCE | CLAUSE_TYPE_EOF;
const CLAUSE_PERIOD = 40 | CLAUSE_TYPE_SENTENCE;
const CLAUSE_COMMA = 20 | CLAUSE_INTONATION_COMMA | CLAUSE_TYPE_CLAUSE;
export const CLAUSE_QUESTION = 40 | CLAUSE_INTONATION_QUESTION | CLAUSE_TYPE_SENTENCE;
export const CLAUSE_EXCLAMATION = 45 | CLAUSE_INTONATION_EXCLAMATION | CLAUSE_TYPE_SENTENCE;
const CLAUSE_COLON = 30 | CLAUSE_TYPE_CLAUSE;
const CLAUSE_SEMICOLON = 30 | CLAUSE_INTONATION_COMMA | CLAUSE_TYPE_CLAUSE;
const CLAUSE_ELLIPSIS =
  CLAUSE_SEMICOLON | CLAUSE_SPEAK_PUNCTUATION_NAME | CLAUSE_OPTIONAL_SPACE_AFTER;

/** espeak-ng's source buffer for one clause (N_TR_SOURCE), in UTF-8 bytes. */
export const CLAUSE_BUFFER_BYTES = 800;

export const CHAR_EMPHASIS = 0x530;

const PERIOD = CLAUSE_PERIOD;
const PERIOD_NO_SPACE = CLAUSE_PERIOD | CLAUSE_OPTIONAL_SPACE_AFTER;
const QUESTION = CLAUSE_QUESTION;
const EXCLAMATION = CLAUSE_EXCLAMATION;
const COMMA = CLAUSE_COMMA;
const COLON = CLAUSE_COLON;
const SEMICOLON = CLAUSE_SEMICOLON;
const INVERTED = CLAUSE_SEMICOLON | CLAUSE_OPTIONAL_SPACE_AFTER;
const ELLIPSIS = CLAUSE_ELLIPSIS;
const PARAGRAPH = CLAUSE_PARAGRAPH;

/**
 * clause_type_from_codepoint(): code point -> clause type, for every code point whose
 * espeak-ng properties give one (ucd-tools proplist.c). Unlisted code points are
 * CLAUSE_NONE. U+0EAF and U+2029 end clauses in the wasm build but are missing from the
 * proplist.c revision read; they are typed here as the ellipsis and paragraph separator
 * they are. Marks with both the ? and ! properties (⁈ ⁉) have no clause type.
 */
const CLAUSE_TYPES = new Map<number, number>([
  [0x21, EXCLAMATION],
  [0x2c, COMMA],
  [0x2e, PERIOD],
  [0x3a, COLON],
  [0x3b, SEMICOLON],
  [0x3f, QUESTION],
  [0xa1, INVERTED], // ¡
  [0xbf, INVERTED], // ¿
  [0x37e, QUESTION], // Greek question mark
  [0x387, SEMICOLON], // Greek ano teleia
  [0x55b, EXCLAMATION | CLAUSE_PUNCTUATION_IN_WORD], // Armenian emphasis
  [0x55c, EXCLAMATION | CLAUSE_PUNCTUATION_IN_WORD],
  [0x55d, COMMA],
  [0x55e, QUESTION | CLAUSE_PUNCTUATION_IN_WORD],
  [0x589, PERIOD_NO_SPACE], // Armenian full stop
  [0x60c, COMMA], // Arabic comma
  [0x61b, SEMICOLON],
  [0x61f, QUESTION],
  [0x6d4, PERIOD],
  [0x700, PARAGRAPH], // Syriac
  [0x701, PERIOD],
  [0x702, COMMA],
  [0x703, EXCLAMATION],
  [0x704, PERIOD],
  [0x706, COLON],
  [0x707, COLON],
  [0x708, SEMICOLON],
  [0x709, QUESTION],
  [0x7f8, COMMA], // N'Ko
  [0x7f9, EXCLAMATION],
  [0x964, PERIOD_NO_SPACE], // Devanagari danda
  [0x965, PARAGRAPH], // double danda
  [0xdf4, PERIOD_NO_SPACE], // Sinhala
  [0xeaf, ELLIPSIS], // Lao ellipsis
  [0xf0d, PERIOD_NO_SPACE], // Tibetan shad
  [0xf0e, PARAGRAPH],
  [0xf14, COMMA],
  [0x10fb, PARAGRAPH], // Georgian
  [0x1362, PERIOD], // Ethiopic
  [0x1363, COMMA],
  [0x1364, SEMICOLON],
  [0x1365, COLON],
  [0x1366, COLON],
  [0x1367, QUESTION],
  [0x1368, PARAGRAPH],
  [0x166e, PERIOD], // Canadian syllabics
  [0x1801, ELLIPSIS], // Mongolian
  [0x1802, COMMA],
  [0x1803, PERIOD],
  [0x1804, COLON],
  [0x1808, COMMA],
  [0x1809, PERIOD],
  [0x1944, EXCLAMATION], // Limbu
  [0x1945, QUESTION],
  [0x2013, SEMICOLON], // en dash
  [0x2014, SEMICOLON], // em dash
  [0x2026, ELLIPSIS],
  [0x2029, PARAGRAPH], // paragraph separator
  [0x203c, EXCLAMATION], // ‼
  [0x2047, QUESTION], // ⁇
  [0x204f, SEMICOLON],
  [0x22ee, ELLIPSIS],
  [0x22ef, ELLIPSIS],
  [0x22f0, ELLIPSIS],
  [0x22f1, ELLIPSIS],
  [0x2753, QUESTION],
  [0x2754, QUESTION],
  [0x2755, EXCLAMATION],
  [0x2757, EXCLAMATION],
  [0x2762, EXCLAMATION],
  [0x2763, EXCLAMATION],
  [0x2982, COLON],
  [0x2cf9, PERIOD], // Coptic
  [0x2cfa, QUESTION],
  [0x2cfb, QUESTION],
  [0x2cfe, PERIOD],
  [0x2e32, COMMA],
  [0x2e33, PERIOD],
  [0x2e34, COMMA],
  [0x2e35, SEMICOLON],
  [0x2e3a, SEMICOLON], // two- and three-em dash
  [0x2e3b, SEMICOLON],
  [0x2e3c, PERIOD],
  [0x2e41, COMMA],
  [0x3001, COMMA | CLAUSE_OPTIONAL_SPACE_AFTER], // 、
  [0x3002, PERIOD_NO_SPACE], // 。
  [0xa4fe, COMMA], // Lisu
  [0xa4ff, PERIOD],
  [0xa60d, COMMA], // Vai
  [0xa60e, PERIOD],
  [0xa60f, QUESTION],
  [0xa6f3, PERIOD], // Bamum
  [0xa6f4, COLON],
  [0xa6f5, COMMA],
  [0xa6f6, SEMICOLON],
  [0xa6f7, QUESTION],
  [0xfe10, COMMA], // vertical forms
  [0xfe11, COMMA],
  [0xfe12, PERIOD],
  [0xfe13, COLON],
  [0xfe14, SEMICOLON],
  [0xfe15, EXCLAMATION],
  [0xfe16, QUESTION],
  [0xfe19, ELLIPSIS],
  [0xfe31, SEMICOLON],
  [0xfe32, SEMICOLON],
  [0xfe50, COMMA], // small forms
  [0xfe51, COMMA],
  [0xfe52, PERIOD],
  [0xfe54, SEMICOLON],
  [0xfe55, COLON],
  [0xfe56, QUESTION],
  [0xfe57, EXCLAMATION],
  [0xff01, EXCLAMATION | CLAUSE_OPTIONAL_SPACE_AFTER], // fullwidth
  [0xff0c, COMMA | CLAUSE_OPTIONAL_SPACE_AFTER],
  [0xff0e, PERIOD_NO_SPACE],
  [0xff1a, COLON | CLAUSE_OPTIONAL_SPACE_AFTER],
  [0xff1b, SEMICOLON | CLAUSE_OPTIONAL_SPACE_AFTER],
  [0xff1f, QUESTION | CLAUSE_OPTIONAL_SPACE_AFTER],
  [0xff61, PERIOD], // halfwidth
  [0xff64, COMMA],
  [0x11143, QUESTION], // Chakma
  [0x1144d, COMMA], // Newa
  [0x12471, COLON], // Cuneiform
  [0x12472, COLON],
  [0x16af5, PERIOD], // Bassa Vah
  [0x1bc9f, PERIOD], // Duployan
  [0x1da87, COMMA], // Sutton SignWriting
  [0x1da88, PERIOD],
  [0x1da89, SEMICOLON],
  [0x1da8a, COLON],
  [0x1e95e, EXCLAMATION], // Adlam
  [0x1e95f, QUESTION],
  [0x1f100, PERIOD], // digit zero full stop
  [0xe002e, PERIOD], // tag full stop
]);
for (let c = 0x2488; c <= 0x249b; c++) CLAUSE_TYPES.set(c, PERIOD); // ⒈ .. ⒛
for (let c = 0x1f101; c <= 0x1f10a; c++) CLAUSE_TYPES.set(c, COMMA); // 🄁 .. 🄊

export function clauseType(c: number): number {
  return CLAUSE_TYPES.get(c) ?? CLAUSE_NONE;
}

/** What Piper's bridge makes of a clause type: `terminator &= 0x000FFFFF`, then exact matches. */
export function piperTerminator(espeakClauseType: number): {
  terminator: ClauseTerminator;
  endsSentence: boolean;
} {
  const type = espeakClauseType & 0x000fffff;
  let terminator: ClauseTerminator = '';
  if (type === CLAUSE_PERIOD) terminator = '.';
  else if (type === CLAUSE_QUESTION) terminator = '?';
  else if (type === CLAUSE_EXCLAMATION) terminator = '!';
  else if (type === CLAUSE_COMMA) terminator = ',';
  else if (type === CLAUSE_COLON) terminator = ':';
  else if (type === CLAUSE_SEMICOLON) terminator = ';';
  return { terminator, endsSentence: (type & CLAUSE_TYPE_SENTENCE) === CLAUSE_TYPE_SENTENCE };
}

// Character classes. The wasm build classifies with musl's wide-character functions,
// Piper's espeak-ng with ucd-tools; both follow Unicode and agree on what matters here.
const SPACES = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
  0x2006, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x205f, 0x3000,
]);
const BRACKETS = new Set([
  0x28, 0x29, 0x5b, 0x5d, 0x7b, 0x7d, 0x3c, 0x3e, 0x22, 0x27, 0x60, 0xab, 0xbb, 0x300a, 0x300b,
  0xe03c,
]);
/** tr->chars_ignore of the default translator: soft hyphen and zero-width non-joiner. */
export const IGNORED = new Set([0xad, 0x200c]);
const ALPHABETIC = /[\p{Alphabetic}]/u;
const ALPHA_OR_MARK = /[\p{Alphabetic}\p{M}]/u;

export const isSpace = (c: number): boolean => SPACES.has(c);
export const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
export const isBracket = (c: number): boolean => (c >= 0x2014 && c <= 0x201f) || BRACKETS.has(c);
export const isRomanUpper = (c: number): boolean =>
  c === 0x49 || c === 0x56 || c === 0x58 || c === 0x4c;

export function isAlnum(c: number): boolean {
  if (c < 0x80) return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a);
  return ALPHABETIC.test(String.fromCodePoint(c));
}

/** espeak-ng's IsAlpha(): letters plus combining marks and a few script ranges. */
export function isAlpha(c: number): boolean {
  if (c < 0x80) return (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
  return ALPHA_OR_MARK.test(String.fromCodePoint(c)) || (c > 0x3040 && c <= 0xa700);
}

/** musl's iswlower(): the character has an upper-case form. */
export function isLower(c: number): boolean {
  if (c < 0x80) return c >= 0x61 && c <= 0x7a;
  if (c === 0xdf) return true;
  const s = String.fromCodePoint(c);
  return s.toUpperCase() !== s;
}

export function utf8Length(c: number): number {
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c < 0x10000) return 3;
  return 4;
}
