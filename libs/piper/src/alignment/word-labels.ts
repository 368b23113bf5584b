/**
 * Which word of the text each phoneme of a plan's sentences speaks.
 *
 * espeak-ng phonemizes a clause as a whole: it expands numbers and abbreviations into
 * several spoken words ("$123" → "dollar one hundred twenty three"), may fold or split
 * words, and its output carries no offsets into the text. So each word of the text is
 * phonemized on its own as well (one espeak-ng call for all of them, see
 * EspeakPhonemizer.phonemizeWords), and the concatenation of those is aligned with the
 * sentences' phonemes by edit distance: a phoneme takes the word of the phoneme it is
 * aligned with. Context changes a word's phonemes a little ("the" before a vowel, a
 * stress mark), never its place, so the alignment is exact at the word boundaries that
 * matter. Each spoken word of espeak-ng (a run between spaces) then goes to the word
 * most of its phonemes came from (unless it joins words, see MERGED_WORD_PHONEMES), and word order is kept (a later phoneme never belongs
 * to an earlier word), so word times are monotonic and do not overlap.
 */
import type { TextWord } from './text-words';

/** The words one sentence speaks and, for each of its phonemes, which (-1: none). */
export interface SentenceWords {
  words: TextWord[];
  /** Index into `words` per phoneme of the sentence; -1 for spaces and punctuation. */
  phonemeWords: number[];
}

/** Phonemes that are no word's: word and clause separators (docs/PIPER.md §3 rule 4). */
const NOT_SPOKEN = new Set([' ', '.', ',', '?', '!', ':', ';']);

/** Beyond this many alignment cells (phonemes × phonemes), words are spread by length. */
const MAX_ALIGNMENT_CELLS = 25_000_000;

export function labelSentenceWords(
  sentences: readonly (readonly string[])[],
  words: readonly TextWord[],
  isolatedPhonemes: readonly (readonly string[])[],
): SentenceWords[] {
  // Words that say nothing on their own are not spoken words.
  const spoken = words
    .map((word, i) => ({ word, phonemes: isolatedPhonemes[i] ?? [] }))
    .filter(({ phonemes }) => phonemes.length > 0);

  const reference: string[] = [];
  const referenceWord: number[] = [];
  spoken.forEach(({ phonemes }, w) => {
    for (const phoneme of phonemes) {
      reference.push(phoneme);
      referenceWord.push(w);
    }
  });

  // Every spoken phoneme of every sentence, in order.
  const positions: { sentence: number; phoneme: number }[] = [];
  const heard: string[] = [];
  sentences.forEach((phonemes, s) =>
    phonemes.forEach((phoneme, p) => {
      if (NOT_SPOKEN.has(phoneme)) return;
      positions.push({ sentence: s, phoneme: p });
      heard.push(phoneme);
    }),
  );

  const labels =
    reference.length === 0
      ? new Int32Array(heard.length).fill(-1)
      : heard.length * reference.length <= MAX_ALIGNMENT_CELLS
        ? alignedLabels(heard, reference, referenceWord)
        : proportionalLabels(heard.length, referenceWord);
  byMajorityPerSpokenWord(labels, positions, sentences);

  const phonemeWords = sentences.map((phonemes) => new Array<number>(phonemes.length).fill(-1));
  const sentenceOfWord = new Int32Array(spoken.length).fill(-1);
  let highest = -1;
  positions.forEach(({ sentence, phoneme }, i) => {
    // Word order is kept: a phoneme never goes back to an earlier word.
    highest = Math.max(highest, labels[i]);
    if (highest < 0) return;
    phonemeWords[sentence][phoneme] = highest;
    if (sentenceOfWord[highest] < 0) sentenceOfWord[highest] = sentence;
  });
  // A word no phoneme went to joins the sentence of the word before it.
  for (let w = 0; w < spoken.length; w++) {
    if (sentenceOfWord[w] < 0) sentenceOfWord[w] = w > 0 ? sentenceOfWord[w - 1] : 0;
  }

  return sentences.map((_, s) => {
    const local = new Map<number, number>();
    const sentenceWords: TextWord[] = [];
    spoken.forEach(({ word }, w) => {
      if (sentenceOfWord[w] !== s) return;
      local.set(w, sentenceWords.length);
      sentenceWords.push(word);
    });
    return {
      words: sentenceWords,
      phonemeWords: phonemeWords[s].map((w) => (w < 0 ? -1 : (local.get(w) ?? -1))),
    };
  });
}

