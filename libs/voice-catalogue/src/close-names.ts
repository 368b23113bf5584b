/** Suggestions for a mistyped voice name: the nearest names by edit distance or containment. */

/** Levenshtein distance (insert, delete, substitute), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (s[i - 1] === t[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[t.length];
}

/**
 * Up to `limit` names close to `wanted`: those within a third of its length in edits,
 * or containing it (`lessac` finds every lessac voice), nearest first.
 */
export function closeNames(wanted: string, names: readonly string[], limit = 5): string[] {
  const needle = wanted.toLowerCase();
  const maxDistance = Math.max(2, Math.floor(wanted.length / 3));
  return names
    .map((name) => ({ name, distance: editDistance(wanted, name) }))
    .filter(
      ({ name, distance }) =>
        distance <= maxDistance || (needle.length >= 3 && name.toLowerCase().includes(needle)),
    )
    .sort((a, b) => a.distance - b.distance || (a.name < b.name ? -1 : 1))
    .slice(0, limit)
    .map(({ name }) => name);
}
