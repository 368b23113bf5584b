import type { Command } from 'commander';
import { PiperVoice } from '@app/piper';
import type { CliIo } from '../cli-io';

/** The flags of the commands that speak with one voice file. */
export interface VoiceFileFlags {
  model: string;
  config?: string;
  text?: string;
}

/** `--model`, `--config` and `--text`, with `what` saying what the text is for. */
export function withVoiceFileOptions(command: Command, what: string): Command {
  return command
    .requiredOption('-m, --model <path>', 'voice network <voice>.onnx (config beside it)')
    .option('-c, --config <path>', 'voice config (default: <model>.json)')
    .option('-t, --text <text>', `text to ${what} (default: read stdin)`);
}

/**
 * Loads the voice of `flags`, hands it and the text (--text, else stdin) to `use`, and
 * releases it however `use` ends. The voice's warnings go to stderr.
 */
export async function withVoice(
  io: CliIo,
  flags: VoiceFileFlags,
  intraOpThreads: number | undefined,
  use: (voice: PiperVoice, text: string) => Promise<void>,
): Promise<void> {
  const voice = await PiperVoice.load(flags.model, {
    configPath: flags.config,
    intraOpThreads,
    logger: { warn: (message: string) => io.writeStderr(`warning: ${message}`) },
  });
  try {
    await use(voice, flags.text ?? (await io.readStdin()));
  } finally {
    await voice.release();
  }
}
