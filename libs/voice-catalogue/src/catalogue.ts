/**
 * Piper's voice catalogue: the `voices.json` at the root of VOICES_BASE_URL
 * (docs/PIPER.md §1: key = voice name; `language`, `quality`, `num_speakers`,
 * `speaker_id_map`, `aliases`, and `files`, a map from each file's path under the root
 * to `{size_bytes, md5_digest}`).
 *
 * The catalogue is fetched once and cached on disk; a copy younger than `maxAgeMs` is
 * used as is, an older one is refreshed, and when the refresh fails (offline) the old
 * copy is still used, marked stale, so `voices list --available` works on a plane.
 * The cache file is named after a hash of the base URL, so a mirror and the public
 * repository never mix.
 *
 * Nothing from the catalogue becomes a path before it is checked: voice names match
 * VOICE_NAME_PATTERN and file paths are relative segments of [A-Za-z0-9_.-] (no "..").
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CatalogueInvalidError, VoiceCatalogueError, VoiceNotInCatalogueError } from './errors';
import { exhaustedError, getOnce } from './http';
import { DEFAULT_RETRY_POLICY, classifyNetworkError, withRetry, type RetryPolicy } from './retry';
import { closeNames } from './close-names';

/**
 * The public catalogue, pinned: rhasspy/piper-voices at commit b23e0031… (the revision
 * Gentoo's piper-voices ebuild pins), so a given release of this server always
 * downloads the same bytes. Point VOICES_BASE_URL at `…/resolve/main` for the newest.
 */
export const DEFAULT_VOICES_BASE_URL =
  'https://huggingface.co/rhasspy/piper-voices/resolve/b23e00315cccfa7360b3a7f89b95da786efc4656';

/** Names a voice may have: the server's registry accepts exactly these (docs/PIPER.md §1). */
export const VOICE_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;

/** How long a cached voices.json is used before it is fetched again. */
export const DEFAULT_CATALOGUE_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export interface CatalogueLanguage {
  code: string;
  family: string;
  region: string;
  name_native: string;
  name_english: string;
  country_english: string;
}

export interface CatalogueFile {
  /** Path under the base URL, e.g. `en/en_US/lessac/medium/en_US-lessac-medium.onnx`. */
  path: string;
  sizeBytes: number;
  md5: string;
}

export interface CatalogueVoice {
  name: string;
  language: CatalogueLanguage;
  quality: string;
  numSpeakers: number;
  speakerIdMap: Record<string, number>;
  aliases: string[];
  /** Every file voices.json lists for the voice. */
  files: CatalogueFile[];
  /** Sum of the sizes of the files a download installs. */
  downloadBytes: number;
}

