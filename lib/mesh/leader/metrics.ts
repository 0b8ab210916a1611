/**
 * The mesh leader's `/metrics` families: join datagrams dropped, what it refused of members'
 * joins and hellos, what it dropped of their link reports, whether its shared store answers, and
 * what it sent and dropped of shared views (the holders it may name among them), and its pushes.
 * Read from the join server, the leader's service, its link store and its store at scrape time.
 * @module
 */

import { type Collector, counter, gauge, sampleCounts } from "../../metrics/registry.ts";

const JOIN_DROPS = counter(
  "weft_join_drops_total",
  "Join datagrams the leader dropped (before or after the DH), by reason.",
  ["reason"],
);
const MEMBER_REFUSALS = counter(
  "weft_member_refusals_total",
  "What the leader refused of members' joins and hellos, by reason: label (a label only " +
    "the leader grants), service (a service offered without a grant, or an open one named " +
    "like a member or a reserved name), hello (over the hello rate), bye (a bye for another member's key, or over the hello rate), store (a " +
    "join, hello or bye whose write the leader's store refused: no quorum, unreachable).",
  ["reason"],
);

const LINK_REPORT_DROPS = counter(
  "weft_link_report_drops_total",
  "What the leader dropped of members' link reports, by reason: not-member (a part from an " +
    "address no member has), bad-peer (a link about a key that is not another member), rate " +
    "(parts over the sender's rate).",
  ["reason"],
);

const DEPARTED_FORGOTTEN = counter(
  "weft_leader_departed_forgotten_total",
  "Departed keys the leader forgot to stay bounded (4,096 remembered; keys that merely left go " +
    "before removed ones).",
);

const STORE_UP = gauge(
  "weft_store_up",
  "1 while the leader's shared store (etcd) answers its calls and probes, 0 while it does not " +
    "(the leader's view may be old: its members move to a leader that reaches the store). " +
    "Absent on a leader without a shared store.",
);

const SHARED_DATAGRAMS = counter(
  "weft_leader_view_datagrams_total",
  "Datagrams of shared views the leader sent, by kind: holders (the members named to a joiner), " +
    "manifest, piece (pieces no holder had, sent unasked), asked (pieces members asked it for).",
  ["kind"],
);
const SHARED_DROPS = counter(
  "weft_leader_view_part_requests_dropped_total",
  "What the leader dropped of members' asks for pieces of shared views, by reason: rate (over " +
    "the fetch rate), malformed, lack (digests it no longer keeps, answered with plack).",
  ["reason"],
);
const SHARED_HOLDERS = gauge(
  "weft_leader_view_holders",
  "Members the leader may name as holders of their group's shared view (their hellos say hz).",
);

const PUSHES = counter(
  "weft_leader_pushes_total",
  "Pushes the leader made: each tells every member it serves that sees a change what changed " +
    "since it was last told.",
);
const PUSH_DATAGRAMS = counter(
  "weft_leader_push_datagrams_total",
  "Datagrams of the leader's pushes (held to a budget a second: the gap between pushes grows " +
    "with the members told).",
);
const PUSHES_SPACED = counter(
  "weft_leader_pushes_spaced_total",
  "Pushes that waited for the push budget's gap after the one before (a burst of changes).",
);
const PUSH_GAP = gauge(
  "weft_leader_push_gap_seconds",
  "The gap the push budget set after the leader's last push, seconds.",
);

const CARRIED_PUSHES = counter(
  "weft_leader_carried_pushes_total",
  "Pushes whose parts the leader signed once and sent through carriers (members that pass them " +
    "on to a few dozen others each).",
);
const PUSH_CARRIES = counter(
  "weft_leader_push_carries_total",
  "Carry messages the leader sent: one a carrier a carried push.",
);
const CARRIED_MEMBERS = counter(
  "weft_leader_carried_members_total",
  "Members told a carried push, by how: carrier (passed on by a carrier), direct (no carrier " +
    "heard from lately in their bucket: sent by the leader).",
  ["how"],
);

/** What the leader's carried pushes did (lib/mesh/leader/push_carry.ts). */
export interface LeaderCarryFigures {
  pushes: number;
  carriers: number;
  passed: number;
  direct: number;
}

/** What the leader's pushes did (lib/mesh/leader/push_schedule.ts). */
export interface LeaderPushFigures {
  pushes: number;
  datagrams: number;
  spaced: number;
  gapMs: number;
}

/** The leader's shared views' counts (lib/mesh/leader/shared_views.ts). */
export interface LeaderSharedFigures {
  sent: Readonly<Record<string, number>>;
  drops: Readonly<Record<string, number>>;
  holders: number;
}

/** The counts by reason each source gives; a source giving undefined (not the leader) shows none. */
export function leaderCollector(sources: {
  joinDrops: () => Readonly<Record<string, number>> | undefined;
  memberRefusals: () => Readonly<Record<string, number>> | undefined;
  linkReportDrops?: () => Readonly<Record<string, number>> | undefined;
  departedForgotten?: () => number | undefined;
  storeUp?: () => boolean | undefined;
  sharedViews?: () => LeaderSharedFigures | undefined;
  pushes?: () => LeaderPushFigures | undefined;
  carried?: () => LeaderCarryFigures | undefined;
}): Collector {
  return (out) => {
    const carried = sources.carried?.();
    if (carried) {
      out.sample(CARRIED_PUSHES, {}, carried.pushes);
      out.sample(PUSH_CARRIES, {}, carried.carriers);
      out.sample(CARRIED_MEMBERS, { how: "carrier" }, carried.passed);
      out.sample(CARRIED_MEMBERS, { how: "direct" }, carried.direct);
    }
    const pushes = sources.pushes?.();
    if (pushes) {
      out.sample(PUSHES, {}, pushes.pushes);
      out.sample(PUSH_DATAGRAMS, {}, pushes.datagrams);
      out.sample(PUSHES_SPACED, {}, pushes.spaced);
      out.sample(PUSH_GAP, {}, pushes.gapMs / 1000);
    }
    const shared = sources.sharedViews?.();
    if (shared) {
      sampleCounts(out, SHARED_DATAGRAMS, "kind", shared.sent);
      sampleCounts(out, SHARED_DROPS, "reason", shared.drops);
      out.sample(SHARED_HOLDERS, {}, shared.holders);
    }
    const up = sources.storeUp?.();
    if (up !== undefined) out.sample(STORE_UP, {}, up ? 1 : 0);
    const forgotten = sources.departedForgotten?.();
    if (forgotten !== undefined) out.sample(DEPARTED_FORGOTTEN, {}, forgotten);
    const drops = sources.joinDrops();
    if (drops) sampleCounts(out, JOIN_DROPS, "reason", drops);
    const refusals = sources.memberRefusals();
    if (refusals) sampleCounts(out, MEMBER_REFUSALS, "reason", refusals);
    const links = sources.linkReportDrops?.();
    if (links) sampleCounts(out, LINK_REPORT_DROPS, "reason", links);
  };
}
