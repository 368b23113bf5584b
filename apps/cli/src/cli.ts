/**
 * The `piper-server` command line: synthesize and phonemize with a voice, generate the
 * project's own test and benchmark voices, and list and download catalogue voices.
 * Every failure ends as one line on stderr and a non-zero exit code.
 */
import { writeFile } from 'node:fs/promises';
import { MultiBar } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import { AUDIO_FORMATS, encodeAudio, type AudioFormat } from '@app/audio-formats';
import {
  PiperError,
  PiperVoice,
  writeBenchVoice,
  writeTestVoice,
  type SynthesisOptions,
} from '@app/piper';
import {
  DEFAULT_VOICES_BASE_URL,
  VoiceCatalogue,
  VoiceCatalogueError,
  VoiceNotInCatalogueError,
  defaultCatalogueCacheDir,
  downloadVoice,
  listInstalledVoices,
  type DownloadOptions,
  type RetryPolicy,
} from '@app/voice-catalogue';

export interface CliIo {
  readStdin(): Promise<string>;
  writeStdout(data: string | Buffer): void;
  writeStderr(line: string): void;
  /**
   * The environment `voices` takes MODEL_DIR and VOICES_BASE_URL from, as defaults of
   * its flags only (default: none).
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** A terminal for progress bars; without one, progress is plain lines on stderr. */
  progressStream?: NodeJS.WritableStream;
  /** Overrides of the download retry policy (tests shorten the backoff). */
  retry?: Partial<RetryPolicy>;
}