export interface CatalogueSource {
  /** Where the catalogue came from: its URL. */
  url: string;
  /** The cache file it was read from or written to. */
  cachePath: string;
  fetchedAt: Date;
  /** True when a refresh failed and an older cached copy is in use. */
  stale: boolean;
  /** Why the refresh failed, when stale. */
  staleReason?: string;
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** A catalogue path split into safe segments, or undefined. */
function safeSegments(path: string): string[] | undefined {
  const segments = path.split('/');
  return segments.every((segment) => SEGMENT.test(segment) && !segment.includes('..'))
    ? segments
    : undefined;
}

/** The files of a voice that a download installs: network, config, and card beside them. */
export function installedFiles(voice: CatalogueVoice): {
  model: CatalogueFile;
  config: CatalogueFile;
  card?: CatalogueFile;
} {
  const byName = (fileName: string): CatalogueFile | undefined =>
    voice.files.find((file) => file.path.split('/').pop() === fileName);
  const model = byName(`${voice.name}.onnx`);
  const config = byName(`${voice.name}.onnx.json`);
  if (!model || !config) {
    throw new CatalogueInvalidError(
      `entry "${voice.name}"`,
      `files must list ${voice.name}.onnx and ${voice.name}.onnx.json`,
    );
  }
  const dir = model.path.slice(0, model.path.lastIndexOf('/') + 1);
  const card = voice.files.find((file) => file.path === `${dir}MODEL_CARD`);
  return { model, config, card };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseVoice(key: string, raw: unknown): CatalogueVoice | undefined {
  if (!VOICE_NAME_PATTERN.test(key) || !isRecord(raw) || !isRecord(raw.files)) return undefined;
  const files: CatalogueFile[] = [];
  for (const [path, info] of Object.entries(raw.files)) {
    if (!safeSegments(path) || !isRecord(info)) return undefined;
    const { size_bytes: sizeBytes, md5_digest: md5 } = info;
    if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
      return undefined;
    }
    if (typeof md5 !== 'string' || !/^[0-9a-f]{32}$/i.test(md5)) return undefined;
    files.push({ path, sizeBytes, md5: md5.toLowerCase() });
  }
  const language = isRecord(raw.language) ? raw.language : {};
  const text = (value: unknown): string => (typeof value === 'string' ? value : '');
  const speakerIdMap = isRecord(raw.speaker_id_map)
    ? (Object.fromEntries(
        Object.entries(raw.speaker_id_map).filter(([, id]) => typeof id === 'number'),
      ) as Record<string, number>)
    : {};
  const voice: CatalogueVoice = {
    name: key,
    language: {
      code: text(language.code),
      family: text(language.family),
      region: text(language.region),
      name_native: text(language.name_native),
      name_english: text(language.name_english),
      country_english: text(language.country_english),
    },
    quality: text(raw.quality),
    numSpeakers: typeof raw.num_speakers === 'number' ? raw.num_speakers : 1,
    speakerIdMap,
    aliases: Array.isArray(raw.aliases)
      ? raw.aliases.filter((alias): alias is string => typeof alias === 'string')
      : [],
    files,
    downloadBytes: 0,
  };
  try {
    const { model, config, card } = installedFiles(voice);
    voice.downloadBytes = model.sizeBytes + config.sizeBytes + (card?.sizeBytes ?? 0);
  } catch {
    return undefined;
  }
  return voice;
}

/** Parses voices.json; entries that are malformed or unsafe are left out (and named). */
export function parseCatalogue(
  text: string,
  source: string,
): { voices: Map<string, CatalogueVoice>; skipped: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new CatalogueInvalidError(source, 'not JSON', { cause: error });
  }
  if (!isRecord(raw)) throw new CatalogueInvalidError(source, 'not a JSON object of voices');
  const voices = new Map<string, CatalogueVoice>();
  const skipped: string[] = [];
  for (const key of Object.keys(raw).sort()) {
    const voice = parseVoice(key, raw[key]);
    if (voice) voices.set(key, voice);
    else skipped.push(key);
  }
  return { voices, skipped };
}

/** A loaded catalogue: its voices, where it came from, and URLs of its files. */
export class Catalogue {
  private readonly aliases = new Map<string, string>();

  constructor(
    readonly baseUrl: string,
    readonly voices: ReadonlyMap<string, CatalogueVoice>,
    readonly source: CatalogueSource,
    /** Entries of voices.json left out because they were malformed or unsafe. */
    readonly skipped: readonly string[] = [],
    /** Retry policy for downloads of this catalogue's files. */
    readonly retry: RetryPolicy = DEFAULT_RETRY_POLICY,
  ) {
    for (const voice of voices.values()) {
      for (const alias of voice.aliases) this.aliases.set(alias, voice.name);
    }
  }

  /** The voice by name or alias; VoiceNotInCatalogueError with close names otherwise. */
  get(name: string): CatalogueVoice {
    const voice = this.voices.get(name) ?? this.voices.get(this.aliases.get(name) ?? '');
    if (!voice) throw new VoiceNotInCatalogueError(name, closeNames(name, [...this.voices.keys()]));
    return voice;
  }

  /**
   * Voices in name order; `language` keeps those whose code is it (`en_GB`) or, given
   * a bare family (`en`), those of that family; case-insensitive, `-` same as `_`.
   */
  list(filter: { language?: string } = {}): CatalogueVoice[] {
    const wanted = filter.language?.trim().toLowerCase().replace(/-/g, '_');
    return [...this.voices.values()].filter(
      (voice) =>
        !wanted ||
        voice.language.code.toLowerCase() === wanted ||
        (!wanted.includes('_') && voice.language.family.toLowerCase() === wanted),
    );
  }

  /** The URL of a catalogue path under the base URL, each segment encoded. */
  urlOf(path: string): string {
    return `${this.baseUrl}/${path.split('/').map(encodeURIComponent).join('/')}`;
  }
}

