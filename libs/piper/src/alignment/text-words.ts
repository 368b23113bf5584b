/**
 * The words of a text as its writer wrote them, with their offsets: what timestamps
 * and captions name. A word is a run of characters between spaces without the
 * punctuation around it ("“Hello,”" is the word "Hello"); a symbol that is read out
 * stays a word ("$5", "😀"). Scripts written without spaces (Chinese, Japanese, Thai,
 * Lao, Khmer, Burmese) are cut by ICU's dictionary word breaker (Intl.Segmenter, part
 * of Node's full ICU). Raw phoneme blocks (`[[ … ]]`, docs/PIPER.md §3 rule 1) hold no
 * words of the text.
 */

/** A word of the text: its characters and where they are (UTF-16 offsets, end exclusive). */
export interface TextWord {
  text: string;
  charStart: number;
  charEnd: number;
}

const RAW_PHONEME_BLOCK = /\[\[[^\n]*?\]\]/g;
const TOKEN = /\S+/gu;
const LEADING_PUNCTUATION = /^\p{P}+/u;
const TRAILING_PUNCTUATION = /\p{P}+$/u;
const UNSPACED_SCRIPT =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;
const ONLY_PUNCTUATION = /^\p{P}+$/u;

export function textWords(text: string, locale?: string): TextWord[] {
  const masked = text.replace(RAW_PHONEME_BLOCK, (block) => ' '.repeat(block.length));
  const words: TextWord[] = [];
  for (const token of masked.matchAll(TOKEN)) {
    let start = token.index;
    let end = start + token[0].length;
    const lead = LEADING_PUNCTUATION.exec(token[0]);
    if (lead) start += lead[0].length;
    if (start >= end) continue;
    const trail = TRAILING_PUNCTUATION.exec(text.slice(start, end));
    if (trail) end -= trail[0].length;
    if (start >= end) continue;
    const word = text.slice(start, end);
    if (UNSPACED_SCRIPT.test(word)) {
      words.push(...segmentedWords(word, start, locale));
    } else {
      words.push({ text: word, charStart: start, charEnd: end });
    }
  }
  return words;
}

function segmentedWords(token: string, offset: number, locale: string | undefined): TextWord[] {
  let segmenter: Intl.Segmenter;
  try {
    segmenter = new Intl.Segmenter(locale, { granularity: 'word' });
  } catch {
    segmenter = new Intl.Segmenter(undefined, { granularity: 'word' });
  }
  const words: TextWord[] = [];
  for (const { segment, index } of segmenter.segment(token)) {
    if (ONLY_PUNCTUATION.test(segment) || segment.trim() === '') continue;
    words.push({
      text: segment,
      charStart: offset + index,
      charEnd: offset + index + segment.length,
    });
  }
  return words;
}
