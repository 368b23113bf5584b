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
import {
  CLAUSE_OPTIONAL_SPACE_AFTER,
  CLAUSE_PUNCTUATION_IN_WORD,
  CLAUSE_NONE,
  CLAUSE_PARAGRAPH,
  CLAUSE_EOF,
  CLAUSE_QUESTION,
  CLAUSE_EXCLAMATION,
  CLAUSE_BUFFER_BYTES,
  CHAR_EMPHASIS,
  clauseType,
  IGNORED,
  isSpace,
  isDigit,
  isBracket,
  isRomanUpper,
  isAlnum,
  isAlpha,
  isLower,
  utf8Length,
  piperTerminator,
  type ClauseTerminator,
} from './clause-punctuation';

/** Punctuation Piper appends to a clause's phonemes (docs/PIPER.md §3 rule 4). */
export type { ClauseTerminator } from './clause-punctuation';

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
