/**
 * The page's model of the mesh view (the `mesh` section of a mesh leader's status document):
 * `endState` says how one side's view of a link is shown (`none` when that side has not reported
 * the link, `stale` when its report is old), `meshLinkView` the link (its state, each side's, its
 * label and tooltip). Kept apart from the drawing, as `pathView` is, so tests run it without a
 * browser.
 * @module
 */

import type { EndDoc, LinkDoc, MeshDoc, StatusDoc } from "./types.ts";

/** A link's state as the page draws it. */
export type LinkState = "up" | "degraded" | "down" | "unknown" | "idle";

/** One side's view as shown: a link state, or no report, or an old one. */
export type EndState = LinkState | "none" | "stale";

const LINK_STATES: readonly LinkState[] = ["up", "degraded", "down", "unknown", "idle"];

function linkState(x: unknown): LinkState | null {
  return typeof x === "string" && (LINK_STATES as readonly string[]).includes(x)
    ? x as LinkState
    : null;
}

/** How one side's view of a link (or a member's report of a peer) is shown. */
export function endState(v: unknown): EndState {
  if (!v || typeof v !== "object") return "none";
  const e = v as EndDoc;
  if (e.stale === true) return "stale";
  return linkState(e.state) ?? "unknown";
}

function meshRtt(v: unknown): number | null {
  return v && typeof (v as EndDoc).rttMs === "number" ? (v as EndDoc).rttMs as number : null;
}

function endLine(name: unknown, v: unknown): string {
  const e = endState(v);
  if (e === "none") return name + ": no report";
  const d = v as EndDoc;
  const bits = [name + ": " + (e === "stale" ? "stale report (says " + d.state + ")" : e)];
  const r = meshRtt(v);
  if (r !== null) bits.push("RTT " + r.toFixed(2) + " ms");
  if (d.path) bits.push("path " + d.path);
  if (typeof d.rxRate === "number") bits.push("in " + d.rxRate + " B/s, out " + d.txRate + " B/s");
  return bits.join(", ");
}

/** How a mesh link is shown. */
export interface MeshLinkView {
  /** The merged state (down when a side says down or is stale). */
  state: LinkState;
  /** `a`'s view. */
  a: EndState;
  /** `b`'s view. */
  b: EndState;
  /** The lower RTT the sides measured. */
  rtt: number | null;
  /** The first side's path that says one. */
  path: string;
  /** Why it is down, shown instead of the RTT. */
  why: string;
  /** The tooltip: the link and each side's line. */
  tip: string;
}

/** How the mesh link is shown. */
export function meshLinkView(l: LinkDoc): MeshLinkView {
  const state = linkState(l.state) ?? "unknown";
  const a = endState(l.aView);
  const b = endState(l.bView);
  const rtts = [meshRtt(l.aView), meshRtt(l.bView)].filter((x): x is number => x !== null);
  const rtt = rtts.length ? Math.min(...rtts) : null;
  const av = l.aView as EndDoc | null | undefined;
  const bv = l.bView as EndDoc | null | undefined;
  const path = String((av && av.path) || (bv && bv.path) || "");
  const why = a === "stale" || b === "stale"
    ? "stale report"
    : a === "down" || b === "down"
    ? "no answer"
    : "";
  return {
    state,
    a,
    b,
    rtt,
    path,
    why,
    tip: l.a + " – " + l.b + ": " + state + "\n" + endLine(l.a, l.aView) + "\n" +
      endLine(l.b, l.bView),
  };
}

/** The mesh view of a mesh leader's document, when it lists its links; else null (the star). */
export function meshOf(d: StatusDoc | null): MeshDoc | null {
  const m = d && d.mesh as MeshDoc | undefined;
  return m && Array.isArray(m.members) && Array.isArray(m.links) && !m.linksOmitted &&
      m.members.length > 0
    ? m
    : null;
}
