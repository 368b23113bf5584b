/** Timestamps: the network's durations (duration-output.ts), the text's words and their phonemes. */
export { textWords, type TextWord } from './text-words';
export { labelSentenceWords, type SentenceWords } from './word-labels';
export {
  sentenceTimestamps,
  textTimestamps,
  type PhonemeTiming,
  type SentenceAlignmentInput,
  type SentenceTimestamps,
  type TextTimestamps,
  type WordTiming,
} from './timestamps';
