/**
 * Run by policy_filter_test.ts under `--v8-flags=--trace-gc`: pushes packets through the filter
 * between two markers, so the parent can count the garbage collections the packet path caused.
 * @module
 */

import { PolicyEngine } from "../../lib/policy/engine.ts";
import { PolicyFilter } from "../../lib/policy/filter.ts";
import { parsePolicy } from "../../lib/policy/parse.ts";
import { ACK, ISSUE_POLICY, SYN, tcp, threeNodes, udp } from "./policy_packets.ts";

const mode = Deno.args[0] ?? "filter";
// The default clock (a BatchClock over performance.now), as in production; a small table so
// the run reaches eviction.
const filter = new PolicyFilter({
  engine: new PolicyEngine({ policy: parsePolicy(ISSUE_POLICY), members: threeNodes() }),
  conntrack: { maxEntries: 4096 },
});
const pkts = [
  tcp("10.77.0.1", "10.77.0.2", 40000, 8090, ACK, 1200),
  tcp("10.77.0.2", "10.77.0.1", 8090, 40000, ACK),
  tcp("fd77::1", "fd77::2", 40001, 8090, ACK, 1200),
  udp("10.77.0.1", "10.77.0.2", 1, 2),
  tcp("10.77.0.1", "10.77.0.2", 1024, 8090, SYN),
];
const fresh = pkts[4];
let sink = 0;
let kept: number[] = [];
const run = (n: number) => {
  for (let i = 0; i < n; i++) {
    if (filter.outbound(pkts[0])) sink++;
    if (filter.inbound(pkts[1])) sink++;
    if (filter.outbound(pkts[2])) sink++;
    if (filter.outbound(pkts[3])) sink++;
    // A new flow every time (a fresh source port): rule walk, insert, and eviction once full.
    const port = 1024 + (i % 64000);
    fresh[20] = port >> 8;
    fresh[21] = port & 0xff;
    fresh[23] = 0x9a + ((i / 64000) % 10 | 0); // destination 8090-8099
    if (filter.outbound(fresh)) sink++;
    // A control that allocates, to show the counting works.
    if (mode === "allocating") kept = [i, kept.length];
  }
};
run(100_000);
console.log("MEASURE-START");
run(1_000_000);
console.log("MEASURE-END", sink, kept.length);
const s = filter.stats();
if (s.conntrack.evictions === 0 || s.allowedByRule["web-to-app"] < 1_000_000) {
  throw new Error(`the run did not exercise new flows: ${JSON.stringify(s.conntrack)}`);
}
