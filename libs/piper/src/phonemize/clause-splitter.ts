/**
 * Where espeak-ng ends a clause, and with which punctuation.
 *
 * Piper reads espeak-ng clause by clause through `espeak_TextToPhonemesWithTerminator`
 * and keeps each clause's terminator (docs/PIPER.md §3 rules 2, 4, 6).
 * Our espeak-ng build (wasm) only returns the clauses' phonemes joined by " | ", so the
 * terminators are recovered here by replaying espeak-ng's own clause reader,
 * `ReadClause()` in src/libespeak-ng/readclause.c, over the same text: the same
 * character-by-character state machine, the same look-ahead and push-back (`GetC`,
 * `UngetC`), the same end-of-text handling. The result is the list of clauses espeak-ng
 * would produce, each with the terminator Piper's bridge (piper1-gpl espeakbridge.c)
 * would derive from espeak-ng's clause type.
 *
 * What is replayed (the paths reachable from `espeak_TextToPhonemes` with plain text,
 * no SSML, no punctuation announcing, espeakCHARS_AUTO):
 *  - the punctuation table (`clause_type_from_codepoint()` over ucd-tools' espeak-ng
 *    properties): ASCII `. , ? ! : ;`, inverted `¡ ¿`, en/em dash, ellipsis `…` and the
 *    Unicode ones (Greek, Armenian, Arabic, Syriac, N'Ko, Devanagari danda, Tibetan,
 *    Ethiopic, Mongolian, CJK and fullwidth/vertical forms, ...). The set was checked
 *    against the wasm build by splitting "hello<c> World" for every code point;
 *  - punctuation ends a clause only when followed by whitespace, a bracket or quote
 *    (`IsBracket`: ( ) [ ] { } < > " ' ` « » 《 》 and U+2014..U+201F), '?' , end of
 *    text, or when the mark needs no space after it (CJK `。`, danda ...);
 *  - a run of ? and ! (and any punctuation right after one of them) counts as the
 *    first mark;
 *  - two or more dots become an ellipsis (three or more) or a single dot (two);
 *  - "." does not end a clause when the next word starts lower case (abbreviation),
 *    when no letter or digit came before it in the clause (the dot is then dropped),
 *    or before `'s` (u.s.a.'s); other marks need a letter or digit before them too;
 *  - "3.14", "1,000", "a.m" do not split: the mark is not followed by a space;
 *  - a blank line ends a sentence with no terminator (paragraph), and so does a mark
 *    followed by two or more newlines (`?` and `!` keep their sentence type but lose
 *    their terminator);
 *  - clauses longer than espeak-ng's 800-byte source buffer are cut at the first
 *    non-alphanumeric character after 725 UTF-8 bytes (or hard at 796) with no
 *    terminator and no sentence end;
 *  - the text decoder: espeak-ng decodes the C string with its terminating NUL, so its
 *    end-of-text tests fire one character late (the replay reads the NUL too); the text
 *    ends when the decoder does, even with a character still pushed back (EspeakNg
 *    clears that one before the next text); and in espeakCHARS_AUTO mode a U+FFFD
 *    switches the decoder to 8-bit (ISO-8859-1) for the rest of that clause, so U+FFFD
 *    reads as "ï¿½" and its "¿" ends a clause, as it does for Piper;
 *  - ignored characters (soft hyphen U+00AD, ZWNJ U+200C), Tibetan tsheg as space,
 *    Armenian in-word marks (emphasis, no clause end);
 *  - language options that change clause ends, passed in `ClauseSplitOptions`:
 *    ordinal dots (de, hu, ...: "3." before lower case or "-", Roman numerals),
 *    `lowercaseSentence` (ka, quc) and whether the 8-bit code page is ISO-8859-1.
 *
 * The replay follows readclause.c as of 2024-2025 (the version both the wasm build and
 * piper1-gpl's pinned espeak-ng have: `'s` looked at with `text_decoder_peekc`, the
 * `lowercase_sentence` option, `?!` runs).
 *
 * Left out: SSML and embedded commands (`\x01...`, removed before espeak-ng sees the
 * text), announced punctuation and the ellipsis name some languages speak (they only
 * shift where an over-long clause is cut), Lojban's "i" sentence rule, per-language
 * character replacements, and the exact characters of 8-bit code pages other than
 * ISO-8859-1 after a U+FFFD.
 * Where this replay and espeak-ng still disagree, the phonemizer notices (clause counts
 * differ) and falls back to phonemizing clause by clause.
 */

/** Punctuation Piper appends to a clause's phonemes (docs/PIPER.md §3 rule 4). */
export type ClauseTerminator = '' | '.' | ',' | '?' | '!' | ':' | ';';

