/**
 * The voice configuration file `<voice>.onnx.json` (docs/PIPER.md §2):
 * parsed once, validated field by field, with the format's defaults filled in.
 * Unknown fields are ignored so that configs from newer Piper versions still load.
 */
import { readFile } from 'node:fs/promises';
import { VoiceConfigError } from './errors';

export interface VoiceLanguage {
  code?: string;
  family?: string;
  region?: string;
  nameNative?: string;
  nameEnglish?: string;
  countryEnglish?: string;
}

export interface InferenceDefaults {
  noiseScale: number;
  lengthScale: number;
  noiseW: number;
}

export interface VoiceConfig {
  sampleRate: number;
  quality?: string;
  /** espeak-ng voice used to phonemize, e.g. "en-us"; empty for phoneme_type "text". */
  espeakVoice: string;
  inference: InferenceDefaults;
  /** "espeak" (default) or "text"; others are reported as unsupported when used. */
  phonemeType: string;
  /** Optional phoneme → phonemes substitutions applied before the id lookup. */
  phonemeMap: Readonly<Record<string, readonly string[]>>;
  phonemeIdMap: Readonly<Record<string, readonly number[]>>;
  numSymbols: number;
  numSpeakers: number;
  speakerIdMap: Readonly<Record<string, number>>;
  defaultSpeakerId: number;
  /** Samples per model frame. */
  hopLength: number;
  /** Phoneme sequences merged into one symbol after phonemization (newer configs). */
  vowelClusters: readonly (readonly string[])[];
  language: VoiceLanguage;
  dataset?: string;
  piperVersion?: string;
}

/** Symbols every phoneme_id_map must define (docs/PIPER.md §4): pad, start, end. */
export const PAD = '_';
export const BOS = '^';
export const EOS = '$';

const DEFAULT_INFERENCE: InferenceDefaults = { noiseScale: 0.667, lengthScale: 1, noiseW: 0.8 };