export const processIo: CliIo = {
  env: process.env,
  progressStream: process.stderr.isTTY ? process.stderr : undefined,
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

  addVoicesCommands(program, io);
  return program;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

function formatSeconds(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '--';
  const whole = Math.round(seconds);
  return whole >= 60
    ? `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`
    : `${whole}s`;
}

/** Rows as columns padded to their widest cell. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

interface VoicesFlags {
  modelDir: string;
  baseUrl: string;
}

/**
 * `voices list` and `voices download` (issue 5): the catalogue is voices.json under
 * --base-url, cached in <model-dir>/.catalogue (see @app/voice-catalogue).
 */
function addVoicesCommands(program: Command, io: CliIo): void {
  const env = io.env ?? {};
  const voices = program.command('voices').description('list and download Piper voices');
  const common = (command: Command): Command =>
    command
      .option(
        '--model-dir <dir>',
        'voice directory (default: $MODEL_DIR or ./models)',
        env.MODEL_DIR || './models',
      )
      .option(
        '--base-url <url>',
        'catalogue root holding voices.json (default: $VOICES_BASE_URL or the pinned public catalogue)',
        env.VOICES_BASE_URL || DEFAULT_VOICES_BASE_URL,
      );
  const openCatalogue = (flags: VoicesFlags): VoiceCatalogue =>
    new VoiceCatalogue({
      baseUrl: flags.baseUrl,
      cacheDir: defaultCatalogueCacheDir(flags.modelDir),
      retry: io.retry,
    });

  common(
    voices
      .command('list')
      .description('installed voices, or with --available the catalogue')
      .option('--available', 'list the catalogue: size, quality, speakers, installed or not')
      .option('--language <code>', 'only this language: en_GB, or a family such as en')
      .option('--refresh', 'fetch voices.json again even when the cached copy is recent'),
  ).action(
    async (flags: VoicesFlags & { available?: boolean; language?: string; refresh?: boolean }) => {
      const installed = await listInstalledVoices(flags.modelDir);
      if (!flags.available) {
        const wanted = flags.language?.toLowerCase().replace(/-/g, '_');
        const shown = installed.filter(
          (voice) =>
            !wanted ||
            voice.languageCode?.toLowerCase() === wanted ||
            voice.languageCode?.toLowerCase().split('_')[0] === wanted,
        );
        if (shown.length === 0) {
          io.writeStdout(
            `no voices installed in ${flags.modelDir}; \`piper-server voices list --available\` lists the catalogue\n`,
          );
          return;
        }
        const rows = [['NAME', 'LANGUAGE', 'QUALITY', 'SPEAKERS', 'SIZE']].concat(
          shown.map((voice) => [
            voice.name,
            voice.languageCode ?? '?',
            voice.quality ?? '?',
            String(voice.numSpeakers ?? '?'),
            formatBytes(voice.sizeBytes),
          ]),
        );
        io.writeStdout(`${table(rows)}\n`);
        return;
      }
      const catalogue = await openCatalogue(flags).load({ refresh: flags.refresh });
      if (catalogue.source.stale) {
        io.writeStderr(
          `warning: using the catalogue cached ${catalogue.source.fetchedAt.toISOString()}: ${catalogue.source.staleReason ?? 'refresh failed'}`,
        );
      }
      const installedNames = new Set(installed.map((voice) => voice.name));
      const rows = [['NAME', 'LANGUAGE', 'QUALITY', 'SPEAKERS', 'SIZE', 'INSTALLED']].concat(
        catalogue
          .list({ language: flags.language })
          .map((voice) => [
            voice.name,
            voice.language.code,
            voice.quality,
            String(voice.numSpeakers),
            formatBytes(voice.downloadBytes),
            installedNames.has(voice.name) ? 'yes' : 'no',
          ]),
      );
      io.writeStdout(`${table(rows)}\n`);
    },
  );

  common(
    voices
      .command('download')
      .description('download voices from the catalogue into the model directory, verified')
      .argument('<names...>', 'voice names, e.g. en_US-lessac-medium')
      .option('--force', 'download again even when the voice is installed'),
  ).action(async (names: string[], flags: VoicesFlags & { force?: boolean }) => {
    const catalogue = await openCatalogue(flags).load();
    // Every name is checked before anything is downloaded.
    const wanted = [...new Set(names.map((name) => catalogue.get(name).name))];
    const failures: unknown[] = [];
    for (const name of wanted) {
      const progress = io.progressStream ? barProgress(io.progressStream) : lineProgress(io);
      try {
        const result = await downloadVoice(catalogue, name, {
          modelDir: flags.modelDir,
          force: flags.force,
          ...progress.callbacks,
        });
        progress.stop();
        io.writeStdout(
          result.alreadyInstalled
            ? `${name}: already installed in ${result.dir}\n`
            : `${name}: installed in ${result.dir}\n`,
        );
      } catch (error) {
        progress.stop();
        if (!(error instanceof VoiceCatalogueError) || wanted.length === 1) throw error;
        io.writeStderr(`error: ${error.message}`);
        failures.push(error);
      }
    }
    if (failures.length > 0) {
      throw new DownloadsFailedError(failures.length, wanted.length, flags.modelDir);
    }
  });
}

/** Some of several downloads failed; each was already reported on its own line. */
class DownloadsFailedError extends Error {
  constructor(failed: number, total: number, modelDir: string) {
    super(`${failed} of ${total} voices could not be installed in ${modelDir}`);
  }
}

type ProgressCallbacks = Pick<
  DownloadOptions,
  'onFileStart' | 'onProgress' | 'onFileVerified' | 'onRetry'
>;

/** A progress bar per file (bytes, rate, ETA), for a terminal. */
function barProgress(stream: NodeJS.WritableStream): {
  callbacks: ProgressCallbacks;
  stop(): void;
} {
  const bars = new MultiBar({
    stream,
    format: ' {file} [{bar}] {percentage}% {done}/{size} {rate} ETA {eta}',
    barsize: 16,
    hideCursor: true,
    autopadding: true,
  });
  const byFile = new Map<string, ReturnType<MultiBar['create']>>();
  return {
    callbacks: {
      onFileStart: ({ file, totalBytes }) => {
        byFile.set(
          file,
          bars.create(Math.max(totalBytes, 1), 0, {
            file,
            done: formatBytes(0),
            size: formatBytes(totalBytes),
            rate: '',
            eta: '--',
          }),
        );
      },
      onProgress: ({ file, bytes, bytesPerSecond, etaSeconds }) => {
        byFile.get(file)?.update(bytes, {
          done: formatBytes(bytes),
          rate: bytesPerSecond > 0 ? `${formatBytes(bytesPerSecond)}/s` : '',
          eta: formatSeconds(etaSeconds),
        });
      },
      onRetry: ({ file, attempt, attempts, delayMs, reason }) => {
        bars.log(
          `${file}: ${reason}, retrying in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt}/${attempts})\n`,
        );
      },
    },
    stop: () => bars.stop(),
  };
}

/** Plain lines on stderr when there is no terminal (logs, CI, pipes). */
function lineProgress(io: CliIo): { callbacks: ProgressCallbacks; stop(): void } {
  const started = new Map<string, number>();
  return {
    callbacks: {
      onFileStart: ({ file, totalBytes }) => {
        started.set(file, Date.now());
        io.writeStderr(`downloading ${file} (${formatBytes(totalBytes)})`);
      },
      onFileVerified: ({ file, bytes }) => {
        const seconds = (Date.now() - (started.get(file) ?? Date.now())) / 1000;
        const rate = seconds > 0 ? `, ${formatBytes(bytes / seconds)}/s` : '';
        io.writeStderr(`verified ${file}: ${formatBytes(bytes)}, size and md5 match${rate}`);
      },
      onRetry: ({ file, attempt, attempts, delayMs, reason }) => {
        io.writeStderr(
          `${file}: ${reason}, retrying in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt}/${attempts})`,
        );
      },
    },
    stop: () => undefined,
  };
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
  if (error instanceof PiperError || error instanceof VoiceCatalogueError) return error.message;
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  return (code ? `${code}: ` : '') + message.split('\n')[0];
}
