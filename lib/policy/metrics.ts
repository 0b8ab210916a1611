/**
 * The network policy's `/metrics` families, read at scrape time: packets dropped by rule, and
 * the bytes and packets each rule's rate limit passed and dropped.
 * @module
 */

import { type Collector, counter, sampleCounts } from "../metrics/registry.ts";
import type { RateCounts } from "./qos.ts";

const DROPS = counter("weft_policy_drops_total", "Packets dropped by policy, by rule.", ["rule"]);
const RATE_BYTES = counter(
  "weft_policy_rate_bytes_total",
  "Bytes of packets this node sent under a rule's rate limit: at once (passed), after waiting " +
    "for tokens (delayed), or dropped by it; by rule.",
  ["rule", "result"],
);
const RATE_PACKETS = counter(
  "weft_policy_rate_packets_total",
  "Packets this node sent under a rule's rate limit: at once (passed), after waiting for " +
    "tokens (delayed), or dropped by it; by rule.",
  ["rule", "result"],
);

/** What the policy's families show: drops by rule, and the rate limits' figures by rule. */
export interface PolicyFigures {
  /** Packets dropped, by rule name (`(default)`, `(segment)` for the built-in reasons). */
  drops: Readonly<Record<string, number>>;
  /** Per rule with a rate, by name. */
  rates: Readonly<Record<string, RateCounts>>;
}

/**
 * The policy's families, from `read` at each scrape: the figures, or the drops by rule alone
 * (then the rate families have no series).
 */
export function policyCollector(
  read: () => Readonly<Record<string, number>> | PolicyFigures,
): Collector {
  return (out) => {
    const got = read();
    // A drops record holds only numbers: an object under `drops` makes it the figures.
    const figures = typeof got.drops === "object" && got.drops !== null
      ? got as PolicyFigures
      : { drops: got as Readonly<Record<string, number>>, rates: {} };
    sampleCounts(out, DROPS, "rule", figures.drops);
    out.family(RATE_BYTES, RATE_PACKETS);
    const names = Object.keys(figures.rates).sort();
    for (const rule of names) {
      const c = figures.rates[rule];
      out.sample(RATE_BYTES, { rule, result: "passed" }, c.passedBytes);
      out.sample(RATE_BYTES, { rule, result: "delayed" }, c.delayedBytes);
      out.sample(RATE_BYTES, { rule, result: "dropped" }, c.droppedBytes);
    }
    for (const rule of names) {
      const c = figures.rates[rule];
      out.sample(RATE_PACKETS, { rule, result: "passed" }, c.passedPackets);
      out.sample(RATE_PACKETS, { rule, result: "delayed" }, c.delayedPackets);
      out.sample(RATE_PACKETS, { rule, result: "dropped" }, c.droppedPackets);
    }
  };
}
