/**
 * SSML to a list of segments, each mapped onto what Piper controls: speech (text and
 * raw `[[ ]]` phonemes, docs/PIPER.md §3) with a voice, a factor on `length_scale` and
 * one on the volume; exact pauses; marks. The server synthesizes each speech segment as
 * one request and joins the audio with the pauses.
 *
 * Safety is the parser's first job, since the markup comes from clients: saxes (a
 * streaming, non-validating parser) never expands entities beyond XML's five and
 * numeric references, and this parser refuses a DOCTYPE (so no entity declaration,
 * internal or external, is ever read) and processing instructions; it stops at the
 * first element past `maxElements` or nested deeper than `maxDepth`, before any more
 * input is read. The markup's length is bounded before parsing starts. Every refusal
 * names the line and column.
 *
 * Segments are as few as the markup allows: text keeps one segment while its voice,
 * rate and volume stay the same, across `<s>`, `<sub>`, `<say-as>` and `<phoneme>`, so
 * plain prose in SSML costs what the same plain text costs. A `<s>` that does not end
 * in a sentence terminator starts a new segment, so that it is a sentence of its own.
 */
import {
  SSML_LIMITS,
  type SsmlParseOptions,
  type SsmlVoiceChoice,
  type SsmlPiece,
  type SsmlSpeech,
  type SsmlSegment,
  type SsmlMark,
  type SsmlDocument,
} from './ssml-document';
import { SaxesParser, type SaxesTagPlain } from 'saxes';
import { isSayAsFormat, isSayAsKind, sayAsText, type SayAsKind } from './say-as';
import {
  SsmlSyntaxError,
  SsmlTooLargeError,
  SsmlUnsupportedError,
  type SsmlPosition,
} from './ssml-errors';
import {
  BREAK_STRENGTH_SECONDS,
  PARAGRAPH_PAUSE_SECONDS,
  parseEmphasis,
  parseRate,
  parseTime,
  parseVolume,
} from './ssml-values';

export function looksLikeSsml(text: string): boolean {
  return /^\s*(<\?xml[^>]*\?>\s*)?<speak[\s>/]/.test(text);
}