export interface Clause {
  /** The source text espeak-ng reads for this clause, from its first character to the next clause. */
  text: string;
  terminator: ClauseTerminator;
  /** espeak-ng marks the clause as ending a sentence (CLAUSE_TYPE_SENTENCE). */
  endsSentence: boolean;
}

/** Language options of espeak-ng's translator that change where clauses end. */
export interface ClauseSplitOptions {
  /** langopts NUM_ORDINAL_DOT: a dot after a number is an ordinal (de, hu, fi, ...). */
  ordinalDot?: boolean;
  /** langopts lowercase_sentence: a dot ends a sentence even before a lower-case word. */
  lowercaseSentence?: boolean;
  /**
   * The language's 8-bit code page (used after a U+FFFD) is ISO-8859-1, where byte 0xBF
   * is "¿" (default true). For other code pages (ISO-8859-2 for hu, cs, pl ...; KOI8-R
   * for ru ...) the bytes are read as lower-case letters, which most of them are.
   */
  latin1CodePage?: boolean;
}

// Clause types, as espeak-ng's translate.h defines them.
const CLAUSE_INTONATION_COMMA = 0x1000;
const CLAUSE_INTONATION_QUESTION = 0x2000;
const CLAUSE_INTONATION_EXCLAMATION = 0x3000;
const CLAUSE_INTONATION_NONE = 0x4000;
const CLAUSE_OPTIONAL_SPACE_AFTER = 0x8000;
const CLAUSE_TYPE_EOF = 0x10000;
const CLAUSE_TYPE_CLAUSE = 0x40000;
const CLAUSE_TYPE_SENTENCE = 0x80000;
const CLAUSE_PUNCTUATION_IN_WORD = 0x100000;
const CLAUSE_SPEAK_PUNCTUATION_NAME = 0x200000;

const CLAUSE_NONE = CLAUSE_INTONATION_NONE;
const CLAUSE_PARAGRAPH = 70 | CLAUSE_TYPE_SENTENCE;
const CLAUSE_EOF = 40 | CLAUSE_TYPE_SENTENCE | CLAUSE_TYPE_EOF;
const CLAUSE_PERIOD = 40 | CLAUSE_TYPE_SENTENCE;
const CLAUSE_COMMA = 20 | CLAUSE_INTONATION_COMMA | CLAUSE_TYPE_CLAUSE;
const CLAUSE_QUESTION = 40 | CLAUSE_INTONATION_QUESTION | CLAUSE_TYPE_SENTENCE;
const CLAUSE_EXCLAMATION = 45 | CLAUSE_INTONATION_EXCLAMATION | CLAUSE_TYPE_SENTENCE;
const CLAUSE_COLON = 30 | CLAUSE_TYPE_CLAUSE;
const CLAUSE_SEMICOLON = 30 | CLAUSE_INTONATION_COMMA | CLAUSE_TYPE_CLAUSE;
const CLAUSE_ELLIPSIS =
  CLAUSE_SEMICOLON | CLAUSE_SPEAK_PUNCTUATION_NAME | CLAUSE_OPTIONAL_SPACE_AFTER;

/** espeak-ng's source buffer for one clause (N_TR_SOURCE), in UTF-8 bytes. */
const CLAUSE_BUFFER_BYTES = 800;

const CHAR_EMPHASIS = 0x530;

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

function clauseType(c: number): number {
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
const IGNORED = new Set([0xad, 0x200c]);
const ALPHABETIC = /[\p{Alphabetic}]/u;
const ALPHA_OR_MARK = /[\p{Alphabetic}\p{M}]/u;

const isSpace = (c: number): boolean => SPACES.has(c);
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isBracket = (c: number): boolean => (c >= 0x2014 && c <= 0x201f) || BRACKETS.has(c);
const isRomanUpper = (c: number): boolean => c === 0x49 || c === 0x56 || c === 0x58 || c === 0x4c;

function isAlnum(c: number): boolean {
  if (c < 0x80) return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a);
  return ALPHABETIC.test(String.fromCodePoint(c));
}

/** espeak-ng's IsAlpha(): letters plus combining marks and a few script ranges. */
function isAlpha(c: number): boolean {
  if (c < 0x80) return (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
  return ALPHA_OR_MARK.test(String.fromCodePoint(c)) || (c > 0x3040 && c <= 0xa700);
}

/** musl's iswlower(): the character has an upper-case form. */
function isLower(c: number): boolean {
  if (c < 0x80) return c >= 0x61 && c <= 0x7a;
  if (c === 0xdf) return true;
  const s = String.fromCodePoint(c);
  return s.toUpperCase() !== s;
}

function utf8Length(c: number): number {
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c < 0x10000) return 3;
  return 4;
}

/** A character read from the text and the byte offset where it starts. */
interface Char {
  c: number;
  at: number;
}

