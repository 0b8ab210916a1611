/**
 * The `/metrics` families of the control channel's own bookkeeping: probe packets it could not
 * count per address because its table was full (its bound: {@link PROBER_MAX_ADDRESSES}); and a
 * node's shared views (./manifest.ts): pieces taken by source, refused, served, asks dropped,
 * fetches failed; the pushes members carry for each other (./carrier.ts).
 * @module
 */

import { type Collector, counter, sampleCounts } from "../../metrics/registry.ts";
import { PROBER_MAX_ADDRESSES } from "./protocol.ts";
import type { SharedViewCounts } from "./node_shared_views.ts";
import type { CarrierCounts } from "./carrier.ts";

const UNTRACKED = counter(
  "weft_control_probes_untracked_total",
  `Probe packets on the control port not counted per address: ${PROBER_MAX_ADDRESSES} ` +
    "addresses were counted already (sources outside the view).",
);

const MALFORMED = counter(
  "weft_control_messages_malformed_total",
  "Datagrams on the control port dropped because they are no control message: not parsed, a " +
    "field of the wrong kind, or over a bound.",
);

/** What the control channel counts: probe packets not counted per address, malformed datagrams. */
export interface ControlFigures {
  untracked: number;
  malformed: number;
}

/** The control channel's figures (nothing while `figures` gives undefined: no channel yet). */
export function controlCollector(figures: () => ControlFigures | undefined): Collector {
  return (out) => {
    const f = figures();
    if (f === undefined) return;
    out.sample(UNTRACKED, {}, f.untracked);
    out.sample(MALFORMED, {}, f.malformed);
  };
}

const PARTS_RECEIVED = counter(
  "weft_view_parts_received_total",
  "Pieces of shared views this node took (their digest in the leader's manifest), by source: " +
    "holder (a member the leader named), leader.",
  ["source"],
);
const PARTS_REFUSED = counter(
  "weft_view_parts_refused_total",
  "Pieces of shared views this node refused, by reason: mismatch (a digest not in the " +
    "manifest), not-named (from a member the leader did not name), duplicate (held already), " +
    "malformed (a whole view that did not unpack).",
  ["reason"],
);
const PARTS_SERVED = counter(
  "weft_view_parts_served_total",
  "Pieces of shared views this node served to members as a holder.",
);
const PART_REQUESTS_DROPPED = counter(
  "weft_view_part_requests_dropped_total",
  "What this node dropped of members' asks for pieces as a holder, by reason: rate (over an " +
    "asker's rate or the budget of all), not-member (an asker not in the view), malformed, " +
    "lack (digests not held, answered with plack).",
  ["reason"],
);

const FETCHES_FAILED = counter(
  "weft_view_fetches_failed_total",
  "Fetches of shared views that failed (or whose view did not unpack), by when the hello asking " +
    "again went: now, or held (until a second after the manifest, when the leader takes one).",
  ["hello"],
);

/** A node's shared views' figures, as NodeSync counts them (nothing while undefined). */
export function sharedViewsCollector(counts: () => SharedViewCounts | undefined): Collector {
  return (out) => {
    const c = counts();
    if (!c) return;
    sampleCounts(out, PARTS_RECEIVED, "source", c.pieces);
    sampleCounts(out, PARTS_REFUSED, "reason", c.refused);
    out.sample(PARTS_SERVED, {}, c.served);
    sampleCounts(out, PART_REQUESTS_DROPPED, "reason", c.drops);
    sampleCounts(out, FETCHES_FAILED, "hello", c.failed);
  };
}

const CARRIED_PARTS = counter(
  "weft_carried_parts_total",
  "Push parts carried by members (signed by a leader) this node received, by result: taken, " +
    "unknown-key (no push key of a leader by that id), other-policy (made under another policy " +
    "version than the one held), forged (the signature does not hold), not-delta, rate (a " +
    "member sent more than 64 a second: dropped unchecked).",
  ["result"],
);

const CARRIED_PASSED = counter(
  "weft_carried_parts_passed_total",
  "Push parts this node passed on to other members as its leader asked (one a member told).",
);

/** A node's carried pushes' figures, as NodeSync counts them (nothing while undefined). */
export function carriedCollector(counts: () => CarrierCounts | undefined): Collector {
  return (out) => {
    const c = counts();
    if (!c) return;
    out.sample(CARRIED_PARTS, { result: "taken" }, c.taken);
    out.sample(CARRIED_PARTS, { result: "unknown-key" }, c.unknownKey);
    out.sample(CARRIED_PARTS, { result: "other-policy" }, c.otherPolicy);
    out.sample(CARRIED_PARTS, { result: "forged" }, c.forged);
    out.sample(CARRIED_PARTS, { result: "not-delta" }, c.notDelta);
    out.sample(CARRIED_PARTS, { result: "rate" }, c.rate);
    out.sample(CARRIED_PASSED, {}, c.passed);
  };
}
