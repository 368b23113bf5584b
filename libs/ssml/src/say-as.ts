/**
 * `<say-as>` as text that espeak-ng reads the intended way. espeak-ng is the one that
 * knows each language's words for letters and numbers, so the text is only reshaped
 * into the forms its own rules speak: letters joined by dots ("c.a.t") are read as an
 * abbreviation, letter by letter with the language's letter names; digits apart are
 * read one by one; a number with an ordinal ending ("21st", "1er", "3.") is read as an
 * ordinal by the languages whose rules have one. The espeak-ng build here reads text
 * without SSML (docs/PIPER.md §9), so its own `<say-as>` cannot be asked for directly.
 */

/** The `interpret-as` values this server speaks. */
export const SAY_AS_KINDS = [
  'characters',
  'spell-out',
  'digits',
  'cardinal',
  'number',
  'ordinal',
  'date',
  'telephone',
] as const;
export type SayAsKind = (typeof SAY_AS_KINDS)[number];

export function isSayAsKind(value: string): value is SayAsKind {
  return (SAY_AS_KINDS as readonly string[]).includes(value);
}

const ENGLISH_MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** Date formats of `<say-as interpret-as="date" format>`: the order of day, month, year. */
const DATE_FORMATS = ['mdy', 'dmy', 'ymd', 'md', 'dm', 'ym', 'my', 'd', 'm', 'y'];

/**
 * `text` reshaped for espeak-ng in `espeakVoice` (e.g. "en-us", "de"). Undefined when
 * the content cannot be read that way (a date that is not one): the parser reports it.
 */
export function sayAsText(
  text: string,
  kind: SayAsKind,
  espeakVoice: string,
  format?: string,
): string | undefined {
  const content = text.trim();
  switch (kind) {
    case 'characters':
    case 'spell-out':
      return spelled(content);
    case 'digits':
      return content.replace(/\d/g, ' $& ').replace(/\s+/g, ' ').trim();
    case 'cardinal':
    case 'number':
      return /^[+-]?[\d.,\s]+$/.test(content) ? content.replace(/\s/g, '') : undefined;
    case 'ordinal':
      return /^\d+$/.test(content) ? ordinal(Number(content), espeakVoice) : undefined;
    case 'date':
      return date(content, format ?? 'ymd', espeakVoice);
    case 'telephone':
      return telephone(content);
  }
}

/** Whether a `format` is one `sayAsText` takes for this kind. */
export function isSayAsFormat(kind: SayAsKind, format: string | undefined): boolean {
  if (format === undefined) return true;
  return kind === 'date' ? DATE_FORMATS.includes(format) : true;
}

/**
 * Every word letter by letter: "cat" → "c.a.t" (espeak-ng reads dotted letters as an
 * abbreviation, by their names), digits apart ("a1" → "a 1"), words apart by a comma.
 */
function spelled(content: string): string {
  return content
    .split(/\s+/)
    .map((word) => {
      let spelledWord = '';
      let previousIsLetter = false;
      for (const char of word) {
        const isLetter = /\p{L}/u.test(char);
        if (!isLetter && !/\p{N}/u.test(char)) continue;
        if (spelledWord) spelledWord += isLetter && previousIsLetter ? '.' : ' ';
        spelledWord += char;
        previousIsLetter = isLetter;
      }
      return spelledWord;
    })
    .filter((word) => word.length > 0)
    .join(', ');
}

function ordinal(value: number, espeakVoice: string): string {
  const language = espeakVoice.split('-')[0];
  if (language === 'en') {
    const lastTwo = value % 100;
    const last = value % 10;
    const suffix =
      lastTwo >= 11 && lastTwo <= 13
        ? 'th'
        : last === 1
          ? 'st'
          : last === 2
            ? 'nd'
            : last === 3
              ? 'rd'
              : 'th';
    return `${value}${suffix}`;
  }
  if (language === 'fr') return value === 1 ? '1er' : `${value}e`;
  // German, the Nordic and Slavic languages and others write an ordinal with a dot.
  return `${value}.`;
}

/** A date of digits ("2024-03-05", "05/03/2024", "3/5") in the order `format` names. */
function date(content: string, format: string, espeakVoice: string): string | undefined {
  if (!DATE_FORMATS.includes(format)) return undefined;
  const fields = content.split(/[-/.\s]+/).filter(Boolean);
  if (fields.length !== format.length || !fields.every((field) => /^\d+$/.test(field))) {
    return undefined;
  }
  const part = (letter: string): number | undefined => {
    const at = format.indexOf(letter);
    return at < 0 ? undefined : Number(fields[at]);
  };
  const day = part('d');
  const month = part('m');
  const year = part('y');
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > 31)) return undefined;
  if (espeakVoice.split('-')[0] === 'en') {
    const words = [
      month !== undefined ? ENGLISH_MONTHS[month - 1] : undefined,
      day !== undefined ? ordinal(day, espeakVoice) : undefined,
    ].filter(Boolean);
    const monthDay = words.join(' ');
    if (year === undefined) return monthDay;
    return monthDay ? `${monthDay}, ${year}` : String(year);
  }
  // Other languages: day as an ordinal, then month and year as numbers, in that order.
  return [
    day !== undefined ? ordinal(day, espeakVoice) : undefined,
    month !== undefined ? ordinal(month, espeakVoice) : undefined,
    year,
  ]
    .filter((item) => item !== undefined)
    .join(' ');
}

/** Digit by digit, groups apart with a short pause: "555-1234" → "5 5 5, 1 2 3 4". */
function telephone(content: string): string | undefined {
  if (!/^[\d\s()+\-.]+$/.test(content) || !/\d/.test(content)) return undefined;
  const groups = content.match(/\+?\d+/g) ?? [];
  return groups
    .map(
      (group) => (group.startsWith('+') ? '+ ' : '') + Array.from(group.replace('+', '')).join(' '),
    )
    .join(', ');
}