/** Levenshtein alignment of `heard` against `reference`; each heard phoneme's word. */
function alignedLabels(
  heard: readonly string[],
  reference: readonly string[],
  referenceWord: readonly number[],
): Int32Array {
  const rows = heard.length;
  const columns = reference.length;
  const width = columns + 1;
  // 0: diagonal (match or substitution), 1: heard phoneme inserted, 2: reference skipped.
  const moves = new Uint8Array((rows + 1) * width);
  let previous = new Int32Array(width);
  let current = new Int32Array(width);
  for (let j = 0; j <= columns; j++) {
    previous[j] = j;
    moves[j] = 2;
  }
  for (let i = 1; i <= rows; i++) {
    current[0] = i;
    moves[i * width] = 1;
    for (let j = 1; j <= columns; j++) {
      const diagonal = previous[j - 1] + (heard[i - 1] === reference[j - 1] ? 0 : 1);
      const insert = previous[j] + 1;
      const skip = current[j - 1] + 1;
      let best = diagonal;
      let move = 0;
      if (insert < best) {
        best = insert;
        move = 1;
      }
      if (skip < best) {
        best = skip;
        move = 2;
      }
      current[j] = best;
      moves[i * width + j] = move;
    }
    [previous, current] = [current, previous];
  }

  const labels = new Int32Array(rows).fill(-1);
  let i = rows;
  let j = columns;
  while (i > 0) {
    const move = j === 0 ? 1 : moves[i * width + j];
    if (move === 0) {
      labels[i - 1] = referenceWord[j - 1];
      i--;
      j--;
    } else if (move === 1) {
      // Inserted: the word being spoken at that point of the reference.
      labels[i - 1] = referenceWord[Math.max(0, j - 1)];
      i--;
    } else {
      j--;
    }
  }
  return labels;
}

/** A text too long to align: phonemes go to words in proportion to the words' lengths. */
function proportionalLabels(count: number, referenceWord: readonly number[]): Int32Array {
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = referenceWord[Math.floor((i * referenceWord.length) / count)];
  }
  return labels;
}

/** A word with this many phonemes inside one espeak-ng word makes that a join of words. */
const MERGED_WORD_PHONEMES = 3;

/** Each run of phonemes between spaces (an espeak-ng word) goes to its most frequent word. */
function byMajorityPerSpokenWord(
  labels: Int32Array,
  positions: readonly { sentence: number; phoneme: number }[],
  sentences: readonly (readonly string[])[],
): void {
  let start = 0;
  while (start < positions.length) {
    let end = start + 1;
    while (
      end < positions.length &&
      sameSpokenWord(positions[end - 1], positions[end], sentences)
    ) {
      end++;
    }
    const counts = new Map<number, number>();
    let best = labels[start];
    for (let i = start; i < end; i++) {
      const count = (counts.get(labels[i]) ?? 0) + 1;
      counts.set(labels[i], count);
      if (count > (counts.get(best) ?? 0)) best = labels[i];
    }
    // Two words with several phonemes each: espeak-ng joined them ("Wait... what" is
    // one spoken word), and the alignment's own boundary stands.
    const joined = [...counts.values()].filter((count) => count >= MERGED_WORD_PHONEMES).length > 1;
    if (!joined) labels.fill(best, start, end);
    start = end;
  }
}

/** Two spoken phonemes with nothing unspoken between them in one sentence. */
function sameSpokenWord(
  a: { sentence: number; phoneme: number },
  b: { sentence: number; phoneme: number },
  sentences: readonly (readonly string[])[],
): boolean {
  if (a.sentence !== b.sentence) return false;
  const phonemes = sentences[a.sentence];
  for (let p = a.phoneme + 1; p < b.phoneme; p++) {
    if (NOT_SPOKEN.has(phonemes[p])) return false;
  }
  return true;
}
