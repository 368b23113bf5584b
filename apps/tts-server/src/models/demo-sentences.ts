/**
 * What a voice says when it has no recorded demo: one short sentence in its own
 * language, so the sample shows how the voice sounds on text it was trained for. The
 * table is keyed by the language family of the voice config (docs/PIPER.md §2
 * `language.family`, e.g. "en", "de"); languages without an entry fall back to
 * English, which espeak-ng still phonemizes with the voice's own rules.
 */
import type { VoiceConfig } from '@app/piper';

export const DEFAULT_DEMO_LANGUAGE = 'en';

export const DEMO_SENTENCES: Readonly<Record<string, string>> = {
  ar: 'مرحبا! هذا مثال على هذا الصوت.',
  ca: "Hola! Aquesta és una mostra d'aquesta veu.",
  cs: 'Dobrý den! Toto je ukázka tohoto hlasu.',
  cy: "Helo! Dyma enghraifft o'r llais hwn.",
  da: 'Hej! Dette er en prøve på denne stemme.',
  de: 'Hallo! Dies ist eine Hörprobe dieser Stimme.',
  el: 'Γεια σας! Αυτό είναι ένα δείγμα αυτής της φωνής.',
  en: 'Hello! This is a sample of this voice, speaking through Piper text to speech.',
  es: '¡Hola! Esta es una muestra de esta voz.',
  fa: 'سلام! این نمونه‌ای از این صدا است.',
  fi: 'Hei! Tämä on näyte tästä äänestä.',
  fr: 'Bonjour ! Ceci est un exemple de cette voix.',
  hu: 'Helló! Ez egy minta ebből a hangból.',
  is: 'Halló! Þetta er sýnishorn af þessari rödd.',
  it: 'Ciao! Questo è un esempio di questa voce.',
  nl: 'Hallo! Dit is een voorbeeld van deze stem.',
  no: 'Hei! Dette er en prøve av denne stemmen.',
  pl: 'Cześć! To jest próbka tego głosu.',
  pt: 'Olá! Esta é uma amostra desta voz.',
  ro: 'Bună! Aceasta este o mostră a acestei voci.',
  ru: 'Здравствуйте! Это пример звучания этого голоса.',
  sk: 'Dobrý deň! Toto je ukážka tohto hlasu.',
  sr: 'Здраво! Ово је пример овог гласа.',
  sv: 'Hej! Det här är ett prov på den här rösten.',
  sw: 'Habari! Huu ni mfano wa sauti hii.',
  tr: 'Merhaba! Bu, bu sesten bir örnektir.',
  uk: 'Привіт! Це зразок цього голосу.',
  vi: 'Xin chào! Đây là mẫu của giọng nói này.',
  zh: '你好！这是这个声音的示例。',
};

/**
 * The voice's language family: `language.family`, else the part of `language.code`
 * before "_" ("nb_NO" → "nb"), else of the espeak-ng voice before "-" ("en-us" → "en").
 */
export function demoLanguage(config: VoiceConfig): string {
  const { family, code } = config.language;
  const language = family || code?.split('_')[0] || config.espeakVoice.split('-')[0];
  return language.toLowerCase();
}

/** The demo sentence for this voice (English when its language has none). */
export function demoSentence(config: VoiceConfig): string {
  const language = demoLanguage(config);
  // Norwegian voices are published as family "no" with code "nb_NO".
  const key = language === 'nb' || language === 'nn' ? 'no' : language;
  return Object.hasOwn(DEMO_SENTENCES, key)
    ? DEMO_SENTENCES[key]
    : DEMO_SENTENCES[DEFAULT_DEMO_LANGUAGE];
}
