import { closeNames, editDistance } from './close-names';

describe(closeNames.name, () => {
  const names = [
    'en_GB-alan-low',
    'en_US-lessac-high',
    'en_US-lessac-low',
    'en_US-lessac-medium',
    'en_US-ryan-high',
  ];

  it('measures edits case-insensitively', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('en_us', 'EN_US')).toBe(0);
  });

  it('suggests the nearest names first for a typo', () => {
    // Within a third of the name's length in edits: "-low" is 7 edits away, too far.
    expect(closeNames('en_US-lesac-medium', names)).toEqual([
      'en_US-lessac-medium',
      'en_US-lessac-high',
    ]);
  });

  it('suggests every name containing a fragment, and nothing for a stranger', () => {
    expect(closeNames('lessac', names)).toEqual([
      'en_US-lessac-low',
      'en_US-lessac-high',
      'en_US-lessac-medium',
    ]);
    expect(closeNames('de_DE-thorsten-high', names)).toEqual([]);
  });
});