/**
 * espeak-ng's text decoder in espeakCHARS_AUTO mode over the UTF-8 bytes of the text
 * plus the terminating NUL, with ReadClause's one-character push-back.
 */
class ClauseReader {
  private pos = 0;
  private autoMode = true;
  private ungot: Char | undefined;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: ClauseSplitOptions,
  ) {}

  /** Where the next clause starts (the pushed-back character, if any). */
  get clauseStart(): number {
    return this.ungot?.at ?? this.pos;
  }

  /** text_decoder_get_buffer() is NULL: espeak_TextToPhonemes reports the end of the text. */
  get finished(): boolean {
    return this.pos >= this.bytes.length;
  }

  private eof(): boolean {
    return this.ungot === undefined && this.pos >= this.bytes.length;
  }

  private getC(): Char {
    if (this.ungot) {
      const ch = this.ungot;
      this.ungot = undefined;
      return ch;
    }
    const at = this.pos;
    if (at >= this.bytes.length) return { c: 0, at };
    return { c: this.decode(), at };
  }

  private ungetC(ch: Char): void {
    // UngetC(0) clears the push-back: 0 means "nothing" to espeak-ng.
    this.ungot = ch.c === 0 ? undefined : ch;
  }

  /** string_decoder_getc_auto(): UTF-8 until the first invalid sequence, then 8-bit. */
  private decode(): number {
    const bytes = this.bytes;
    const start = this.pos;
    const lead = bytes[this.pos++];
    if (lead < 0x80) return lead;
    if (!this.autoMode) return this.eightBit(lead);
    let c = 0xfffd;
    const tails = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : -1;
    if (tails > 0 && start + tails < bytes.length) {
      c = lead & (tails === 1 ? 0x1f : 0x0f);
      for (let i = 1; i <= tails; i++) {
        const tail = bytes[start + i];
        if ((tail & 0xc0) !== 0x80) {
          c = 0xfffd;
          break;
        }
        c = (c << 6) | (tail & 0x3f);
      }
      if (c > 0x10ffff) c = 0xfffd;
    }
    if (c !== 0xfffd) {
      this.pos = start + tails + 1;
      return c;
    }
    // U+FFFD (genuine or from a bad sequence): re-read this byte and the rest of the
    // clause as ISO-8859-1, as espeak-ng does.
    this.autoMode = false;
    this.pos = start + 1;
    return this.eightBit(lead);
  }

  private eightBit(byte: number): number {
    return this.options.latin1CodePage === false ? 0xe0 : byte;
  }

  /** text_decoder_peekc(): the next character in the decoder, not consumed (push-back ignored). */
  private peekC(): number {
    if (this.pos >= this.bytes.length) return 0;
    const pos = this.pos;
    const c = this.decode(); // as in espeak-ng, a U+FFFD seen here still switches to 8-bit
    this.pos = pos;
    return c;
  }

  /** One ReadClause() call: consumes a clause and returns espeak-ng's clause type for it. */
  readClause(): number {
    // Each espeak_TextToPhonemes call decodes its text afresh, in auto mode.
    this.autoMode = true;
    const { ordinalDot = false, lowercaseSentence = false } = this.options;
    const space = (at: number): Char => ({ c: 0x20, at });
    const end = this.bytes.length;

    let c1 = space(-1);
    let cprev = c1;
    let cprev2: Char;
    let next: Char = { c: 0, at: end };
    let c2 = this.eof() ? next : this.getC();
    let anyAlnum = false;
    let stressedWord = false;
    let bufferBytes = 0;

    while (!this.eof() || this.ungot !== undefined) {
      cprev2 = cprev;
      cprev = c1;
      c1 = c2;
      c2 = this.eof() ? space(end) : this.getC();

      if (IGNORED.has(c1.c)) continue;

      if (isAlnum(c1.c)) {
        anyAlnum = true;
      } else {
        if (stressedWord) {
          stressedWord = false;
          c1 = { c: CHAR_EMPHASIS, at: c1.at };
          this.ungetC(c2);
          c2 = space(c2.at);
        }
        if (c1.c === 0xf0b) c1 = space(c1.at); // Tibetan intersyllabic tsheg
        if (c1.c === 0xd4d && c2.c === 0x200d) c1 = { c: 0xd4e, at: c1.at }; // Malayalam chillu
      }

      if (c1.c === 0x0a) {
        // A blank line (newline, optional spaces, newline) is a paragraph.
        let newlines = 0;
        while (!this.eof() && isSpace(c2.c)) {
          if (c2.c === 0x0a) newlines++;
          c2 = this.getC();
        }
        if (newlines > 0) {
          this.ungetC(c2);
          return CLAUSE_PARAGRAPH - 30 + 30 * Math.min(newlines, 3);
        }
      }

      let isEndClause = false;
      if (c1.c === 0x2e && c2.c === 0x2e) {
        while (!this.eof() && (next = this.getC()).c === 0x2e) {
          c1 = { c: 0x2026, at: c1.at }; // three or more dots: an ellipsis
          c2 = space(next.at);
        }
        if (c1.c === 0x2026) c2 = next;
        else this.ungetC(next);
      }

      const punct = clauseType(c1.c);
      if (punct !== CLAUSE_NONE) {
        // Marks right after a mark (?!, ?!?, !!!, ".,") belong to the first one. (This is
        // also why espeak-ng's Hungarian rule for "2., " never applies: the comma goes here.)
        if (punct & (CLAUSE_QUESTION | CLAUSE_EXCLAMATION)) {
          while (!this.eof() && clauseType(c2.c) & (CLAUSE_QUESTION | CLAUSE_EXCLAMATION)) {
            next = this.getC();
            c2 = next;
          }
        }
        if (punct & CLAUSE_PUNCTUATION_IN_WORD) {
          stressedWord = true;
          continue;
        }
        if (
          isSpace(c2.c) ||
          punct & CLAUSE_OPTIONAL_SPACE_AFTER ||
          isBracket(c2.c) ||
          c2.c === 0x3f ||
          this.eof() ||
          c2.c === 0x01
        ) {
          isEndClause = true;
        }
      }

      if (isEndClause) {
        let newlines = 0;
        next = c2;
        while (isSpace(next.c) && !this.eof()) {
          if (next.c === 0x0a) newlines++;
          next = this.getC();
        }
        if (newlines === 0) {
          if (c1.c === 0x2e && next.c === 0x27 && this.peekC() === 0x73) {
            isEndClause = false; // u.s.a.'s
          }
          if (c1.c === 0x2e) {
            if (
              ordinalDot &&
              (isDigit(cprev.c) ||
                (isRomanUpper(cprev.c) && (isRomanUpper(cprev2.c) || isSpace(cprev2.c))))
            ) {
              if (!isDigit(cprev.c)) isEndClause = false;
              else if (isLower(next.c) || next.c === 0x2d) isEndClause = false;
            }
            if (isLower(next.c) && !lowercaseSentence) isEndClause = false;
            if (!anyAlnum) {
              c1 = space(c1.at);
              isEndClause = false;
            }
          } else if (!anyAlnum) {
            isEndClause = false;
          }
        }

        if (isEndClause) {
          this.ungetC(next);
          if (newlines > 1) {
            if (punct === CLAUSE_QUESTION || punct === CLAUSE_EXCLAMATION) return punct + 35;
            return CLAUSE_PARAGRAPH;
          }
          return punct;
        } else if (!this.eof() && isSpace(c2.c)) {
          this.ungetC(next);
        }
      }

      bufferBytes += utf8Length(c1.c);
      if (
        (bufferBytes > CLAUSE_BUFFER_BYTES - 75 && !isAlpha(c1.c) && !isDigit(c1.c)) ||
        bufferBytes >= CLAUSE_BUFFER_BYTES - 4
      ) {
        this.ungetC(c2);
        return CLAUSE_NONE;
      }
    }
    return CLAUSE_EOF;
  }
}

