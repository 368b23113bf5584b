/**
 * The voices installed in a MODEL_DIR, read the way the server's registry reads them
 * (directory layout `<voice>/<voice>.onnx` first, then flat `<voice>.onnx`; dot-names
 * skipped), but only for listing: a voice counts when its `.onnx` and `.onnx.json`
 * are both there, and the config is read just for language, quality and speakers.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VOICE_NAME_PATTERN } from './catalogue';

export interface InstalledVoice {
  name: string;
  layout: 'directory' | 'flat';
  modelPath: string;
  /** Size of the `.onnx` file. */
  sizeBytes: number;
  languageCode?: string;
  quality?: string;
  numSpeakers?: number;
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const stats = await stat(path);
    return stats.isFile() ? stats.size : undefined;
  } catch {
    return undefined;
  }
}

async function describe(
  name: string,
  layout: InstalledVoice['layout'],
  modelPath: string,
): Promise<InstalledVoice | undefined> {
  const sizeBytes = await fileSize(modelPath);
  if (sizeBytes === undefined || (await fileSize(`${modelPath}.json`)) === undefined) {
    return undefined;
  }
  const voice: InstalledVoice = { name, layout, modelPath, sizeBytes };
  try {
    const config = JSON.parse(await readFile(`${modelPath}.json`, 'utf8')) as {
      language?: { code?: unknown };
      audio?: { quality?: unknown };
      num_speakers?: unknown;
    };
    if (typeof config.language?.code === 'string') voice.languageCode = config.language.code;
    if (typeof config.audio?.quality === 'string') voice.quality = config.audio.quality;
    if (typeof config.num_speakers === 'number') voice.numSpeakers = config.num_speakers;
  } catch {
    // Listed all the same: the server's registry is the one that reports bad configs.
  }
  return voice;
}

/** Installed voices in name order; an absent MODEL_DIR has none. */
export async function listInstalledVoices(modelDir: string): Promise<InstalledVoice[]> {
  let entries: string[];
  try {
    entries = (await readdir(modelDir)).sort();
  } catch {
    return [];
  }
  const found = new Map<string, InstalledVoice>();
  for (const entry of entries) {
    if (entry.startsWith('.') || !VOICE_NAME_PATTERN.test(entry)) continue;
    const voice = await describe(entry, 'directory', join(modelDir, entry, `${entry}.onnx`));
    if (voice) found.set(entry, voice);
  }
  for (const entry of entries) {
    const name = entry.endsWith('.onnx') ? entry.slice(0, -'.onnx'.length) : '';
    if (!VOICE_NAME_PATTERN.test(name) || found.has(name)) continue;
    const voice = await describe(name, 'flat', join(modelDir, entry));
    if (voice) found.set(name, voice);
  }
  return [...found.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