/** Reads and validates `<voice>.onnx.json`; every failure names the file and the field. */
export async function loadVoiceConfig(configPath: string): Promise<VoiceConfig> {
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'unreadable';
    throw new VoiceConfigError(configPath, undefined, `${reason} (${(error as Error).message})`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new VoiceConfigError(configPath, undefined, `invalid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseVoiceConfig(json, configPath);
}

/** Validates an already-parsed config object; `file` is used in error messages. */
export function parseVoiceConfig(json: unknown, file: string): VoiceConfig {
  const fail = (field: string, detail: string): never => {
    throw new VoiceConfigError(file, field, detail);
  };
  if (!isObject(json)) return fail('(root)', 'expected a JSON object');

  const audio = optionalObject(json, 'audio', fail) ?? fail('audio', 'missing');
  const sampleRate = audio['sample_rate'];
  if (sampleRate === undefined) fail('audio.sample_rate', 'missing');
  if (!isPositiveInteger(sampleRate)) fail('audio.sample_rate', 'must be a positive integer');

  const phonemeType = optionalString(json, 'phoneme_type', fail) ?? 'espeak';
  const espeak = optionalObject(json, 'espeak', fail);
  const espeakVoice = espeak ? optionalString(espeak, 'voice', fail, 'espeak.voice') : undefined;
  if (phonemeType === 'espeak' && !espeakVoice) {
    fail('espeak.voice', 'missing (required when phoneme_type is "espeak")');
  }

  const phonemeIdMap = json['phoneme_id_map'];
  if (phonemeIdMap === undefined) fail('phoneme_id_map', 'missing');
  if (!isObject(phonemeIdMap)) return fail('phoneme_id_map', 'must be an object');
  for (const [symbol, ids] of Object.entries(phonemeIdMap)) {
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every(isNonNegativeInteger)) {
      fail(`phoneme_id_map[${JSON.stringify(symbol)}]`, 'must be a non-empty array of ids');
    }
  }
  for (const symbol of [PAD, BOS, EOS]) {
    if (!(symbol in phonemeIdMap)) fail(`phoneme_id_map[${JSON.stringify(symbol)}]`, 'missing');
  }

  const phonemeMap = optionalObject(json, 'phoneme_map', fail) ?? {};
  for (const [symbol, replacement] of Object.entries(phonemeMap)) {
    if (!Array.isArray(replacement) || !replacement.every((p) => typeof p === 'string')) {
      fail(`phoneme_map[${JSON.stringify(symbol)}]`, 'must be an array of phonemes');
    }
  }

  const numSpeakers = optionalNumber(json, 'num_speakers', fail) ?? 1;
  if (!isPositiveInteger(numSpeakers)) fail('num_speakers', 'must be a positive integer');
  const speakerIdMap = optionalObject(json, 'speaker_id_map', fail) ?? {};
  for (const [speaker, id] of Object.entries(speakerIdMap)) {
    if (!isNonNegativeInteger(id) || id >= numSpeakers) {
      fail(
        `speaker_id_map[${JSON.stringify(speaker)}]`,
        `must be an id below num_speakers (${numSpeakers})`,
      );
    }
  }
  const defaultSpeakerId = optionalNumber(json, 'default_speaker_id', fail) ?? 0;
  if (!isNonNegativeInteger(defaultSpeakerId) || defaultSpeakerId >= numSpeakers) {
    fail('default_speaker_id', `must be an id below num_speakers (${numSpeakers})`);
  }

  const inference = optionalObject(json, 'inference', fail) ?? {};
  const scale = (key: string, fallback: number): number => {
    const value = optionalNumber(inference, key, fail, `inference.${key}`) ?? fallback;
    if (!Number.isFinite(value) || value < 0)
      fail(`inference.${key}`, 'must be a non-negative number');
    return value;
  };

  const hopLength = optionalNumber(json, 'hop_length', fail) ?? 256;
  if (!isPositiveInteger(hopLength)) fail('hop_length', 'must be a positive integer');
  const numSymbols = optionalNumber(json, 'num_symbols', fail) ?? 256;

  const vowelClusters = parseVowelClusters(json['vowel_clusters'], fail);
  const language = optionalObject(json, 'language', fail) ?? {};

  return {
    sampleRate: sampleRate as number,
    quality: typeof audio['quality'] === 'string' ? audio['quality'] : undefined,
    espeakVoice: espeakVoice ?? '',
    inference: {
      noiseScale: scale('noise_scale', DEFAULT_INFERENCE.noiseScale),
      lengthScale: scale('length_scale', DEFAULT_INFERENCE.lengthScale),
      noiseW: scale('noise_w', DEFAULT_INFERENCE.noiseW),
    },
    phonemeType,
    phonemeMap: phonemeMap as Record<string, string[]>,
    phonemeIdMap: phonemeIdMap as Record<string, number[]>,
    numSymbols,
    numSpeakers,
    speakerIdMap: speakerIdMap as Record<string, number>,
    defaultSpeakerId,
    hopLength,
    vowelClusters,
    language: {
      code: stringOrUndefined(language['code']),
      family: stringOrUndefined(language['family']),
      region: stringOrUndefined(language['region']),
      nameNative: stringOrUndefined(language['name_native']),
      nameEnglish: stringOrUndefined(language['name_english']),
      countryEnglish: stringOrUndefined(language['country_english']),
    },
    dataset: stringOrUndefined(json['dataset']),
    piperVersion: stringOrUndefined(json['piper_version']),
  };
}

type Fail = (field: string, detail: string) => never;

/** Accepts a list of clusters, each a string ("aɪ") or a list of phonemes (["a", "ɪ"]). */
function parseVowelClusters(value: unknown, fail: Fail): string[][] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return fail('vowel_clusters', 'must be an array');
  return value.map((cluster, index) => {
    if (typeof cluster === 'string') return Array.from(cluster.normalize('NFD'));
    if (Array.isArray(cluster) && cluster.every((p) => typeof p === 'string')) {
      return cluster;
    }
    return fail(`vowel_clusters[${index}]`, 'must be a string or an array of phonemes');
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function optionalObject(
  parent: Record<string, unknown>,
  key: string,
  fail: Fail,
  field = key,
): Record<string, unknown> | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return fail(field, 'must be an object');
  return value;
}

function optionalString(
  parent: Record<string, unknown>,
  key: string,
  fail: Fail,
  field = key,
): string | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return fail(field, 'must be a string');
  return value;
}

function optionalNumber(
  parent: Record<string, unknown>,
  key: string,
  fail: Fail,
  field = key,
): number | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) return fail(field, 'must be a number');
  return value;
}
