/**
 * A streamed input (`synthesize-start` … `synthesize-stop`) as pieces to speak, text or
 * SSML. Text is spoken sentence by sentence as the chunks complete it (SentenceStream).
 * An SSML document cannot be cut like that: a sentence may sit inside a `<prosody>` or
 * `<voice>` opened chunks before, and a `<mark>`, `<break>` or `</speak>` may come in
 * any chunk, so its chunks are kept until synthesize-stop and the whole document is
 * spoken then, exactly as one `synthesize` of it (the same audio, byte for byte). The
 * stream is SSML when synthesize-start says `text_format: "ssml"`, or when its text
 * starts with `<speak` (as `synthesize` decides it); the markup kept is bounded by
 * MAX_SSML_LENGTH (SsmlTooLargeError beyond, at once).
 */
import { looksLikeSsml, SsmlTooLargeError } from '@app/ssml';
import { SentenceStream } from './sentence-stream';

export interface InputPiece {
  text: string;
  ssml: boolean;
}

export class StreamedInput {
  private readonly sentences: SentenceStream;
  /** Text received while it is not yet known whether it is SSML, or the SSML kept. */
  private held = '';

  constructor(
    maxTextLength: number,
    private readonly maxSsmlLength: number,
    /** True: declared SSML; undefined: decided by the text's start. */
    private ssml: boolean | undefined,
  ) {
    this.sentences = new SentenceStream(maxTextLength);
  }

  /** Adds a chunk; returns the pieces it completes (never any of SSML before the end). */
  add(chunk: string): InputPiece[] {
    if (this.ssml === false) return this.text(this.sentences.add(chunk));
    this.held += chunk;
    if (this.ssml === undefined) {
      this.ssml = decide(this.held);
      if (this.ssml === false) {
        const held = this.held;
        this.held = '';
        return this.text(this.sentences.add(held));
      }
    }
    if (this.held.length > this.maxSsmlLength) {
      throw new SsmlTooLargeError(
        `the markup streamed so far is ${this.held.length} characters long; the limit is ${this.maxSsmlLength}`,
      );
    }
    return [];
  }

  /** What is left at synthesize-stop: the rest of the text, or the whole document. */
  finish(): InputPiece[] {
    if (this.ssml === false) return this.text(this.sentences.finish());
    const held = this.held;
    this.held = '';
    if (this.ssml === true) return held.trim() === '' ? [] : [{ text: held, ssml: true }];
    // Never decided: too little arrived to look like a document, so it is text.
    this.ssml = false;
    this.sentences.add(held);
    return this.text(this.sentences.finish());
  }

  private text(pieces: string[]): InputPiece[] {
    return pieces.map((text) => ({ text, ssml: false }));
  }
}

/** SSML, text, or undefined while the start could still become `<speak` (or `<?xml …?><speak`). */
function decide(held: string): boolean | undefined {
  const start = held.trimStart();
  if (looksLikeSsml(start)) return true;
  const declaration = /^<\?xml[^>]*\?>\s*/.exec(start);
  if (declaration) {
    return '<speak'.startsWith(start.slice(declaration[0].length)) ? undefined : false;
  }
  // An unfinished declaration, or the start of one or of <speak.
  if (start.startsWith('<?xml')) return undefined;
  return '<speak'.startsWith(start) || '<?xml'.startsWith(start) ? undefined : false;
}
