/**
 * The mesh leader's `/metrics` families: join datagrams dropped, what it refused of members'
 * joins and hellos, what it dropped of their link reports, and whether its shared store answers.
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

/** The counts by reason each source gives; a source giving undefined (not the leader) shows none. */
export function leaderCollector(sources: {
  joinDrops: () => Readonly<Record<string, number>> | undefined;
  memberRefusals: () => Readonly<Record<string, number>> | undefined;
  linkReportDrops?: () => Readonly<Record<string, number>> | undefined;
  departedForgotten?: () => number | undefined;
  storeUp?: () => boolean | undefined;
}): Collector {
  return (out) => {
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
