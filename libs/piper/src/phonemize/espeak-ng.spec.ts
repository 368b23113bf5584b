import { EspeakNg } from './espeak-ng';

describe(EspeakNg.name, () => {
  it('phonemizes "test" in en-us', async () => {
    const espeak = await EspeakNg.create();
    expect(espeak.setVoice('en-us')).toBe(true);
    expect(espeak.textToPhonemes('test')).toBe('t_ˈɛ_s_t');
    expect(espeak.setVoice('no-such-voice')).toBe(false);
  });
});
