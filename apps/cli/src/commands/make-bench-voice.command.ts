import type { Command } from 'commander';
import { writeBenchVoice } from '@app/piper';
import type { CliIo } from '../cli-io';

/** `make-bench-voice`: random weights with the compute of a published medium voice. */
export function addMakeBenchVoiceCommand(program: Command, io: CliIo): void {
  program
    .command('make-bench-voice')
    .description('write a voice with random weights and the compute of a published medium voice')
    .requiredOption('--out <dir>', 'output directory')
    .option('--name <name>', 'voice name', 'bench-voice')
    .option('--speakers <count>', 'speakers; above 1 the network takes sid (109 as VCTK)', '1')
    .action(async (flags: { out: string; name: string; speakers: string }) => {
      const speakers = Number(flags.speakers);
      const written = await writeBenchVoice(flags.out, { name: flags.name, speakers });
      io.writeStdout(`${written.modelPath}\n${written.configPath}\n`);
    });
}
