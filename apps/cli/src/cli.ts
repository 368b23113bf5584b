/**
 * The `piper-server` command line: synthesize and phonemize with a voice, and
 * generate the project's own test and benchmark voices. Every failure ends as one
 * line on stderr and a non-zero exit code.
 */
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { AUDIO_FORMATS, encodeAudio, type AudioFormat } from '@app/audio-formats';
import {
  PiperError,
  PiperVoice,
  writeBenchVoice,
  writeTestVoice,
  type SynthesisOptions,
} from '@app/piper';

export interface CliIo {
  readStdin(): Promise<string>;
  writeStdout(data: string | Buffer): void;
  writeStderr(line: string): void;
}

export const processIo: CliIo = {
  async readStdin() {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  writeStdout: (data) => process.stdout.write(data),
  writeStderr: (line) => process.stderr.write(`${line}\n`),
};

function number(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isFinite(parsed)) {
      throw new InvalidArgumentError(`${name} must be a number`);
    }
    return parsed;
  };
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError('must be a positive integer');
  }
  return parsed;
}

interface SynthFlags {
  model: string;
  config?: string;
  text?: string;
  output: string;
  speaker?: string;
  lengthScale?: number;
  noiseScale?: number;
  noiseW?: number;
  sentenceSilence?: number;
  volume?: number;
  format: AudioFormat;
  threads?: number;
}

export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('piper-server')
    .description('Piper text-to-speech engine and server')
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (text) => io.writeStdout(text),
      writeErr: (text) => io.writeStderr(text.trimEnd()),
    })
    .exitOverride();

  const readText = async (text: string | undefined): Promise<string> =>
    text ?? (await io.readStdin());
  const warnings = { warn: (message: string) => io.writeStderr(`warning: ${message}`) };

  program
    .command('synth')
    .description('synthesize text (--text or stdin) to WAV, raw PCM, MP3, Opus, FLAC or AAC')
    .requiredOption('-m, --model <path>', 'voice network <voice>.onnx (config beside it)')
    .option('-c, --config <path>', 'voice config (default: <model>.json)')
    .option('-t, --text <text>', 'text to speak (default: read stdin)')
    .requiredOption('-o, --output <file>', 'output file, or - for stdout')
    .option('-s, --speaker <id|name>', 'speaker index or name (multi-speaker voices)')
    .option('--length-scale <x>', 'phoneme length, larger is slower', number('--length-scale'))
    .option('--noise-scale <x>', 'generator noise', number('--noise-scale'))
    .option('--noise-w <x>', 'phoneme width noise', number('--noise-w'))
    .option(
      '--sentence-silence <seconds>',
      'silence after each sentence',
      number('--sentence-silence'),
    )
    .option('--volume <x>', 'volume multiplier', number('--volume'))
    .option('--threads <n>', 'onnxruntime intra-op threads (default: all cores)', positiveInteger)
    .addOption(
      new Option('-f, --format <format>', 'output format').choices(AUDIO_FORMATS).default('wav'),
    )
    .action(async (flags: SynthFlags) => {
      const voice = await PiperVoice.load(flags.model, {
        configPath: flags.config,
        intraOpThreads: flags.threads,
        logger: warnings,
      });
      try {
        const options: SynthesisOptions = {
          speaker: flags.speaker,
          lengthScale: flags.lengthScale,
          noiseScale: flags.noiseScale,
          noiseW: flags.noiseW,
          sentenceSilenceSeconds: flags.sentenceSilence,
          volume: flags.volume,
        };
        const result = await voice.synthesizeAll(await readText(flags.text), options);
        const data = await encodeAudio(flags.format, result.pcm, result.sampleRate);
        if (flags.output === '-') io.writeStdout(data);
        else await writeFile(flags.output, data);
      } finally {
        await voice.release();
      }
    });

  program
    .command('phonemize')
    .description('print one JSON object per sentence: {"phonemes": [...], "phoneme_ids": [...]}')
    .requiredOption('-m, --model <path>', 'voice network <voice>.onnx (config beside it)')
    .option('-c, --config <path>', 'voice config (default: <model>.json)')
    .option('-t, --text <text>', 'text to phonemize (default: read stdin)')
    .action(async (flags: { model: string; config?: string; text?: string }) => {
      const voice = await PiperVoice.load(flags.model, {
        configPath: flags.config,
        intraOpThreads: 1,
        logger: warnings,
      });
      try {
        for (const phonemes of voice.phonemize(await readText(flags.text))) {
          const line = JSON.stringify({ phonemes, phoneme_ids: voice.phonemesToIds(phonemes) });
          io.writeStdout(`${line}\n`);
        }
      } finally {
        await voice.release();
      }
    });

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

  program
    .command('make-bench-voice')
    .description('write a voice with random weights and the compute of a published medium voice')
    .requiredOption('--out <dir>', 'output directory')
    .option('--name <name>', 'voice name', 'bench-voice')
    .action(async (flags: { out: string; name: string }) => {
      const written = await writeBenchVoice(flags.out, { name: flags.name });
      io.writeStdout(`${written.modelPath}\n${written.configPath}\n`);
    });

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
    return error instanceof PiperError ? 2 : 1;
  }
}

function oneLine(error: unknown): string {
  if (error instanceof PiperError) return error.message;
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  return (code ? `${code}: ` : '') + message.split('\n')[0];
}
