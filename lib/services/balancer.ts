/**
 * Which instance a call tries first: local first, then least outstanding requests.
 *
 * 1. This node's own instance, when it is ready (provided, its check passes) and not ejected:
 *    no tunnel, no network, no other node's load.
 * 2. The remote instances in the rotation, fewest calls from this node still waiting first;
 *    equal counts in round-robin order (the call's turn), so sequential calls spread evenly.
 * 3. Last, instances out of the rotation (suspect, ejected, or probing with a probe under way),
 *    in round-robin order: tried only when every other one was.
 *
 * Why least outstanding requests rather than weighted round-robin: the count of this node's
 * calls still waiting on an instance reacts at once to an instance that slows down (its calls
 * pile up, so new ones go elsewhere), needs no weights to measure, configure or age, and costs a
 * counter per instance. Weighted round-robin from measured latency lags behind the measurement
 * and oscillates when all callers move to the instance that was fast. The unit test measures
 * both on a fast and a slow instance (balancer_test.ts).
 * @module
 */

/** One instance as the balancer sees it. */
export interface Candidate<T> {
  /** What the caller gets back. */
  value: T;
  /** This node's own instance. */
  local: boolean;
  /** In the rotation: not suspect, not ejected (a probing one with no probe under way is). */
  available: boolean;
  /** This node's calls to it still waiting. */
  outstanding: number;
}

/** The candidates in the order a call tries them; see the module docs. `turn` counts calls. */
export function balance<T>(candidates: readonly Candidate<T>[], turn: number): T[] {
  const local = candidates.filter((c) => c.local && c.available);
  const remote = rotate(candidates.filter((c) => !c.local && c.available), turn);
  // Stable: among equal counts the rotation's order stays.
  remote.sort((a, b) => a.outstanding - b.outstanding);
  const out = rotate(candidates.filter((c) => !c.available), turn);
  return [...local, ...remote, ...out].map((c) => c.value);
}

function rotate<T>(list: readonly T[], turn: number): T[] {
  const k = list.length ? turn % list.length : 0;
  return [...list.slice(k), ...list.slice(0, k)];
}
