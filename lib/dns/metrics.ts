/**
 * The DNS server's `/metrics` families: responses by query type and response code, queries
 * forwarded upstream by result, and those refused forwarding, read from its {@linkcode DnsStats} at scrape time.
 * @module
 */

import { type Collector, counter } from "../metrics/registry.ts";
import type { DnsStats } from "./stats.ts";

const QUERIES = counter(
  "weft_dns_queries_total",
  "DNS queries answered, by query type (NONE: no single question) and response code.",
  ["type", "rcode"],
);

const FORWARDED = counter(
  "weft_dns_forwarded_total",
  "DNS queries for names outside the zone handed to upstream resolvers (split DNS, dns-forward, " +
    "accept-dns), by result: answered (any rcode from the upstream) or failed (no upstream " +
    "answered: SERVFAIL).",
  ["result"],
);

const REFUSED = counter(
  "weft_dns_forward_refused_total",
  "DNS queries for names outside the zone refused instead of forwarded: they came from a " +
    "querier other than this host, and forwarding for members is off (--dns-forward-members).",
);

/**
 * One series per (type, rcode) pair as the server counts them (keys `"<TYPE>|<RCODE>"`), so a
 * sum counts each answered query once; nothing while `stats` gives undefined (no DNS server).
 */
export function dnsCollector(
  stats: () =>
    | Pick<DnsStats, "byTypeRcode" | "forwarded" | "forwardFailed" | "forwardRefused">
    | undefined,
): Collector {
  return (out) => {
    const s = stats();
    if (!s) return;
    out.family(QUERIES);
    for (const key of Object.keys(s.byTypeRcode).sort()) {
      const bar = key.indexOf("|");
      const type = bar < 0 ? key : key.slice(0, bar);
      const rcode = bar < 0 ? "" : key.slice(bar + 1);
      out.sample(QUERIES, { type, rcode }, s.byTypeRcode[key]);
    }
    out.family(FORWARDED);
    out.sample(FORWARDED, { result: "answered" }, s.forwarded - s.forwardFailed);
    out.sample(FORWARDED, { result: "failed" }, s.forwardFailed);
    out.family(REFUSED);
    out.sample(REFUSED, {}, s.forwardRefused);
  };
}