/** A `[[ ]]` block ends at the first "]]" and may not span lines (docs/PIPER.md §3 rule 1). */
const UNSAFE_PHONEMES = /\]\]|\[\[|[\n\r\u2028\u2029]/;
/** Text with something to say; punctuation and blanks alone are not spoken on their own. */
const SPEAKABLE = /[\p{L}\p{N}]/u;
/** A sentence terminator, possibly followed by closing quotes or brackets. */
const ENDS_SENTENCE = /[.!?。！？…]["'”’)\]]*\s*$/;

type Mode = 'speak' | 'ignore' | 'say-as' | 'replaced';

interface Frame {
  name: string;
  mode: Mode;
  voice?: SsmlVoiceChoice;
  lengthScaleFactor: number;
  volumeFactor: number;
  sayAs?: { interpretAs: SayAsKind; format?: string; text: string; at: SsmlPosition };
}

/** Elements whose content is never spoken and that need no warning. */
const SILENT_ELEMENTS = new Set(['meta', 'metadata', 'desc']);

/** Parses `markup`; throws SsmlSyntaxError, SsmlTooLargeError or SsmlUnsupportedError. */
export function parseSsml(markup: string, options: SsmlParseOptions): SsmlDocument {
  if (markup.length > options.maxMarkupLength) {
    throw new SsmlTooLargeError(
      `the markup is ${markup.length} characters long; the limit is ${options.maxMarkupLength}`,
    );
  }
  return new DocumentBuilder(options).parse(markup);
}

/** Renders a speech segment as the text Piper speaks, say-as shaped for `espeakVoice`. */
export function speechText(speech: SsmlSpeech, espeakVoice: string): string {
  return pieceTexts(speech, espeakVoice).join('');
}

/** Where `mark` is in speechText(speech, espeakVoice), in UTF-16 code units. */
export function speechTextOffset(
  speech: SsmlSpeech,
  espeakVoice: string,
  mark: Pick<SsmlMark, 'pieceIndex' | 'pieceOffset'>,
): number {
  const before = pieceTexts(speech, espeakVoice).slice(0, mark.pieceIndex);
  return before.reduce((length, text) => length + text.length, 0) + mark.pieceOffset;
}

function pieceTexts(speech: SsmlSpeech, espeakVoice: string): string[] {
  return speech.pieces.map((piece) => {
    switch (piece.kind) {
      case 'text':
        return piece.text;
      case 'phonemes':
        return `[[${piece.phonemes}]]`;
      case 'say-as':
        // Checked at parse time, so the fallback is never taken.
        return sayAsText(piece.text, piece.interpretAs, espeakVoice, piece.format) ?? piece.text;
    }
  });
}

class DocumentBuilder {
  private readonly parser = new SaxesParser({ position: true, xmlns: false });
  private readonly stack: Frame[] = [];
  private readonly segments: SsmlSegment[] = [];
  private readonly marks: SsmlMark[] = [];
  private readonly warnings = new Set<string>();
  private readonly unsupported = new Set<string>();
  private current: SsmlSpeech | undefined;
  /** Marks inside the current segment: placed when it is sealed (or dropped). */
  private currentMarks: SsmlMark[] = [];
  /** The current segment's last text ends a sentence (or it is sealed by `</s>`). */
  private elements = 0;
  private spokenLength = 0;
  private sawRoot = false;
  private readonly maxElements: number;
  private readonly maxDepth: number;
  private readonly strict: boolean;

  constructor(options: SsmlParseOptions) {
    this.maxElements = options.maxElements ?? SSML_LIMITS.maxElements;
    this.maxDepth = options.maxDepth ?? SSML_LIMITS.maxDepth;
    this.strict = options.strict ?? true;
  }

  parse(markup: string): SsmlDocument {
    const { parser } = this;
    parser.on('doctype', () => this.fail('a DOCTYPE is not accepted (no DTDs, no entities)'));
    parser.on('processinginstruction', () => this.fail('processing instructions are not accepted'));
    parser.on('opentag', (tag) => this.open(tag));
    parser.on('closetag', () => this.close());
    parser.on('text', (text) => this.text(text));
    parser.on('cdata', (text) => this.text(text));
    parser.on('error', (error) => {
      throw this.syntaxErrorOf(error);
    });
    parser.write(markup).close();
    if (!this.sawRoot) this.fail('the document has no <speak> element');
    if (this.unsupported.size > 0 && this.strict) {
      throw new SsmlUnsupportedError([...this.unsupported]);
    }
    this.seal(true);
    return {
      segments: this.segments,
      marks: this.marks,
      spokenLength: this.spokenLength,
      warnings: [...this.warnings],
    };
  }

  private open(tag: SaxesTagPlain): void {
    this.elements++;
    if (this.elements > this.maxElements) {
      throw new SsmlTooLargeError(`more than ${this.maxElements} elements`);
    }
    if (this.stack.length >= this.maxDepth) {
      throw new SsmlTooLargeError(`elements nested deeper than ${this.maxDepth}`);
    }
    const parent = this.stack.at(-1);
    if (!parent) {
      if (tag.name !== 'speak') this.fail(`the root element must be <speak>, not <${tag.name}>`);
      this.sawRoot = true;
    } else if (tag.name === 'speak') {
      this.fail('<speak> must be the root element only');
    }
    const frame: Frame = {
      name: tag.name,
      mode: parent?.mode === 'speak' || !parent ? 'speak' : parent.mode,
      voice: parent?.voice,
      lengthScaleFactor: parent?.lengthScaleFactor ?? 1,
      volumeFactor: parent?.volumeFactor ?? 1,
    };
    if (parent?.mode === 'say-as') this.fail(`<${tag.name}> inside <say-as>: only text is allowed`);
    if (frame.mode === 'speak') this.configure(frame, tag);
    this.stack.push(frame);
  }

  /** What an element means for the content inside it. */
  private configure(frame: Frame, tag: SaxesTagPlain): void {
    const attributes = tag.attributes;
    const attribute = (name: string): string | undefined => attributes[name];
    switch (tag.name) {
      case 'speak':
        return;
      case 'p':
      case 'paragraph':
        this.paragraphStart();
        return;
      case 's':
      case 'sentence':
        this.sentenceBoundary();
        return;
      case 'break':
        return this.addBreak(attribute('time'), attribute('strength'));
      case 'prosody': {
        const rate = attribute('rate');
        if (rate !== undefined) {
          frame.lengthScaleFactor *= this.value(parseRate(rate), 'prosody', 'rate', rate);
        }
        const volume = attribute('volume');
        if (volume !== undefined) {
          frame.volumeFactor *= this.value(parseVolume(volume), 'prosody', 'volume', volume);
        }
        for (const ignored of ['pitch', 'contour', 'range', 'duration']) {
          if (attribute(ignored) !== undefined) {
            this.warnings.add(`<prosody ${ignored}> has no Piper control and was ignored`);
          }
        }
        return;
      }
      case 'emphasis':
        frame.lengthScaleFactor *= this.value(
          parseEmphasis(attribute('level')),
          'emphasis',
          'level',
          attribute('level') ?? '',
        );
        return;
      case 'voice': {
        const name = attribute('name')?.trim() || undefined;
        const language =
          (attribute('language') ?? attribute('languages') ?? attribute('xml:lang'))
            ?.trim()
            .split(/\s+/)[0] || undefined;
        if (name === undefined && language === undefined) {
          this.fail('<voice> needs a name or a language attribute');
        }
        for (const ignored of ['gender', 'age', 'variant']) {
          if (attribute(ignored) !== undefined) {
            this.warnings.add(`<voice ${ignored}> is not used to choose a voice and was ignored`);
          }
        }
        frame.voice = { name, language: name === undefined ? language : undefined };
        return;
      }
      case 'lang': {
        const language = attribute('xml:lang')?.trim();
        if (!language) this.fail('<lang> needs an xml:lang attribute');
        frame.voice = { language };
        return;
      }
      case 'say-as': {
        const interpretAs = attribute('interpret-as')?.trim() ?? '';
        if (!isSayAsKind(interpretAs)) {
          this.fail(`<say-as interpret-as="${interpretAs}"> is not one this server speaks`);
        }
        const format = attribute('format')?.trim() || undefined;
        if (!isSayAsFormat(interpretAs, format)) {
          this.fail(
            `<say-as interpret-as="${interpretAs}" format="${format}"> is not a known format`,
          );
        }
        frame.mode = 'say-as';
        frame.sayAs = { interpretAs, format, text: '', at: this.position() };
        return;
      }
      case 'phoneme': {
        const alphabet = attribute('alphabet')?.trim() ?? 'ipa';
        if (alphabet !== 'ipa') {
          this.fail(`<phoneme alphabet="${alphabet}">: only "ipa" is spoken (Piper's phonemes)`);
        }
        const phonemes = attribute('ph')?.trim();
        if (!phonemes) this.fail('<phoneme> needs a ph attribute');
        if (UNSAFE_PHONEMES.test(phonemes)) {
          this.fail('<phoneme ph> may not contain "[[", "]]" or a line break');
        }
        this.addPiece(frame, { kind: 'phonemes', phonemes }, phonemes);
        frame.mode = 'replaced';
        return;
      }
      case 'sub': {
        const alias = attribute('alias');
        if (alias === undefined) this.fail('<sub> needs an alias attribute');
        this.addText(frame, alias);
        frame.mode = 'replaced';
        return;
      }
      case 'mark': {
        const name = attribute('name');
        if (name === undefined) this.fail('<mark> needs a name attribute');
        const mark: SsmlMark = {
          name,
          segmentIndex: this.segments.length,
          pieceIndex: 0,
          pieceOffset: 0,
        };
        const current = this.current;
        if (current) {
          // Text after it may run on into the same piece: the mark stays at this offset.
          const last = current.pieces.at(-1);
          mark.pieceIndex =
            last?.kind === 'text' ? current.pieces.length - 1 : current.pieces.length;
          mark.pieceOffset = last?.kind === 'text' ? last.text.length : 0;
          this.currentMarks.push(mark);
        }
        this.marks.push(mark);
        return;
      }
      default:
        if (SILENT_ELEMENTS.has(tag.name)) {
          frame.mode = 'ignore';
          return;
        }
        // <audio> and elements this server does not know: refused when strict.
        this.unsupported.add(tag.name);
        this.warnings.add(`<${tag.name}> is not supported: its content was spoken as text`);
    }
  }

  private close(): void {
    const frame = this.stack.pop()!;
    if (frame.sayAs) {
      const { interpretAs, format, text, at } = frame.sayAs;
      const content = text.replace(/\s+/g, ' ').trim();
      if (sayAsText(content, interpretAs, 'en', format) === undefined) {
        throw new SsmlSyntaxError(
          `<say-as interpret-as="${interpretAs}"> cannot read "${content.slice(0, 40)}"`,
          at,
        );
      }
      this.addPiece(frame, { kind: 'say-as', text: content, interpretAs, format }, content);
    }
    if (frame.mode !== 'speak' && frame.mode !== 'say-as') return;
    if (frame.name === 's' || frame.name === 'sentence') this.sentenceBoundary();
    if (frame.name === 'p' || frame.name === 'paragraph') this.sentenceBoundary();
  }

  private text(raw: string): void {
    const frame = this.stack.at(-1);
    if (!frame) return; // whitespace around the root
    if (frame.mode === 'say-as') {
      frame.sayAs!.text += raw;
      return;
    }
    if (frame.mode !== 'speak') return;
    this.addText(frame, raw.replace(/\s+/g, ' '));
  }

  private addText(frame: Frame, text: string): void {
    if (text.length === 0) return;
    this.addPiece(frame, { kind: 'text', text }, text.trim());
  }

  private addPiece(frame: Frame, piece: SsmlPiece, spoken: string): void {
    this.spokenLength += [...spoken].length;
    const current = this.current;
    // Punctuation after an element ("<prosody>world</prosody>.") ends the text before it:
    // spoken alone it would be a sentence of its own.
    const punctuationOnly = piece.kind === 'text' && !SPEAKABLE.test(piece.text);
    if (
      current &&
      (punctuationOnly ||
        (sameVoice(current.voice, frame.voice) &&
          current.lengthScaleFactor === frame.lengthScaleFactor &&
          current.volumeFactor === frame.volumeFactor))
    ) {
      const last = current.pieces.at(-1);
      if (last?.kind === 'text' && piece.kind === 'text') last.text += piece.text;
      else current.pieces.push(piece);
      return;
    }
    this.seal(false);
    this.current = {
      type: 'speech',
      pieces: [piece],
      voice: frame.voice,
      lengthScaleFactor: frame.lengthScaleFactor,
      volumeFactor: frame.volumeFactor,
      endsSentence: false,
    };
  }

  /** Ends the current speech segment; `sentenceEnd`: a sentence ends there whatever its text. */
  private seal(sentenceEnd: boolean): void {
    const current = this.current;
    if (!current) return;
    this.current = undefined;
    const last = current.pieces.at(-1);
    current.endsSentence = sentenceEnd || (last?.kind === 'text' && ENDS_SENTENCE.test(last.text));
    const marks = this.currentMarks.splice(0);
    if (current.pieces.some((piece) => piece.kind !== 'text' || SPEAKABLE.test(piece.text))) {
      for (const mark of marks) mark.segmentIndex = this.segments.length;
      this.segments.push(current);
    } else {
      // Nothing of it is spoken: its marks are where what follows starts.
      for (const mark of marks) Object.assign(mark, { pieceIndex: 0, pieceOffset: 0 });
    }
  }

  /** `<s>` starts or ends: text without a terminator before it must not run into what follows. */
  private sentenceBoundary(): void {
    const last = this.current?.pieces.at(-1);
    if (this.current && !(last?.kind === 'text' && ENDS_SENTENCE.test(last.text))) {
      this.seal(true);
    }
  }

  private paragraphStart(): void {
    this.sentenceBoundary();
    const spokeBefore =
      this.current !== undefined || this.segments.some((s) => s.type === 'speech');
    if (spokeBefore) this.pushBreak(PARAGRAPH_PAUSE_SECONDS);
  }

  private addBreak(time: string | undefined, strength: string | undefined): void {
    let seconds: number;
    if (time !== undefined) {
      seconds = this.value(parseTime(time), 'break', 'time', time);
    } else {
      const key = (strength ?? 'medium').trim().toLowerCase();
      seconds = this.value(BREAK_STRENGTH_SECONDS[key], 'break', 'strength', strength ?? '');
    }
    this.pushBreak(seconds);
  }

  private pushBreak(seconds: number): void {
    this.seal(false);
    if (seconds <= 0) return;
    const last = this.segments.at(-1);
    // A mark between two breaks keeps them apart: it is timed between them.
    const markBetween = this.marks.at(-1)?.segmentIndex === this.segments.length;
    if (last?.type === 'break' && !markBetween) last.seconds += seconds;
    else this.segments.push({ type: 'break', seconds });
  }

  /** `parsed`, or an SsmlSyntaxError naming the element, attribute and value. */
  private value(
    parsed: number | undefined,
    element: string,
    attribute: string,
    raw: string,
  ): number {
    if (parsed === undefined) {
      this.fail(`<${element} ${attribute}="${raw.slice(0, 40)}"> is not a value this server knows`);
    }
    return parsed;
  }

  private position(): SsmlPosition {
    return { line: this.parser.line, column: this.parser.column };
  }

  private fail(detail: string): never {
    throw new SsmlSyntaxError(detail, this.position());
  }

  /** saxes reports "line:column: message"; the position becomes the error's own. */
  private syntaxErrorOf(error: Error): SsmlSyntaxError {
    const match = /^(\d+):(\d+): ([\s\S]*)$/.exec(error.message);
    if (!match) return new SsmlSyntaxError(error.message, this.position());
    return new SsmlSyntaxError(match[3], { line: Number(match[1]), column: Number(match[2]) });
  }
}

function sameVoice(a: SsmlVoiceChoice | undefined, b: SsmlVoiceChoice | undefined): boolean {
  return a?.name === b?.name && a?.language === b?.language;
}
