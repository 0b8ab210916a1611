/**
 * The `/metrics` families of routes through members: on a subnet router or exit node, the
 * packets and bytes it forwarded per route, both ways (out: from the mesh into the route; in:
 * the replies back), read from the firewall's counters at scrape time.
 * @module
 */

import { type Collector, counter } from "../../metrics/registry.ts";
import type { RouteCounters } from "../../routes/forwarding.ts";

const PACKETS = counter(
  "weft_route_forwarded_packets_total",
  "Packets this node forwarded for the mesh per route it carries: out (from the mesh into the " +
    "route) and in (replies back into the mesh).",
  ["route", "dir"],
);
const BYTES = counter(
  "weft_route_forwarded_bytes_total",
  "Bytes this node forwarded for the mesh per route it carries, out and in.",
  ["route", "dir"],
);

/** The per-route figures `figures` gives (nothing while it gives undefined: not a router). */
export function routeCollector(
  figures: () => readonly RouteCounters[] | undefined,
): Collector {
  return (out) => {
    for (const c of figures() ?? []) {
      out.sample(PACKETS, { route: c.prefix, dir: "out" }, c.outPackets);
      out.sample(PACKETS, { route: c.prefix, dir: "in" }, c.inPackets);
      out.sample(BYTES, { route: c.prefix, dir: "out" }, c.outBytes);
      out.sample(BYTES, { route: c.prefix, dir: "in" }, c.inBytes);
    }
  };
}
