/**
 * The `piper-server` command line: synthesize and phonemize with a voice, generate the
 * project's own test and benchmark voices, and list and download catalogue voices.
 * Each command lives in commands/; this file wires them and turns every failure into
 * one line on stderr and a non-zero exit code.
 */
import { Command } from 'commander';
import { DomainError } from '@app/errors';
import { PiperError } from '@app/piper';
import { VoiceNotInCatalogueError } from '@app/voice-catalogue';
import { processIo, type CliIo } from './cli-io';
import { addMakeBenchVoiceCommand } from './commands/make-bench-voice.command';
import { addMakeTestVoiceCommand } from './commands/make-test-voice.command';
import { addPhonemizeCommand } from './commands/phonemize.command';
import { addSynthCommand } from './commands/synth.command';
import { addVoicesCommand } from './commands/voices.command';

export { processIo, type CliIo } from './cli-io';

export function buildProgram(io: CliIo = processIo): Command {
  // Commands are added with program.command(), so they inherit the output and exit settings.
  const program = new Command('piper-server')
    .description('Piper text-to-speech engine and server')
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (text) => io.writeStdout(text),
      writeErr: (text) => io.writeStderr(text.trimEnd()),
    })
    .exitOverride();
  addSynthCommand(program, io);
  addPhonemizeCommand(program, io);
  addMakeTestVoiceCommand(program, io);
  addMakeBenchVoiceCommand(program, io);
  addVoicesCommand(program, io);
  return program;
}

/** Runs the CLI and returns the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    const commanderError = error as { code?: string; exitCode?: number };
    if (typeof commanderError.code === 'string' && commanderError.code.startsWith('commander.')) {
      // Commander already printed its one-line message (or the help text).
      return commanderError.exitCode ?? 1;
    }
    io.writeStderr(`error: ${oneLine(error)}`);
    return error instanceof PiperError || error instanceof VoiceNotInCatalogueError ? 2 : 1;
  }
}

function oneLine(error: unknown): string {
  if (error instanceof DomainError) return error.message;
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  return (code ? `${code}: ` : '') + message.split('\n')[0];
}
