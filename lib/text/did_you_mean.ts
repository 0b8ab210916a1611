/**
 * Suggestions for mistyped names (options, keys): the known name a word most likely meant.
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
