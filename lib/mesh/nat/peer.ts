/**
 * What the mesh's paths (mesh_paths.ts) keep per peer beside its path table entry, and a member's
 * candidates from its record.
 * @module
 */

import type { Member } from "../../members/member.ts";
import type { Candidate } from "../../nat/candidates.ts";
import type { PeerCandidateKind } from "../../nat/paths.ts";
import { isIpEndpoint } from "../../net/resolve.ts";
import { SessionWatch } from "./session_watch.ts";

/** What is kept per peer beside its path table entry. */
export interface PeerState {
  readonly session: SessionWatch;
  /** What the table was last told of the session (it works, and goes direct). */
  tableWorks: boolean;
  /** The candidate list last given to the table (its JSON), to skip unchanged views. */
  applied: string;
  /** The candidates of the last call-me received, and when. */
  callme: { list: Candidate[]; at: number } | null;
  callmeSentAt: number;
  calledAt: number;
  handshakeAt: number;
  /** The txids of the last pings answered: a ping seen again is a replay. */
  readonly pings: Set<string>;
  /** "No direct path" was logged and nothing changed since. */
  noneLogged: boolean;
  /** When the peer was first seen. */
  readonly since: number;
  /** Unix ms of the last path change, or null. */
  changedAt: number | null;
}

/** A peer's state when first seen at `now`. */
export function newPeerState(now: number): PeerState {
  return {
    session: new SessionWatch(),
    tableWorks: false,
    pings: new Set(),
    applied: "",
    callme: null,
    callmeSentAt: -Infinity,
    calledAt: -Infinity,
    handshakeAt: -Infinity,
    noneLogged: false,
    since: now,
    changedAt: null,
  };
}

/** A member's candidates from its record: LAN first, then its endpoints (names left out). */
export function candidatesOf(m: Member): { endpoint: string; kind: PeerCandidateKind }[] {
  const out: { endpoint: string; kind: PeerCandidateKind }[] = [];
  for (const e of m.lan ?? []) if (isIpEndpoint(e)) out.push({ endpoint: e, kind: "lan" });
  m.endpoints.forEach((e, i) => {
    if (!isIpEndpoint(e)) return;
    // A node's first endpoint is where the leader sees it; the leader's are all advertised.
    out.push({ endpoint: e, kind: m.role === "node" && i === 0 ? "observed" : "advertised" });
  });
  return out;
}
