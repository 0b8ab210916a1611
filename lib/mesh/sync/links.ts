/**
 * Link reports on the wire: a member tells the mesh leader how its links to the other members
 * are, so that the leader can show the whole mesh (`/status`'s `mesh`, the dashboard). Sent
 * inside the tunnel on the control channel, member → leader only:
 * `{t: "links", n, part, parts, l}`, report number `n` in datagram-sized parts, each link in `l`
 * as `{k, s, r, p, i, o}`: the peer's public key, its health state, the median probe RTT in ms
 * (null when unmeasured), the path (`direct`, `relay`, `tcp`, `none`, or "" when the node does
 * not say), and the bytes per second received from and sent to it.
 *
 * Values from the wire are checked strictly and copied into fresh objects; the receiver checks
 * who may report what (lib/mesh/leader/link_store.ts).
 * @module
 */

import { HEALTH_STATES, type HealthState } from "../../health/state.ts";

/** A link's path as reported: direct, through a relay, over TCP, none, or "" (not said). */
export type LinkPath = "direct" | "relay" | "tcp" | "none" | "";

/** One link of a report: this node's view of its link to a peer. */
export interface WireLink {
  /** The peer's public key (base64). */
  k: string;
  /** Its health state as this node's health tracker says. */
  s: HealthState;
  /** Median probe RTT over the health window, ms; null when unmeasured. */
  r: number | null;
  /** The path. */
  p: LinkPath;
  /** Bytes per second received from the peer. */
  i: number;
  /** Bytes per second sent to the peer. */
  o: number;
}

/** A link report, or one part of it. */
export interface LinksMessage {
  t: "links";
  /** The report's number (each report of a member has a higher one). */
  n: number;
  /** This part's index. */
  part: number;
  /** How many parts the report has. */
  parts: number;
  /** The links in this part. */
  l: WireLink[];
}

/** Links in one part: eight fit a datagram under the overlay's MTU (about 110 bytes each). */
export const LINKS_PER_PART = 8;
/** Parts in one report at most: 128 parts of 8 links, 1024 peers. */
export const MAX_LINK_PARTS = 128;

const STATES: ReadonlySet<string> = new Set(HEALTH_STATES);
const PATHS: ReadonlySet<string> = new Set(["direct", "relay", "tcp", "none", ""]);
const KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
// A rate above 100 GB/s or an RTT above a day is not a measurement.
const MAX_RATE = 1e11;
const MAX_RTT_MS = 86_400_000;

const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const finite = (v: unknown, max: number): v is number =>
  typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= max;

/** One link from the wire, copied; null when any field is malformed. */
export function parseWireLink(v: unknown): WireLink | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.k !== "string" || !KEY_RE.test(o.k)) return null;
  if (typeof o.s !== "string" || !STATES.has(o.s)) return null;
  if (o.r !== null && !finite(o.r, MAX_RTT_MS)) return null;
  if (typeof o.p !== "string" || !PATHS.has(o.p)) return null;
  if (!finite(o.i, MAX_RATE) || !finite(o.o, MAX_RATE)) return null;
  return { k: o.k, s: o.s as HealthState, r: o.r, p: o.p as LinkPath, i: o.i, o: o.o };
}

/** A `links` message from the wire, copied; null when malformed (any link that is, too). */
export function parseLinksMessage(m: Record<string, unknown>): LinksMessage | null {
  if (m.t !== "links" || !count(m.n) || !count(m.part) || !count(m.parts)) return null;
  if (m.parts < 1 || m.parts > MAX_LINK_PARTS || m.part >= m.parts) return null;
  if (!Array.isArray(m.l) || m.l.length > LINKS_PER_PART) return null;
  const l: WireLink[] = [];
  for (const x of m.l) {
    const link = parseWireLink(x);
    if (!link) return null;
    l.push(link);
  }
  return { t: "links", n: m.n, part: m.part, parts: m.parts, l };
}

/**
 * Splits a report into messages of {@link LINKS_PER_PART} links; links past
 * {@link MAX_LINK_PARTS} parts are left out (a mesh that large is not drawn link by link).
 */
export function linksParts(n: number, links: readonly WireLink[]): LinksMessage[] {
  const kept = links.slice(0, LINKS_PER_PART * MAX_LINK_PARTS);
  const parts = Math.max(1, Math.ceil(kept.length / LINKS_PER_PART));
  return Array.from({ length: parts }, (_, part) => ({
    t: "links",
    n,
    part,
    parts,
    l: kept.slice(part * LINKS_PER_PART, (part + 1) * LINKS_PER_PART),
  }));
}
