/**
 * The network policy's `/metrics` family: packets dropped by rule, read at scrape time.
 * @module
 */

import { type Collector, counter, sampleCounts } from "../metrics/registry.ts";

const DROPS = counter("weft_policy_drops_total", "Packets dropped by policy, by rule.", ["rule"]);

/** Packets the policy dropped, by rule name (`(default)` for the default action). */
export function policyCollector(drops: () => Readonly<Record<string, number>>): Collector {
  return (out) => sampleCounts(out, DROPS, "rule", drops());
}
