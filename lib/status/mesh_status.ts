/**
 * The mesh view, on the leader: every member and every link between two members, merged from
 * the members' link reports (each side's view of a link), as `/status` serves it in `mesh` and
 * the dashboard draws it. A link is down when either side says so or when a side's report is
 * stale (its node stopped reporting) or either end stopped on purpose (offline); else degraded when either side says so; up when a side
 * says up; unknown when neither side has said anything yet.
 * @module
 */

import type { HealthState } from "../health/state.ts";

/** A member as the mesh view needs it. */
export interface MeshMemberInput {
  /** Node name. */
  name: string;
  /** Overlay address. */
  address: string;
  /** Base64 public key. */
  publicKey: string;
  /** It stopped on purpose (said bye); back at its next hello. */
  offline?: true;
  /** The subnet routes it carries for the mesh. */
  routes?: string[];
  /** It is an approved exit node. */
  exitNode?: true;
}

/** A member's link report as the mesh view reads it (the leader's link store has these). */
export interface MeshReportInput {
  /** The reporting member's key. */
  publicKey: string;
  /** Ms since it came in. */
  ageMs: number;
  /** The node stopped reporting. */
  stale: boolean;
  /** Its links: peer key, state, RTT, path, bytes/s in and out. */
  links: { k: string; s: HealthState; r: number | null; p: string; i: number; o: number }[];
}

/** One side's view of a link (or a member's view of one of its peers). */
export interface MeshLinkView {
  /** The health state this side reports. */
  state: HealthState;
  /** Median probe RTT over the health window, ms; null when unmeasured. */
  rttMs: number | null;
  /** `direct`, `relay`, `tcp`, `none`, or "" when the side does not say. */
  path: string;
  /** Bytes per second this side receives over the link. */
  rxRate: number;
  /** Bytes per second this side sends over the link. */
  txRate: number;
  /** The side's report is stale: what it says is old. */
  stale: boolean;
}

/** A link between two members, as both sides see it. */
export interface MeshLinkStatus {
  /** One end's node name (the lower name of the two). */
  a: string;
  /** The other end's node name. */
  b: string;
  /** The merged state: see the module docs. */
  state: HealthState;
  /** True when a side's report is stale. */
  stale: boolean;
  /** `a`'s view, null when `a` has not reported this link. */
  aView: MeshLinkView | null;
  /** `b`'s view, null when `b` has not reported this link. */
  bView: MeshLinkView | null;
}

/** A member in the mesh view, with its own report's peers. */
export interface MeshMemberStatus {
  /** Node name. */
  name: string;
  /** Overlay address. */
  address: string;
  /** Base64 public key. */
  publicKey: string;
  /** True for the mesh leader. */
  leader: boolean;
  /** True when it stopped on purpose (said bye): its links are down on every side. */
  offline: boolean;
  /** The subnet routes it carries for the mesh (a subnet router); empty for none. */
  routes: string[];
  /** True for an approved exit node. */
  exitNode: boolean;
  /** Its report: age in seconds and whether it is stale; null when it never reported. */
  report: { ageSeconds: number; stale: boolean } | null;
  /** Its peers as its report says, sorted by name. */
  peers: (MeshLinkView & { name: string; publicKey: string })[];
}

/** The `mesh` section of the leader's status document. */
export interface MeshStatus {
  /** Every member, sorted by name. */
  members: MeshMemberStatus[];
  /** Every pair of members, sorted by `a` then `b` (none past {@link MAX_MESH_LINKS}). */
  links: MeshLinkStatus[];
  /** Present when the mesh has more pairs than {@link MAX_MESH_LINKS}: how many were left out. */
  linksOmitted?: number;
}

/** The most links the view lists (a mesh of 100 members has 4950): past it, none are. */
export const MAX_MESH_LINKS = 5000;

/** The merged state of a link from its two sides' views. */
export function mergeLinkState(a: MeshLinkView | null, b: MeshLinkView | null): HealthState {
  const views = [a, b].filter((v) => v !== null);
  if (views.some((v) => v.stale || v.state === "down")) return "down";
  if (views.some((v) => v.state === "degraded")) return "degraded";
  if (views.some((v) => v.state === "up")) return "up";
  if (views.length > 0 && views.every((v) => v.state === "idle")) return "idle";
  return "unknown";
}

/** Builds the mesh view from the members and their reports; `leader` is the leader's key. */
export function meshStatus(
  members: readonly MeshMemberInput[],
  reports: readonly MeshReportInput[],
  leader: string,
): MeshStatus {
  const sorted = [...members].sort((x, y) => x.name < y.name ? -1 : x.name > y.name ? 1 : 0);
  const byKey = new Map(sorted.map((m) => [m.publicKey, m]));
  const reportOf = new Map(reports.map((r) => [r.publicKey, r]));
  // Past the cap the members' peer lists (as many entries as links, twice) go too.
  const pairs = sorted.length * (sorted.length - 1) / 2;
  const full = pairs <= MAX_MESH_LINKS;
  // Each member's view of each peer: `${from}|${to}` by key. Only for a view that lists links:
  // at 10,000 members the reports' links made hundreds of thousands of keys each time /status
  // was built (a fifth of a busy leader's CPU), for nothing.
  const views = new Map<string, MeshLinkView>();
  for (const r of full ? reports : []) {
    if (!byKey.has(r.publicKey)) continue;
    for (const l of r.links) {
      if (!byKey.has(l.k) || l.k === r.publicKey) continue;
      views.set(`${r.publicKey}|${l.k}`, {
        state: l.s,
        rttMs: l.r,
        path: l.p,
        rxRate: l.i,
        txRate: l.o,
        stale: r.stale,
      });
    }
  }
  const out: MeshStatus = { members: [], links: [] };
  const fresh = (m: MeshMemberInput) => reportOf.get(m.publicKey)?.stale === false;
  for (const m of sorted) {
    const r = reportOf.get(m.publicKey);
    out.members.push({
      name: m.name,
      address: m.address,
      publicKey: m.publicKey,
      leader: m.publicKey === leader,
      offline: m.offline === true,
      routes: m.routes ?? [],
      exitNode: m.exitNode === true,
      report: r ? { ageSeconds: Math.round(r.ageMs / 1000), stale: r.stale } : null,
      peers: !full ? [] : sorted.flatMap((p) => {
        const v = views.get(`${m.publicKey}|${p.publicKey}`);
        return v ? [{ name: p.name, publicKey: p.publicKey, ...v }] : [];
      }),
    });
  }
  if (pairs > MAX_MESH_LINKS) {
    out.linksOmitted = pairs;
    return out;
  }
  for (const [i, a] of sorted.entries()) {
    for (const b of sorted.slice(i + 1)) {
      const aView = views.get(`${a.publicKey}|${b.publicKey}`) ?? null;
      const bView = views.get(`${b.publicKey}|${a.publicKey}`) ?? null;
      out.links.push({
        a: a.name,
        b: b.name,
        // A member that said bye is gone now, whatever the last reports said. A link neither
        // side names while one reports afresh is idle: no traffic, so no session over it
        // (sessions on demand: a report lists the active peers only).
        state: a.offline || b.offline
          ? "down"
          : aView === null && bView === null && (fresh(a) || fresh(b))
          ? "idle"
          : mergeLinkState(aView, bView),
        stale: aView?.stale === true || bView?.stale === true,
        aView,
        bView,
      });
    }
  }
  return out;
}
