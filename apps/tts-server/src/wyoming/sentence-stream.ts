/**
 * Streaming input (`synthesize-chunk`s, as an LLM's answer arrives) cut into pieces to
 * speak: a sentence is handed out as soon as the text received so far shows that it
 * is complete, by the same clause reader the engine splits sentences with
 * (@app/piper splitClauses, espeak-ng's rules). A sentence counts as complete only once
 * some text of the next one has arrived: whether "Mr." or "3." ends a sentence depends
 * on the character after it. Pieces are at most `maxLength` characters (MAX_TEXT_LENGTH),
 * cut at a clause end, else a space, so a run-on text without punctuation is still
 * spoken as it comes and never refused as too long.
 */
import { splitClauses } from '@app/piper';

export class SentenceStream {
  private pending = '';

  constructor(private readonly maxLength: number) {}

  /** Adds a chunk; returns the pieces it completes, in order. */
  add(chunk: string): string[] {
    this.pending += chunk;
    const clauses = splitClauses(this.pending);
    let completeLength = 0;
    let length = 0;
    // The last clause may still grow: only sentences before it are complete.
    for (const clause of clauses.slice(0, -1)) {
      length += clause.text.length;
      if (clause.endsSentence) completeLength = length;
    }
    const complete = this.pending.slice(0, completeLength);
    this.pending = this.pending.slice(completeLength);
    const pieces = complete ? boundedPieces(complete, this.maxLength) : [];
    // A run-on text: speak what is beyond the bound now, keep the rest growing.
    if ([...this.pending].length > this.maxLength) {
      const parts = boundedPieces(this.pending, this.maxLength);
      this.pending = parts.pop() ?? '';
      pieces.push(...parts);
    }
    return pieces.filter((piece) => piece.trim() !== '');
  }

  /** What is left at the end of the stream (synthesize-stop), in bounded pieces. */
  finish(): string[] {
    const rest = this.pending;
    this.pending = '';
    return boundedPieces(rest, this.maxLength).filter((piece) => piece.trim() !== '');
  }
}

/**
 * `text` in pieces of at most `maxLength` code points, each cut after the last clause
 * that fits, else after the last whitespace, else at the bound.
 */
export function boundedPieces(text: string, maxLength: number): string[] {
  const pieces: string[] = [];
  let rest = text;
  while ([...rest].length > maxLength) {
    const limit = utf16Offset(rest, maxLength);
    let cut = 0;
    let length = 0;
    for (const clause of splitClauses(rest)) {
      if (length + clause.text.length > limit) break;
      length += clause.text.length;
      cut = length;
    }
    if (cut === 0) {
      const space = rest.slice(0, limit + 1).search(/\s\S*$/);
      cut = space > 0 ? space + 1 : limit;
    }
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  pieces.push(rest);
  return pieces;
}

/** The UTF-16 offset of the `codePoints`-th code point (never inside a surrogate pair). */
function utf16Offset(text: string, codePoints: number): number {
  let offset = 0;
  let count = 0;
  for (const character of text) {
    if (count === codePoints) break;
    offset += character.length;
    count++;
  }
  return offset;
}
