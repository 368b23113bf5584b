import { Settings, validateSettings } from './settings';

describe(Settings.name, () => {
  it('has the documented defaults', () => {
    const settings = validateSettings({});
    expect(settings).toMatchObject({
      HOST: '0.0.0.0',
      PORT: 5000,
      MODEL_DIR: './models',
      MAX_TEXT_LENGTH: 500,
      DEFAULT_SPEAKER: '0',
      RATE_LIMIT_REQUESTS: 60,
      RATE_LIMIT_WINDOW: 60,
      TTS_RATE_LIMIT_REQUESTS: 10,
      MAX_CONCURRENT_REQUESTS: 10,
      ENABLE_CACHING: true,
      CACHE_TTL: 3600,
      ENABLE_CORS: true,
      ALLOWED_ORIGINS: ['*'],
      OPENAI_PCM_SAMPLE_RATE: 24000,
      SENTENCE_PREEMPTION: true,
    });
    expect(settings.WORKERS).toBeGreaterThanOrEqual(1);
    expect(settings.workerThreads).toBeGreaterThanOrEqual(1);
  });

  it('converts environment strings and ignores unrelated variables', () => {
    const settings = validateSettings({
      PORT: '8080',
      ENABLE_CACHING: 'false',
      SENTENCE_PREEMPTION: 'false',
      DEBUG: 'yes',
      ALLOWED_ORIGINS: 'https://a.example, https://b.example',
      DEFAULT_MODEL: 'en_US-lessac-medium',
      PATH: '/usr/bin',
    });
    expect(settings.PORT).toBe(8080);
    expect(settings.ENABLE_CACHING).toBe(false);
    expect(settings.SENTENCE_PREEMPTION).toBe(false);
    expect(settings.DEBUG).toBe(true);
    expect(settings.ALLOWED_ORIGINS).toEqual(['https://a.example', 'https://b.example']);
    expect(settings.DEFAULT_MODEL).toBe('en_US-lessac-medium');
  });

  it('reads TRUST_PROXY as Express takes it', () => {
    expect(validateSettings({}).trustProxy).toBe(false);
    expect(validateSettings({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(validateSettings({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(validateSettings({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toBe(
      'loopback, 10.0.0.0/8',
    );
    expect(() => validateSettings({ TRUST_PROXY: 'yes; rm -rf' })).toThrow(/TRUST_PROXY must be/);
  });

  it('stops the boot with a message naming each bad variable', () => {
    expect(() => validateSettings({ PORT: 'eighty' })).toThrow(/PORT="eighty"/);
    expect(() => validateSettings({ MAX_TEXT_LENGTH: '0' })).toThrow(
      /MAX_TEXT_LENGTH="0": .*not be less than 1/,
    );
    expect(() => validateSettings({ ENABLE_CACHING: 'maybe' })).toThrow(/ENABLE_CACHING="maybe"/);
    expect(() => validateSettings({ DEFAULT_MODEL: '../etc' })).toThrow(
      /DEFAULT_MODEL must be a voice name/,
    );
    expect(() => validateSettings({ OPENAI_PCM_SAMPLE_RATE: '23000' })).toThrow(
      /OPENAI_PCM_SAMPLE_RATE must be 0 \(the voice's rate\) or one of 8000/,
    );
    expect(validateSettings({ OPENAI_PCM_SAMPLE_RATE: '0' }).OPENAI_PCM_SAMPLE_RATE).toBe(0);
    expect(() => validateSettings({ ADMIN_API_KEY: 'too-short' })).toThrow(
      /ADMIN_API_KEY must be at least 16 characters/,
    );
    expect(() => validateSettings({ API_KEYS: 'long-enough-key,short' })).toThrow(
      /API_KEYS: each key must be at least 8 characters/,
    );
    expect(validateSettings({ API_KEYS: ' a-long-key-1 , a-long-key-2 ' }).API_KEYS).toEqual([
      'a-long-key-1',
      'a-long-key-2',
    ]);
    expect(() => validateSettings({ PORT: '-1', WORKERS: 'many' })).toThrow(
      /PORT="-1".*WORKERS="many"/,
    );
  });

  it('reads the disk cache tier: CACHE_DIR (unset or empty: off) and CACHE_DISK_MAX_BYTES', () => {
    expect(validateSettings({}).cacheDir).toBeUndefined();
    expect(validateSettings({ CACHE_DIR: ' ' }).cacheDir).toBeUndefined();
    expect(validateSettings({}).CACHE_DISK_MAX_BYTES).toBe(1024 * 1024 * 1024);
    const settings = validateSettings({
      CACHE_DIR: '/var/cache/piper',
      CACHE_DISK_MAX_BYTES: '5000',
    });
    expect(settings.cacheDir).toBe('/var/cache/piper');
    expect(settings.CACHE_DISK_MAX_BYTES).toBe(5000);
    expect(() => validateSettings({ CACHE_DISK_MAX_BYTES: 'lots' })).toThrow(
      /CACHE_DISK_MAX_BYTES="lots": .*CACHE_DISK_MAX_BYTES must be a whole number of bytes/,
    );
    expect(() => validateSettings({ CACHE_DISK_MAX_BYTES: '-1' })).toThrow(
      /CACHE_DISK_MAX_BYTES must be 0 \(no disk tier\) or more/,
    );
  });
});
