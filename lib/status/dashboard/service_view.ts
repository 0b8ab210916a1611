/**
 * The page's model of a service (a `node.services` entry of the status document): how the
 * Services panel shows it (its state, the count of healthy instances, each instance with its
 * health and whether it leads, the leader's line). Kept apart from the drawing, as `pathView` is,
 * so tests run it without a browser.
 * @module
 */

import type { InstanceDoc, LeaderDoc, ServiceDoc } from "./types.ts";

/** How one instance is shown. */
export interface InstanceView {
  /** The node offering it. */
  node: string;
  /** Its address. */
  address: string;
  /** Its check passes. */
  healthy: boolean;
  /** `up` or `down`. */
  health: "up" | "down";
  /** Why it is down; empty when up. */
  why: string;
  /** It leads the service. */
  leader: boolean;
  /** On this node. */
  local: boolean;
  /** The tooltip. */
  tip: string;
}

/** How a service is shown. */
export interface ServiceView {
  /** Service name. */
  name: string;
  /** Healthy instances. */
  healthy: number;
  /** All instances. */
  total: number;
  /** up (every instance healthy), degraded (some), down (none), unknown (no instance). */
  state: "up" | "degraded" | "down" | "unknown";
  /** "h/t healthy". */
  summary: string;
  /** Each instance. */
  instances: InstanceView[];
  /** The leader's node name, empty when none. */
  leader: string;
  /** The Leader column. */
  leaderText: string;
  /** The Leader column's tooltip. */
  leaderTip: string;
}

/** How the service is shown. */
export function serviceView(s: ServiceDoc): ServiceView {
  const list: InstanceDoc[] = Array.isArray(s.instances) ? s.instances : [];
  const leader = s.leader && typeof s.leader === "object" ? s.leader as LeaderDoc : null;
  let healthy = 0;
  const instances = list.map((i): InstanceView => {
    const ok = i.healthy === true;
    if (ok) healthy++;
    const leads = !!leader && leader.node === i.node && leader.address === i.address;
    const why = ok
      ? ""
      : i.reason === "node-down"
      ? "node down"
      : i.reason === "check-failing"
      ? "check failing"
      : i.reason === "ejected"
      ? "ejected: failed calls"
      : String(i.reason || "unhealthy");
    return {
      node: String(i.node || "?"),
      address: String(i.address || ""),
      healthy: ok,
      health: ok ? "up" : "down",
      why,
      leader: leads,
      local: i.local === true,
      tip: String(i.node || "?") + " " + String(i.address || "") +
        (i.local ? " (this node)" : "") + (ok ? ", healthy" : ", " + why) +
        (i.rpc ? "" : ", DNS only (answers no calls)") + (leads ? ", leader" : ""),
    };
  });
  const total = instances.length;
  const state = total === 0
    ? "unknown"
    : healthy === total
    ? "up"
    : healthy === 0
    ? "down"
    : "degraded";
  const leaderText = leader ? String(leader.node) + " · token " + leader.token : "none";
  return {
    name: String(s.name || ""),
    healthy,
    total,
    state,
    summary: healthy + "/" + total + " healthy",
    instances,
    leader: leader ? String(leader.node) : "",
    leaderText,
    leaderTip: leader
      ? "leader " + leader.node + " " + leader.address + ", fencing token " +
        leader.token + ", lease until " + leader.expiresAt
      : "no leader known",
  };
}
