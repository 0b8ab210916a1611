/**
 * Suggestions for mistyped names (options, keys): the known name a word most likely meant.
 *
 * Why not the npm package `didyoumean2`, or `leven` or `fastest-levenshtein` for the distance
 * (measured by scripts/bench/libs.ts, in `deno task bench`; 2026-11-26, 2 CPUs at load 12): of 208 typos of the
 * configuration keys (a letter dropped, doubled, two swapped, camelCase, snake_case) this finds
 * 203 and didyoumean2 all (the five: swaps in keys of 4 or 5 letters, two edits, more than so
 * short a word is allowed); but didyoumean2 also suggests a key for 6 of 16 unrelated words
 * (`verbose`: `advertise`, `help-me`: `keep-peer`), this for none, and a wrong hint is worse than
 * none. The distance libraries are 7 and 44 times as fast; this runs once per mistyped name, on
 * the way to an error. Minified, 0.5 KB against 7 KB for didyoumean2 and its three dependencies.
 * @module
 */

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The known name `word` was most likely meant to be, or undefined: matches after folding case,
 * `_` to `-` and camelCase to kebab-case, then the closest name within a few edits.
 */
export function didYouMean(word: string, known: readonly string[]): string | undefined {
  const folded = word.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase().replace(/[_ ]/g, "-");
  for (const k of known) {
    if (k === folded || k === `${folded}s` || `${k}s` === folded) return k;
  }
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(folded.length / 3)));
  for (const k of known) {
    const d = editDistance(folded, k);
    if (d <= bestDistance && (best === undefined || d < bestDistance)) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}
