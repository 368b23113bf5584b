import {
  AUDIO_FORMATS,
  contentTypeOf,
  describeFormats,
  fileExtensionOf,
  mediaTypesOf,
} from './audio-format';

describe('audio formats', () => {
  it('names each format the Content-Type players and browsers expect', () => {
    const byFormat = Object.fromEntries(
      AUDIO_FORMATS.map((format) => [format, contentTypeOf(format, 22050)]),
    );
    expect(byFormat).toEqual({
      wav: 'audio/wav',
      pcm: 'audio/pcm;rate=22050;channels=1',
      mp3: 'audio/mpeg',
      opus: 'audio/ogg; codecs=opus',
      flac: 'audio/flac',
      aac: 'audio/aac',
    });
  });

  it('says the rate of raw PCM, which its bytes do not', () => {
    expect(contentTypeOf('pcm', 24000)).toBe('audio/pcm;rate=24000;channels=1');
    expect(contentTypeOf('wav', 24000)).toBe('audio/wav');
  });

  it('lists the media types a route produces, in order, without parameters', () => {
    expect(mediaTypesOf(['mp3', 'opus', 'pcm'])).toEqual(['audio/mpeg', 'audio/ogg', 'audio/pcm']);
  });

  it('saves Opus as .ogg, its container', () => {
    expect(AUDIO_FORMATS.map(fileExtensionOf)).toEqual(['wav', 'pcm', 'mp3', 'ogg', 'flac', 'aac']);
  });

  it('describes formats as one phrase for the API document', () => {
    expect(describeFormats(['flac'])).toBe('flac (lossless)');
    expect(describeFormats(['mp3', 'flac', 'aac'])).toBe(
      'mp3 (64 kbit/s), flac (lossless) or aac (in ADTS, 64 kbit/s)',
    );
  });
});
