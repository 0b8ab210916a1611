/**
 * Call-me messages: a node that starts punching towards a peer asks the leader to tell that peer
 * to punch towards it too, at the same moment (both sides sending is what opens two NATs). The
 * message carries the asking node's candidates; this module holds them to the rules of
 * `--advertise` endpoints, and only IP endpoints pass (a name cannot be pinged).
 * @module
 */

import type { Candidate, CandidateKind } from "../../nat/candidates.ts";
import { validEndpoints } from "../../members/validate.ts";
import { isIpEndpoint } from "../../net/resolve.ts";
import type { WireCandidate } from "../sync/protocol.ts";

/** At most this many candidates travel in one call-me (the size of a node's own list). */
export const MAX_CALLME_CANDIDATES = 16;

/** A call-me is sent at most this often per peer, and one received holds ours back as long. */
export const CALLME_INTERVAL_MS = 5_000;

const KINDS: ReadonlySet<string> = new Set<CandidateKind>(["lan", "advertised", "observed"]);

/** Our candidates as a call-me carries them: IP endpoints only, at most 16. */
export function toWire(list: readonly Candidate[]): WireCandidate[] {
  return list.filter((c) => isIpEndpoint(c.endpoint)).slice(0, MAX_CALLME_CANDIDATES)
    .map((c) => ({ k: c.kind, e: c.endpoint }));
}

/**
 * The candidates of a received call-me in their canonical spelling, or null when anything is
 * off (not a list, too many, an unknown kind, an endpoint `--advertise` would refuse, a name).
 */
export function fromWire(c: unknown): Candidate[] | null {
  if (!Array.isArray(c) || c.length > MAX_CALLME_CANDIDATES) return null;
  const out: Candidate[] = [];
  for (const x of c) {
    if (typeof x !== "object" || x === null) return null;
    const { k, e } = x as Record<string, unknown>;
    if (typeof k !== "string" || !KINDS.has(k)) return null;
    const canonical = validEndpoints([e])?.[0];
    if (canonical === undefined || !isIpEndpoint(canonical)) return null;
    if (out.some((o) => o.endpoint === canonical)) continue;
    out.push({ kind: k as CandidateKind, endpoint: canonical });
  }
  return out;
}
