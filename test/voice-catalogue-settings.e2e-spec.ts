/** The server settings of the voice catalogue: VOICES_BASE_URL and AUTO_DOWNLOAD. */
import { DEFAULT_VOICES_BASE_URL } from '@app/voice-catalogue';
import { validateSettings } from '../apps/tts-server/src/config/settings';

describe('voice catalogue settings', () => {
  it('default to the pinned public catalogue, downloading the default voice', () => {
    const settings = validateSettings({});
    expect(settings.VOICES_BASE_URL).toBe(DEFAULT_VOICES_BASE_URL);
    expect(DEFAULT_VOICES_BASE_URL).toMatch(
      /^https:\/\/huggingface\.co\/rhasspy\/piper-voices\/resolve\/[0-9a-f]{40}$/,
    );
    expect(settings.AUTO_DOWNLOAD).toBe(true);
  });

  it('take a mirror and AUTO_DOWNLOAD=off', () => {
    const settings = validateSettings({
      VOICES_BASE_URL: 'http://voices.internal:8080/piper',
      AUTO_DOWNLOAD: 'off',
    });
    expect(settings.VOICES_BASE_URL).toBe('http://voices.internal:8080/piper');
    expect(settings.AUTO_DOWNLOAD).toBe(false);
  });

  it('stop the boot on a base URL that is not http(s), naming the variable', () => {
    expect(() => validateSettings({ VOICES_BASE_URL: 'ftp://mirror/piper' })).toThrow(
      'VOICES_BASE_URL="ftp://mirror/piper": VOICES_BASE_URL must be an http:// or https:// URL',
    );
  });
});
