/**
 * Text to sentences of phonemes for a voice, the whole of docs/PIPER.md §3
 * as piper1-gpl's `PiperVoice.phonemize` (voice.py) does it:
 *  - phoneme_type "text": one sentence, the NFD code points of the text;
 *  - phoneme_type "espeak": `[[ ... ]]` blocks are raw phonemes, everything else goes
 *    through espeak-ng (espeak-phonemizer.ts);
 *  - any other phoneme_type (e.g. piper1-gpl's "pinyin", which needs its g2pW model) is
 *    a PhonemizerError.
 * Empty sentences are dropped: Piper drops a trailing one and synthesizes nothing for
 * the others, so the audio is the same.
 *
 * Known difference: for the espeak-ng voice "ar" Piper first adds Arabic diacritics with
 * its libtashkeel model; this engine phonemizes the text as written.
 */
import { PhonemizerError } from '../errors';
import { EspeakPhonemizer, VowelClusters } from './espeak-phonemizer';

export interface PhonemizeOptions {
  /** The config's `phoneme_type`: "espeak" or "text". */
  phonemeType: string;
  /** The config's `espeak.voice`, e.g. "en-us". */
  espeakVoice: string;
  /** The config's `vowel_clusters`, if any (see VowelClusters for the accepted shape). */
  vowelClusters?: VowelClusters | null;
}

/** voice.py's `(\[\[.*?\]\])`: Python's "." does not match a newline (JavaScript's also skips \r, U+2028, U+2029). */
const RAW_PHONEME_BLOCK = /(\[\[[^\n]*?\]\])/;

/** The characters Python's str.isspace() accepts, which str.strip() removes. */
function isPythonSpace(unit: number): boolean {
  return (
    (unit >= 0x09 && unit <= 0x0d) ||
    (unit >= 0x1c && unit <= 0x20) ||
    unit === 0x85 ||
    unit === 0xa0 ||
    unit === 0x1680 ||
    (unit >= 0x2000 && unit <= 0x200a) ||
    unit === 0x2028 ||
    unit === 0x2029 ||
    unit === 0x202f ||
    unit === 0x205f ||
    unit === 0x3000
  );
}

function pythonStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isPythonSpace(text.charCodeAt(start))) start++;
  while (end > start && isPythonSpace(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/**
 * `espeak` may be left out for voices that do not use it (phoneme_type "text"); an
 * "espeak" voice without it is a PhonemizerError.
 */
export function phonemizeText(
  text: string,
  options: PhonemizeOptions,
  espeak?: EspeakPhonemizer,
): string[][] {
  let sentences: string[][];
  switch (options.phonemeType) {
    case 'text':
      sentences = [Array.from(text.normalize('NFD'))];
      break;
    case 'espeak':
      if (espeak === undefined) {
        throw new PhonemizerError('phoneme_type "espeak" needs an espeak-ng phonemizer');
      }
      sentences = phonemizeWithRawBlocks(text, options, espeak);
      break;
    default:
      throw new PhonemizerError(
        `phoneme_type "${options.phonemeType}" is not supported (supported: "espeak", "text")`,
      );
  }
  return sentences.filter((sentence) => sentence.length > 0);
}

/**
 * A raw block's characters go in as they are (trimmed, not normalized), with a space on
 * either side where the text next to it ends or starts with one. The block does not
 * start a sentence: it joins the last sentence so far, and the first sentence of the
 * text after it joins the block's.
 */
function phonemizeWithRawBlocks(
  text: string,
  options: PhonemizeOptions,
  espeak: EspeakPhonemizer,
): string[][] {
  const sentences: string[][] = [];
  const parts = text.split(RAW_PHONEME_BLOCK);
  let afterRawBlock = false;
  parts.forEach((part, i) => {
    if (part.startsWith('[[')) {
      afterRawBlock = true;
      if (sentences.length === 0) sentences.push([]);
      const sentence = sentences[sentences.length - 1];
      if (i > 0 && parts[i - 1].endsWith(' ')) sentence.push(' ');
      for (const phoneme of pythonStrip(part.slice(2, -2))) {
        sentence.push(phoneme);
      }
      if (i < parts.length - 1 && parts[i + 1].startsWith(' ')) sentence.push(' ');
      return;
    }

    const partSentences = espeak.phonemizeSentences(
      part,
      options.espeakVoice,
      options.vowelClusters,
    );
    if (afterRawBlock && partSentences.length > 0) {
      const sentence = sentences[sentences.length - 1];
      for (const phoneme of partSentences[0]) sentence.push(phoneme);
      for (const next of partSentences.slice(1)) sentences.push(next);
    } else {
      for (const next of partSentences) sentences.push(next);
    }
    afterRawBlock = false;
  });
  return sentences;
}
