/**
 * The `/metrics` family of the control channel's own bookkeeping: probe packets it could not
 * count per address because its table was full (its bound: {@link PROBER_MAX_ADDRESSES}).
 * @module
 */

import { type Collector, counter } from "../../metrics/registry.ts";
import { PROBER_MAX_ADDRESSES } from "./protocol.ts";

const UNTRACKED = counter(
  "weft_control_probes_untracked_total",
  `Probe packets on the control port not counted per address: ${PROBER_MAX_ADDRESSES} ` +
    "addresses were counted already (sources outside the view).",
);

/** The control channel's figures (nothing while `untracked` gives undefined). */
export function controlCollector(untracked: () => number | undefined): Collector {
  return (out) => {
    const n = untracked();
    if (n !== undefined) out.sample(UNTRACKED, {}, n);
  };
}
