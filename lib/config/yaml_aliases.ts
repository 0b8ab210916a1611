/**
 * A bound on YAML alias expansion. Each alias copies its target, so a few lines of aliases to
 * aliases ("billion laughs") expand to billions of values: a reader that resolves aliases checks
 * the expansion first and refuses it at the alias that goes past the bound.
 * @module
 */

import { type Document, isAlias, isMap, isPair, isSeq, type Node } from "npm:yaml@^2.9.1";

/** Most values aliases may expand to in one document. */
export const MAX_ALIAS_EXPANSION = 10_000;

/**
 * Walks `root` as resolving its aliases would, counting the values reached through aliases;
 * returns the alias at which the count passes `max` (its `range[0]` is its offset in the text),
 * or null when the expansion stays within bounds. Costs at most about `max` steps plus the size
 * of the tree as written.
 */
export function aliasBomb(
  root: unknown,
  doc: Document,
  max: number = MAX_ALIAS_EXPANSION,
): Node | null {
  let expanded = 0;
  // Each entry: a node, and the alias it was reached through (null: written out in the text).
  const stack: [unknown, Node | null][] = [[root, null]];
  while (stack.length) {
    const [node, via] = stack.pop()!;
    if (node === null || node === undefined) continue;
    if (via && ++expanded > max) return via;
    if (isAlias(node)) {
      const target = node.resolve(doc);
      // The outermost alias is the one to name: it is where the file asked for the copy.
      stack.push([target, via ?? node]);
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push([item, via]);
    } else if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        stack.push([pair.key, via], [pair.value, via]);
      }
    }
  }
  return null;
}
