/**
 * The relay's packet MAC alone (lib/relay/mac.ts): CPU nanoseconds per MAC of a full-size
 * (1,452-byte) WireGuard data message, in the head-and-tag form and over the whole message, the
 * median and the fastest of 7 rounds (each a sign and a verify per message). A relayed packet
 * takes three: at the sender, the relay and the receiver. CPU time, not wall time: the machine
 * may be shared.
 *
 *   deno run -A scripts/bench/relay_mac.ts [--count N]
 * @module
 */

import process from "node:process";
import { RelayMacKey } from "../../lib/relay/mac.ts";

/** CPU milliseconds this process spent so far. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** The median and the fastest of 7 rounds of `count` signs and verifies: ns of CPU per MAC. */
export function measure(headTag: boolean, count: number): { median: number; min: number } {
  const key = new RelayMacKey(new Uint8Array(32).fill(7));
  const data = new Uint8Array(16 + 1452);
  data[16] = 4; // a WireGuard data message
  const out = new Uint8Array(8);
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    let ok = 0;
    const t0 = cpuMs();
    for (let i = 0; i < count; i++) {
      data[20] = i;
      if (headTag) {
        key.signHeadTag(i, data, 16, 1452, out, 0);
        if (key.verifyHeadTag(i, data, 16, 1452, out, 0)) ok++;
      } else {
        key.sign(i, data, 16, 1452, out, 0);
        if (key.verify(i, data, 16, 1452, out, 0)) ok++;
      }
    }
    const ms = cpuMs() - t0;
    if (ok !== count) throw new Error("relay_mac: a MAC did not verify");
    rounds.push((ms * 1e6) / count / 2);
  }
  rounds.sort((a, b) => a - b);
  return { median: rounds[3], min: rounds[0] };
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--count");
  const count = i >= 0 ? Number(Deno.args[i + 1]) : 1_000_000;
  for (const headTag of [true, false]) {
    const r = measure(headTag, headTag ? count : Math.ceil(count / 10));
    console.log(
      `${headTag ? "head-and-tag" : "whole message"}: ${r.median.toFixed(1)} ns of CPU per MAC ` +
        `(median of 7 rounds; fastest ${r.min.toFixed(1)})`,
    );
  }
}
