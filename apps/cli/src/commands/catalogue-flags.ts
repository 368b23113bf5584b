import type { Command } from 'commander';
import {
  DEFAULT_VOICES_BASE_URL,
  VoiceCatalogue,
  defaultCatalogueCacheDir,
} from '@app/voice-catalogue';
import type { CliIo } from '../cli-io';

/** The flags every `voices` command takes. */
export interface CatalogueFlags {
  modelDir: string;
  baseUrl: string;
}

/** `--model-dir` and `--base-url`, defaulting to MODEL_DIR and VOICES_BASE_URL as the server does. */
export function withCatalogueOptions(command: Command, io: CliIo): Command {
  const env = io.env ?? {};
  return command
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
}

/** The catalogue under --base-url, cached in <model-dir>/.catalogue. */
export function openCatalogue(flags: CatalogueFlags, io: CliIo): VoiceCatalogue {
  return new VoiceCatalogue({
    baseUrl: flags.baseUrl,
    cacheDir: defaultCatalogueCacheDir(flags.modelDir),
    retry: io.retry,
  });
}
