/**
 * Text to phonemes with espeak-ng, sentence by sentence, as Piper does it
 * (docs/PIPER.md §3 rules 2-7; piper1-gpl phonemize_espeak.py).
 *
 * Piper asks espeak-ng for one clause at a time and gets its phonemes, the punctuation
 * that ended it and whether it ended a sentence. Our espeak-ng build returns all the
 * clauses of a text in one call, joined by " | ", without the punctuation; the clause
 * splitter (clause-splitter.ts) replays espeak-ng's clause reader to know where each
 * clause ends and with what. One espeak-ng call per text is also the fast path (about a
 * millisecond for a sentence): the splitter's clauses are matched to espeak-ng's pieces
 * one to one. When their counts differ (text the replay does not model), each clause is
 * phonemized on its own instead, and any split espeak-ng still makes inside a clause
 * becomes a clause with no punctuation that does not end the sentence.
 */
import { PhonemizerError } from '../errors';
import { Clause, ClauseSplitOptions, ClauseTerminator, splitClauses } from './clause-splitter';
import { EspeakNg } from './espeak-ng';

/**
 * A voice config's `vowel_clusters`: phoneme sequences merged into one symbol
 * (docs/PIPER.md §3 rule 7). Piper reads each entry with Python's `tuple()`, so an entry is
 * either an array of phonemes (["a", "ɪ"], the form piper1-gpl writes) or a string,
 * taken code point by code point ("aɪ").
 */
export type VowelClusters = ReadonlyArray<ReadonlyArray<string> | string>;

/** One clause as espeak-ng phonemized it, with what Piper appends to it. */
export interface ClausePhonemes {
  /** IPA without separators; language switches such as "(en)" still in. */
  phonemes: string;
  terminator: ClauseTerminator;
  endsSentence: boolean;
}

const CLAUSE_SEPARATOR = ' | ';
const PHONEME_SEPARATOR = /_/g;
const LANGUAGE_SWITCH = /\([^)]+\)/g;
const WORD_SEPARATOR = '\n\n';

function wordPhonemes(piece: string): string[] {
  return Array.from(piece.replace(LANGUAGE_SWITCH, '').replace(/\s+/g, '').normalize('NFD'));
}

/**
 * The text as it is safe to hand to espeak-ng. Replaced by a space: NUL (it would end
 * the C string), the other C0 controls but tab and line breaks (U+0001 starts an
 * espeak-ng embedded command, "[\u0002" raw espeak phoneme input), DEL, and unpaired
 * UTF-16 surrogates (they have no UTF-8 form; Piper itself fails on them).
 */
export function sanitizeForEspeak(text: string): string {
  let cleaned = '';
  let copiedUpTo = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    let replace: boolean;
    if (unit < 0x20) {
      replace = unit < 0x09 || unit > 0x0d;
    } else if (unit === 0x7f) {
      replace = true;
    } else if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      replace = true;
    } else {
      replace = unit >= 0xdc00 && unit <= 0xdfff;
    }
    if (replace) {
      cleaned += text.slice(copiedUpTo, i) + ' ';
      copiedUpTo = i + 1;
    }
  }
  return copiedUpTo === 0 ? text : cleaned + text.slice(copiedUpTo);
}

/** Vowel clusters ready for matching: longest first, as piper1-gpl merges them. */
class VowelClusterMerger {
  private readonly keys = new Set<string>();
  private readonly longest: number;

  constructor(clusters: VowelClusters) {
    let longest = 0;
    for (const cluster of clusters) {
      const phonemes = typeof cluster === 'string' ? Array.from(cluster) : [...cluster];
      this.keys.add(phonemes.join('\u0000'));
      longest = Math.max(longest, phonemes.length);
    }
    this.longest = longest;
  }

  merge(phonemes: readonly string[]): string[] {
    const merged: string[] = [];
    let i = 0;
    while (i < phonemes.length) {
      let length = 0;
      for (let n = Math.min(this.longest, phonemes.length - i); n > 1; n--) {
        if (this.keys.has(phonemes.slice(i, i + n).join('\u0000'))) {
          length = n;
          break;
        }
      }
      if (length > 0) {
        merged.push(phonemes.slice(i, i + length).join(''));
        i += length;
      } else {
        merged.push(phonemes[i]);
        i++;
      }
    }
    return merged;
  }
}

export class EspeakPhonemizer {
  private readonly clauseRules = new Map<string, ClauseSplitOptions>();
  private readonly mergers = new WeakMap<VowelClusters, VowelClusterMerger>();

  private constructor(private readonly espeak: EspeakNg) {}

  static async create(): Promise<EspeakPhonemizer> {
    return new EspeakPhonemizer(await EspeakNg.create());
  }

  /** Throws PhonemizerError, naming the voice, when espeak-ng does not have it. */
  assertVoice(espeakVoice: string): void {
    this.useVoice(espeakVoice);
  }

  /**
   * Sentences of phonemes (each a single NFD code point) for `text` in the espeak-ng
   * voice `espeakVoice`, as Piper's espeak phonemizer makes them, without empty
   * sentences. Never throws for odd text; throws PhonemizerError for a voice espeak-ng
   * does not have.
   */
  phonemize(text: string, espeakVoice: string, vowelClusters?: VowelClusters | null): string[][] {
    return this.phonemizeSentences(text, espeakVoice, vowelClusters).filter(
      (sentence) => sentence.length > 0,
    );
  }

