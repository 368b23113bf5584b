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

/** The Content-Type of each format; raw PCM names its rate and channel count. */
export function contentTypeOf(format: AudioFormat, sampleRate: number): string {
  switch (format) {
    case 'wav':
      return 'audio/wav';
    case 'pcm':
      return `audio/pcm;rate=${sampleRate};channels=1`;
    case 'mp3':
      return 'audio/mpeg';
    case 'opus':
      return 'audio/ogg; codecs=opus';
    case 'flac':
      return 'audio/flac';
    case 'aac':
      return 'audio/aac';
  }
}

/** File name extension of each format (Opus lives in an Ogg container). */
export function fileExtensionOf(format: AudioFormat): string {
  return format === 'opus' ? 'ogg' : format;
}