/**
 * Splits text into the clauses espeak-ng reads, in order, with the terminator and
 * sentence end Piper derives for each. The text should already be what espeak-ng is
 * given (see `sanitizeForEspeak`): control characters are not interpreted here.
 * Concatenating the clauses' text gives back the input. An empty text is one empty
 * clause, as espeak-ng reports it.
 */
export function splitClauses(text: string, options: ClauseSplitOptions = {}): Clause[] {
  const utf8 = Buffer.from(text, 'utf8');
  const bytes = new Uint8Array(utf8.length + 1); // + the C string's NUL
  bytes.set(utf8);

  // UTF-16 index of the character each byte belongs to, to cut the text at clause ends.
  const utf16At = new Uint32Array(bytes.length + 1);
  let byte = 0;
  for (let i = 0; i < text.length;) {
    const cp = text.codePointAt(i) ?? 0;
    const units = cp > 0xffff ? 2 : 1;
    const length = utf8Length(cp);
    utf16At.fill(i, byte, byte + length);
    byte += length;
    i += units;
  }
  utf16At.fill(text.length, byte);

  const reader = new ClauseReader(bytes, options);
  const clauses: Clause[] = [];
  for (;;) {
    const start = reader.clauseStart;
    const type = reader.readClause();
    const end = reader.finished ? utf8.length : reader.clauseStart;
    clauses.push({
      text: text.slice(utf16At[start], utf16At[end]),
      ...piperTerminator(type),
    });
    if (reader.finished) return clauses;
  }
}
