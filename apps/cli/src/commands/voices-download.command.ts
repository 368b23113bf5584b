import type { Command } from 'commander';
import { VoiceCatalogueError, downloadVoice } from '@app/voice-catalogue';
import type { CliIo } from '../cli-io';
import { openCatalogue, withCatalogueOptions, type CatalogueFlags } from './catalogue-flags';
import { barProgress, lineProgress } from './download-progress';

/** `voices download`: catalogue voices into the model directory, verified, with progress. */
export function addVoicesDownloadCommand(voices: Command, io: CliIo): void {
  withCatalogueOptions(
    voices
      .command('download')
      .description('download voices from the catalogue into the model directory, verified')
      .argument('<names...>', 'voice names, e.g. en_US-lessac-medium')
      .option('--force', 'download again even when the voice is installed'),
    io,
  ).action(async (names: string[], flags: CatalogueFlags & { force?: boolean }) => {
    const catalogue = await openCatalogue(flags, io).load();
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
