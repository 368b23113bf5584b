import type { Command } from 'commander';
import { writeTestVoice } from '@app/piper';
import { positiveInteger } from '../cli-arguments';
import type { CliIo } from '../cli-io';

/** `make-test-voice`: the project's own tiny voice, whose audio tests can predict. */
export function addMakeTestVoiceCommand(program: Command, io: CliIo): void {
  program
    .command('make-test-voice')
    .description('write a small voice whose audio is a known function of its inputs (for tests)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--name <name>', 'voice name', 'test-voice')
    .option('--speakers <n>', 'number of speakers', positiveInteger, 1)
    .action(async (flags: { out: string; name: string; speakers: number }) => {
      const written = await writeTestVoice(flags.out, {
        name: flags.name,
        speakers: flags.speakers,
      });
      io.writeStdout(`${written.modelPath}\n${written.configPath}\n`);
    });
}
