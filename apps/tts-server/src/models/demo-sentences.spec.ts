import { parseVoiceConfig, type VoiceConfig } from '@app/piper';
import { DEMO_SENTENCES, demoLanguage, demoSentence } from './demo-sentences';

/** A minimal valid config with this `language` object and espeak-ng voice (docs/PIPER.md §2). */
function configWith(language: Record<string, string>, espeakVoice: string): VoiceConfig {
  return parseVoiceConfig(
    {
      audio: { sample_rate: 22050 },
      espeak: { voice: espeakVoice },
      phoneme_id_map: { _: [0], '^': [1], $: [2] },
      language,
    },
    'test.onnx.json',
  );
}

describe(demoSentence.name, () => {
  it('speaks the language family of the voice', () => {
    expect(demoSentence(configWith({ family: 'de', code: 'de_DE' }, 'de'))).toBe(
      DEMO_SENTENCES['de'],
    );
    expect(demoSentence(configWith({ family: 'zh', code: 'zh_CN' }, 'cmn'))).toBe(
      DEMO_SENTENCES['zh'],
    );
  });

  it('falls back from family to language code to espeak voice', () => {
    expect(demoLanguage(configWith({ code: 'fr_FR' }, 'fr-fr'))).toBe('fr');
    expect(demoLanguage(configWith({}, 'es-419'))).toBe('es');
  });

  it('speaks Norwegian for nb_NO voices', () => {
    expect(demoSentence(configWith({ code: 'nb_NO' }, 'nb'))).toBe(DEMO_SENTENCES['no']);
  });

  it('speaks English for a language it has no sentence for', () => {
    expect(demoSentence(configWith({ family: 'ka', code: 'ka_GE' }, 'ka'))).toBe(
      DEMO_SENTENCES['en'],
    );
    expect(demoSentence(configWith({ family: 'constructor' }, 'en-us'))).toBe(DEMO_SENTENCES['en']);
  });
});
