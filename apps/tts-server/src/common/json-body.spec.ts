import fc from 'fast-check';
import { exceedsShapeBounds, isTooComplex, JSON_MAX_DEPTH, JSON_MAX_KEYS } from './json-body';

const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');

describe(exceedsShapeBounds.name, () => {
  it('refuses thousands of keys and deep nesting before anything is parsed', () => {
    const keys = Array.from({ length: 5000 }, (_, index) => `"k${index}":0`).join(',');
    expect(exceedsShapeBounds(bytes(`{"text":"hi",${keys}}`), JSON_MAX_DEPTH, JSON_MAX_KEYS)).toBe(
      true,
    );
    const deep = `${'['.repeat(1500)}${']'.repeat(1500)}`;
    expect(exceedsShapeBounds(bytes(deep), JSON_MAX_DEPTH, JSON_MAX_KEYS)).toBe(true);
  });

  it('lets ordinary bodies through, commas and brackets inside strings included', () => {
    const body = JSON.stringify({
      text: 'Hello, world [a, b, c] {x, y}, "quoted", \\ and, more, commas,'.repeat(20),
      model: 'en_US-lessac-medium',
      length_scale: 1.2,
      stream: true,
    });
    expect(exceedsShapeBounds(bytes(body), JSON_MAX_DEPTH, JSON_MAX_KEYS)).toBe(false);
  });

  it('never refuses what the exact check after parsing lets through', () => {
    // Small bounds, so that many generated values lie on either side of them.
    const [maxDepth, maxKeys] = [3, 5];
    let refused = 0;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 10 }), (value) => {
        const text = JSON.stringify(value);
        if (exceedsShapeBounds(bytes(text), maxDepth, maxKeys)) {
          refused += 1;
          expect(isTooComplex(JSON.parse(text), maxDepth, maxKeys)).toBe(true);
        }
      }),
      { numRuns: 2000, seed: 19 },
    );
    // The generated values include some beyond the bounds, so the rule was exercised.
    expect(refused).toBeGreaterThan(0);
  });
});
