import type { Command } from 'commander';
import type { CliIo } from '../cli-io';
import { withVoice, withVoiceFileOptions, type VoiceFileFlags } from './voice-file';

/** `phonemize`: the phonemes and ids Piper would speak, one JSON line per sentence. */
export function addPhonemizeCommand(program: Command, io: CliIo): void {
  withVoiceFileOptions(
    program
      .command('phonemize')
      .description('print one JSON object per sentence: {"phonemes": [...], "phoneme_ids": [...]}'),
    'phonemize',
  ).action((flags: VoiceFileFlags) =>
    // Phonemizing runs no inference: one thread is plenty for the session it loads.
    withVoice(io, flags, 1, (voice, text) => {
      for (const phonemes of voice.phonemize(text)) {
        const line = JSON.stringify({ phonemes, phoneme_ids: voice.phonemesToIds(phonemes) });
        io.writeStdout(`${line}\n`);
      }
      return Promise.resolve();
    }),
  );
}
