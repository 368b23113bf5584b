import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { AUDIO_FORMATS, encodeAudio, type AudioFormat } from '@app/audio-formats';
import type { SynthesisOptions } from '@app/piper';
import { number, positiveInteger } from '../cli-arguments';
import type { CliIo } from '../cli-io';
import { withVoice, withVoiceFileOptions, type VoiceFileFlags } from './voice-file';

interface SynthFlags extends VoiceFileFlags {
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

/** `synth`: a text to one audio file (or stdout) in any format of @app/audio-formats. */
export function addSynthCommand(program: Command, io: CliIo): void {
  withVoiceFileOptions(
    program
      .command('synth')
      .description('synthesize text (--text or stdin) to WAV, raw PCM, MP3, Opus, FLAC or AAC'),
    'speak',
  )
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
    .action((flags: SynthFlags) =>
      withVoice(io, flags, flags.threads, async (voice, text) => {
        const options: SynthesisOptions = {
          speaker: flags.speaker,
          lengthScale: flags.lengthScale,
          noiseScale: flags.noiseScale,
          noiseW: flags.noiseW,
          sentenceSilenceSeconds: flags.sentenceSilence,
          volume: flags.volume,
        };
        const result = await voice.synthesizeAll(text, options);
        const data = await encodeAudio(flags.format, result.pcm, result.sampleRate);
        if (flags.output === '-') io.writeStdout(data);
        else await writeFile(flags.output, data);
      }),
    );
}