export interface VoiceCatalogueOptions {
  /** VOICES_BASE_URL: the root holding voices.json and every catalogue path. */
  baseUrl?: string;
  /** Where voices.json is cached (e.g. `<MODEL_DIR>/.catalogue`). */
  cacheDir: string;
  maxAgeMs?: number;
  retry?: Partial<RetryPolicy>;
}

/** The directory a catalogue cache lives in by default: a dot-directory in MODEL_DIR. */
export function defaultCatalogueCacheDir(modelDir: string): string {
  return join(modelDir, '.catalogue');
}

/** Base URL without trailing slashes; throws on anything but http(s). */
export function normalizeBaseUrl(baseUrl: string): string {
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch {
    throw new CatalogueInvalidError(baseUrl, 'VOICES_BASE_URL is not a URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CatalogueInvalidError(baseUrl, 'VOICES_BASE_URL must be http:// or https://');
  }
  return baseUrl.replace(/\/+$/, '');
}

/** Fetches voices.json from a base URL and keeps it cached on disk. */
export class VoiceCatalogue {
  readonly baseUrl: string;
  readonly retry: RetryPolicy;
  private readonly cacheDir: string;
  private readonly maxAgeMs: number;

  constructor(options: VoiceCatalogueOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl ?? DEFAULT_VOICES_BASE_URL);
    this.cacheDir = options.cacheDir;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_CATALOGUE_MAX_AGE_MS;
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  }

  get url(): string {
    return `${this.baseUrl}/voices.json`;
  }

  get cachePath(): string {
    const key = createHash('sha256').update(this.baseUrl).digest('hex').slice(0, 16);
    return join(this.cacheDir, `voices-${key}.json`);
  }

  /**
   * The catalogue: the cached copy while it is younger than maxAgeMs (unless
   * `refresh`), else fetched anew; a failed fetch falls back to a cached copy of any age.
   */
  async load(options: { refresh?: boolean; signal?: AbortSignal } = {}): Promise<Catalogue> {
    const cached = await this.readCache();
    if (cached && !options.refresh && Date.now() - cached.fetchedAt.getTime() < this.maxAgeMs) {
      return this.build(cached.text, cached.fetchedAt, false);
    }
    let text: string;
    try {
      text = await this.fetchText(options.signal);
      // Parse before caching, so a broken answer never replaces a good copy.
      parseCatalogue(text, this.url);
    } catch (error) {
      if (cached && error instanceof VoiceCatalogueError) {
        return this.build(cached.text, cached.fetchedAt, true, error.message);
      }
      throw error;
    }
    await this.writeCache(text);
    return this.build(text, new Date(), false);
  }

  private build(text: string, fetchedAt: Date, stale: boolean, staleReason?: string): Catalogue {
    const { voices, skipped } = parseCatalogue(text, stale ? this.cachePath : this.url);
    return new Catalogue(
      this.baseUrl,
      voices,
      { url: this.url, cachePath: this.cachePath, fetchedAt, stale, staleReason },
      skipped,
      this.retry,
    );
  }

  private async fetchText(signal?: AbortSignal): Promise<string> {
    try {
      return await withRetry(
        this.retry,
        async () => {
          const { response, watchdog } = await getOnce(this.url, this.retry, {}, signal);
          try {
            return await response.text();
          } catch (error) {
            throw classifyNetworkError(error, watchdog.stalled);
          } finally {
            watchdog.dispose();
          }
        },
        undefined,
        signal,
      );
    } catch (error) {
      throw exhaustedError(this.url, error, this.retry.attempts);
    }
  }

  private async readCache(): Promise<{ text: string; fetchedAt: Date } | undefined> {
    try {
      const [text, stats] = await Promise.all([
        readFile(this.cachePath, 'utf8'),
        stat(this.cachePath),
      ]);
      return { text, fetchedAt: stats.mtime };
    } catch {
      return undefined;
    }
  }

  /** Written beside, then renamed: a reader never sees half a catalogue. */
  private async writeCache(text: string): Promise<void> {
    await mkdir(this.cacheDir, { recursive: true });
    const temp = `${this.cachePath}.${randomBytes(6).toString('hex')}.part`;
    try {
      await writeFile(temp, text, 'utf8');
      await rename(temp, this.cachePath);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }
}
