/**
 * The audio formats the server answers in. `wav` and `pcm` are 16-bit mono PCM; the
 * others are compressed by encoders from the npm registry, so no system package is
 * needed for any of them.
 */
export const AUDIO_FORMATS = ['wav', 'pcm', 'mp3', 'opus', 'flac', 'aac'] as const;
export type AudioFormat = (typeof AUDIO_FORMATS)[number];

export function isAudioFormat(value: string): value is AudioFormat {
  return (AUDIO_FORMATS as readonly string[]).includes(value);
}

interface AudioFormatFacts {
  /** The media type alone, as an API document lists what a route produces. */
  readonly mediaType: string;
  /** What a response's Content-Type adds to the media type, if anything. */
  readonly parameters?: (sampleRate: number) => string;
  /** File name extension (Opus lives in an Ogg container). */
  readonly extension: string;
  /** The format in a few words, for API documentation. */
  readonly description: string;
}

/** Every fact about a format that a response or a document names, in one place. */
export const AUDIO_FORMAT_TABLE = {
  wav: {
    mediaType: 'audio/wav',
    extension: 'wav',
    description: 'wav (16-bit mono PCM in RIFF/WAVE)',
  },
  // Raw samples say nothing of themselves: the Content-Type names rate and channels.
  pcm: {
    mediaType: 'audio/pcm',
    parameters: (sampleRate) => `;rate=${sampleRate};channels=1`,
    extension: 'pcm',
    description: 'pcm (raw 16-bit little-endian mono samples)',
  },
  mp3: { mediaType: 'audio/mpeg', extension: 'mp3', description: 'mp3 (64 kbit/s)' },
  opus: {
    mediaType: 'audio/ogg',
    parameters: () => '; codecs=opus',
    extension: 'ogg',
    description: 'opus (in Ogg, 32 kbit/s)',
  },
  flac: { mediaType: 'audio/flac', extension: 'flac', description: 'flac (lossless)' },
  aac: { mediaType: 'audio/aac', extension: 'aac', description: 'aac (in ADTS, 64 kbit/s)' },
} as const satisfies Record<AudioFormat, AudioFormatFacts>;

const facts = (format: AudioFormat): AudioFormatFacts => AUDIO_FORMAT_TABLE[format];

/** The Content-Type of a response in `format` of audio at `sampleRate`. */
export function contentTypeOf(format: AudioFormat, sampleRate: number): string {
  const { mediaType, parameters } = facts(format);
  return parameters ? mediaType + parameters(sampleRate) : mediaType;
}

/** The media types of `formats`, once each, in their order (for OpenAPI's `produces`). */
export function mediaTypesOf(formats: readonly AudioFormat[]): string[] {
  return [...new Set(formats.map((format) => facts(format).mediaType))];
}

/** File name extension of each format. */
export function fileExtensionOf(format: AudioFormat): string {
  return facts(format).extension;
}

/** `formats` in a few words each, joined for an API document: "wav (…), mp3 (…) or flac (…)". */
export function describeFormats(formats: readonly AudioFormat[]): string {
  const words = formats.map((format) => facts(format).description);
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
}
