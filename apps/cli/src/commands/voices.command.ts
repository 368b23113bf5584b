import type { Command } from 'commander';
import type { CliIo } from '../cli-io';
import { addVoicesDownloadCommand } from './voices-download.command';
import { addVoicesListCommand } from './voices-list.command';

/**
 * `voices list` and `voices download` (issue 5): the catalogue is voices.json under
 * --base-url, cached in <model-dir>/.catalogue (see @app/voice-catalogue).
 */
export function addVoicesCommand(program: Command, io: CliIo): void {
  const voices = program.command('voices').description('list and download Piper voices');
  addVoicesListCommand(voices, io);
  addVoicesDownloadCommand(voices, io);
}
