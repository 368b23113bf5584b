import type { Command } from 'commander';
import { listInstalledVoices, type InstalledVoice } from '@app/voice-catalogue';
import type { CliIo } from '../cli-io';
import { formatBytes, table } from '../text-format';
import { openCatalogue, withCatalogueOptions, type CatalogueFlags } from './catalogue-flags';

interface VoicesListFlags extends CatalogueFlags {
  available?: boolean;
  language?: string;
  refresh?: boolean;
}

/** `voices list`: the installed voices, or with --available the catalogue's. */
export function addVoicesListCommand(voices: Command, io: CliIo): void {
  withCatalogueOptions(
    voices
      .command('list')
      .description('installed voices, or with --available the catalogue')
      .option('--available', 'list the catalogue: size, quality, speakers, installed or not')
      .option('--language <code>', 'only this language: en_GB, or a family such as en')
      .option('--refresh', 'fetch voices.json again even when the cached copy is recent'),
    io,
  ).action(async (flags: VoicesListFlags) => {
    const installed = await listInstalledVoices(flags.modelDir);
    if (flags.available) await listAvailable(io, flags, installed);
    else listInstalled(io, flags, installed);
  });
}

function listInstalled(io: CliIo, flags: VoicesListFlags, installed: InstalledVoice[]): void {
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
}

async function listAvailable(
  io: CliIo,
  flags: VoicesListFlags,
  installed: InstalledVoice[],
): Promise<void> {
  const catalogue = await openCatalogue(flags, io).load({ refresh: flags.refresh });
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
}
