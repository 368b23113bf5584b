/**
 * SSML attribute values as Piper's controls: a rate is a factor on `length_scale`
 * (docs/PIPER.md §2: larger is slower), a volume a factor on the peak-normalised
 * samples (§6, piper1-gpl's `volume`), a break a number of seconds. Each parser returns
 * undefined for a value it does not understand; the document parser turns that into an
 * SsmlSyntaxError with the position.
 */

/** The longest single `<break>`: longer pauses are refused, not silently shortened. */
export const MAX_BREAK_SECONDS = 10;

/** `<break strength>` in seconds; a bare `<break/>` is `medium`. */
export const BREAK_STRENGTH_SECONDS: Readonly<Record<string, number>> = {
  none: 0,
  'x-weak': 0.1,
  weak: 0.2,
  medium: 0.4,
  strong: 0.7,
  'x-strong': 1.2,
};

/** The pause between two paragraphs (`<p>`), on top of the sentence silence. */
export const PARAGRAPH_PAUSE_SECONDS = BREAK_STRENGTH_SECONDS.strong;

/** `<prosody rate>` keywords as speaking speed (1 = the voice's own). */
const RATE_KEYWORDS: Readonly<Record<string, number>> = {
  'x-slow': 0.5,
  slow: 0.75,
  medium: 1,
  default: 1,
  fast: 1.25,
  'x-fast': 1.6,
};

/** `<prosody volume>` keywords in decibels; `silent` is zero. */
const VOLUME_KEYWORDS_DB: Readonly<Record<string, number>> = {
  'x-soft': -12,
  soft: -6,
  medium: 0,
  default: 0,
  loud: 3,
  'x-loud': 6,
};

/** `<emphasis level>` as speaking speed: emphasis is slower speech. */
const EMPHASIS_SPEED: Readonly<Record<string, number>> = {
  strong: 0.75,
  moderate: 0.85,
  none: 1,
  reduced: 1.1,
};

/** "250ms", "1s", "1.5s" in seconds, within 0 … MAX_BREAK_SECONDS. */
export function parseTime(value: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s)\s*$/.exec(value);
  if (!match) return undefined;
  const seconds = match[2] === 'ms' ? Number(match[1]) / 1000 : Number(match[1]);
  return seconds <= MAX_BREAK_SECONDS ? seconds : undefined;
}

/**
 * A `rate` as the factor on length_scale: "50%" is half speed (× 2), "x-fast" is 1.6
 * times the speed, "+20%" and "-20%" are relative to the voice's speed, a bare number
 * (SSML 1.0) is a speed multiplier.
 */
export function parseRate(value: string): number | undefined {
  const text = value.trim().toLowerCase();
  const keyword = RATE_KEYWORDS[text];
  if (keyword !== undefined) return 1 / keyword;
  const match = /^([+-])?(\d+(?:\.\d+)?)(%)?$/.exec(text);
  if (!match) return undefined;
  const amount = Number(match[2]);
  let speed: number;
  if (match[1] !== undefined) {
    // Relative: "+20%" is 1.2 times as fast; "+0.2" the same.
    const delta = match[3] ? amount / 100 : amount;
    speed = 1 + (match[1] === '-' ? -delta : delta);
  } else {
    speed = match[3] ? amount / 100 : amount;
  }
  return speed > 0 ? 1 / speed : undefined;
}

/** A `volume` as a factor on the samples: "+6dB", "-3dB", keywords, "silent", "50%" or "+10%". */
export function parseVolume(value: string): number | undefined {
  const text = value.trim().toLowerCase();
  if (text === 'silent') return 0;
  const keyword = VOLUME_KEYWORDS_DB[text];
  if (keyword !== undefined) return decibelsToFactor(keyword);
  const decibels = /^([+-]?\d+(?:\.\d+)?)db$/.exec(text);
  if (decibels) return decibelsToFactor(Number(decibels[1]));
  const percent = /^([+-])?(\d+(?:\.\d+)?)%$/.exec(text);
  if (percent) {
    const amount = Number(percent[2]) / 100;
    if (percent[1] === undefined) return amount;
    const factor = 1 + (percent[1] === '-' ? -amount : amount);
    return factor >= 0 ? factor : undefined;
  }
  return undefined;
}

/** `<emphasis level>` as the factor on length_scale; a missing level is `moderate`. */
export function parseEmphasis(value: string | undefined): number | undefined {
  const speed = EMPHASIS_SPEED[(value ?? 'moderate').trim().toLowerCase()];
  return speed === undefined ? undefined : 1 / speed;
}

function decibelsToFactor(decibels: number): number {
  return 10 ** (decibels / 20);
}