  /**
   * Exactly what piper1-gpl's `EspeakPhonemizer.phonemize` returns, empty sentences
   * included (a blank line at the start of a text is one): the raw-phoneme handling of
   * `phonemizeText` depends on them. Vowel clusters are merged in sentences that espeak-ng
   * ended, not in a last unterminated one, as in Piper.
   */
  phonemizeSentences(
    text: string,
    espeakVoice: string,
    vowelClusters?: VowelClusters | null,
  ): string[][] {
    const merger = vowelClusters?.length ? this.mergerFor(vowelClusters) : undefined;
    const sentences: string[][] = [];
    let sentence: string[] = [];
    for (const clause of this.phonemizeClauses(text, espeakVoice)) {
      let phonemes = clause.phonemes.replace(LANGUAGE_SWITCH, '') + clause.terminator;
      if (clause.terminator === ',' || clause.terminator === ':' || clause.terminator === ';') {
        phonemes += ' '; // the sentence goes on
      }
      for (const phoneme of phonemes.normalize('NFD')) sentence.push(phoneme);
      if (clause.endsSentence) {
        sentences.push(merger ? merger.merge(sentence) : sentence);
        sentence = [];
      }
    }
    if (sentence.length > 0) sentences.push(sentence);
    return sentences;
  }

  /**
   * Each word phonemized on its own (NFD code points, no spaces), for word timestamps
   * (alignment/word-labels.ts). One espeak-ng call for all of them: a paragraph break
   * ends a clause in every language without a terminator's meaning, so each word comes
   * back as one clause piece. Should the pieces not match the words one to one (a word
   * that holds a clause break itself), each word is phonemized alone.
   */
  phonemizeWords(words: readonly string[], espeakVoice: string): string[][] {
    this.useVoice(espeakVoice);
    const cleaned = words.map((word) => sanitizeForEspeak(word).replace(/\s+/g, ' '));
    const pieces = this.pieces(cleaned.join(WORD_SEPARATOR));
    if (pieces.length === words.length) return pieces.map(wordPhonemes);
    return cleaned.map((word) => wordPhonemes(this.pieces(word).join('')));
  }

  /** The clauses espeak-ng makes of `text` in this voice, as this phonemizer finds them. */
  splitClauses(text: string, espeakVoice: string): Clause[] {
    return splitClauses(sanitizeForEspeak(text), this.useVoice(espeakVoice));
  }

  /** espeak-ng's clauses for `text`: phonemes, terminator, sentence end. */
  phonemizeClauses(text: string, espeakVoice: string): ClausePhonemes[] {
    const rules = this.useVoice(espeakVoice);
    const espeakText = sanitizeForEspeak(text);
    const clauses = splitClauses(espeakText, rules);
    const pieces = this.pieces(espeakText);
    if (pieces.length === clauses.length) {
      return clauses.map((clause, i) => ({
        phonemes: pieces[i],
        terminator: clause.terminator,
        endsSentence: clause.endsSentence,
      }));
    }

    const result: ClausePhonemes[] = [];
    for (const clause of clauses) {
      const inner = this.pieces(clause.text);
      inner.forEach((phonemes, i) => {
        const last = i === inner.length - 1;
        result.push({
          phonemes,
          terminator: last ? clause.terminator : '',
          endsSentence: last && clause.endsSentence,
        });
      });
    }
    return result;
  }

  /** espeak-ng's clause pieces for a text already sanitized, separators removed. */
  private pieces(espeakText: string): string[] {
    return this.espeak
      .textToPhonemes(espeakText)
      .split(CLAUSE_SEPARATOR)
      .map((piece) => piece.replace(PHONEME_SEPARATOR, ''));
  }

  /** Selects the voice; returns the clause rules of its language. */
  private useVoice(espeakVoice: string): ClauseSplitOptions {
    if (!this.espeak.setVoice(espeakVoice)) {
      throw new PhonemizerError(`espeak-ng has no voice "${espeakVoice}"`);
    }
    let rules = this.clauseRules.get(espeakVoice);
    if (rules === undefined) {
      rules = this.probeClauseRules();
      this.clauseRules.set(espeakVoice, rules);
    }
    return rules;
  }

  /**
   * The language options that move clause ends, read from espeak-ng itself (its
   * language tables are compiled in): three tiny texts whose clause count each option
   * changes.
   */
  private probeClauseRules(): ClauseSplitOptions {
    const count = (probe: string): number =>
      this.espeak.textToPhonemes(probe).split(CLAUSE_SEPARATOR).length;
    return {
      ordinalDot: count('XIV. A') === 1,
      lowercaseSentence: count('a. b') === 2,
      latin1CodePage: count('a\uFFFD B') === 2,
    };
  }

  private mergerFor(clusters: VowelClusters): VowelClusterMerger {
    let merger = this.mergers.get(clusters);
    if (merger === undefined) {
      merger = new VowelClusterMerger(clusters);
      this.mergers.set(clusters, merger);
    }
    return merger;
  }
}
