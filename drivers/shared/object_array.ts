/**
 * Arrays of objects made with V8's elements kind for objects from the start.
 *
 * V8 gives an array a hidden class (map) by what it has held: `[]` and `new Array(n)` start as
 * arrays of small integers, and the first object stored moves them to an array of objects, a
 * map of its own. Code V8 optimised for one map deoptimises ("wrong map") on the other. The
 * agent makes its poller and endpoint tables before the warm-up (lib/agent/warm_up.ts), whose
 * twins of them soon hold objects, so the per-packet code was optimised for arrays of objects and
 * then deoptimised on the agent's own, still empty ones, right before or in the first packets,
 * and compiled again then. Made here, every such array has the objects' map from the start.
 * @module
 */

/** Any object: stored once, then taken out, so that the array has moved to the objects' kind. */
const AN_OBJECT = {};

/** An empty array (for `push`) with the elements kind an array of objects ends with. */
export function objectList<T extends object>(): T[] {
  const a = [AN_OBJECT] as unknown[];
  a.length = 0;
  return a as T[];
}

/**
 * An array of `n` holes (reading `undefined`) with the elements kind `new Array(n)` ends with
 * once an object is stored in it.
 */
export function objectSlots<T extends object>(n: number): (T | undefined)[] {
  const a = new Array<unknown>(n);
  if (n > 0) {
    a[0] = AN_OBJECT;
    delete a[0];
  }
  return a as (T | undefined)[];
}
