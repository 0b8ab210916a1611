/**
 * The leader's edits of a member's record after its join (./join_edits.ts): what its hello (or
 * the operator) updates, its bye, its removal. Plain functions over a copy of the state
 * (./edit_context.ts).
 * @module
 */

import { MAX_LAN, type Member, type ServiceSpec } from "../../members/member.ts";
import { grantedLabelsProblem, isNodeLabelKey } from "../../members/labels.ts";
import type { LeaderFile } from "../state/state.ts";
import type { Edit, Touch } from "./changes.ts";
import type { EditContext } from "./edit_context.ts";
import { LeaderError, LeaderNotFoundError } from "./errors.ts";
import { remember, sameJson } from "./records.ts";
import { reassign } from "./route_edits.ts";
import { routesMatter } from "./routes.ts";
import { grantedServices } from "./service_edits.ts";

/** What a member's hello (or the leader's operator) updates of its record. */
export interface MemberUpdate {
  /** Where it is reachable now (its observed endpoint first; at most 8 kept). */
  endpoints?: string[];
  /** The endpoint the leader saw the hello come from over UDP; null: none (TCP, relayed). */
  observed?: string | null;
  /** Its services (those its grants allow are kept). */
  services?: ServiceSpec[];
  /** Its granted labels: for the leader's operator only, never from what a node says. */
  labels?: Record<string, string>;
  /** The labels it asserts about itself (keys outside `node.weft/` are dropped). */
  nodeLabels?: Record<string, string>;
  /** Its LAN candidates (at most MAX_LAN kept). */
  lan?: string[];
  /** Whether it is willing to relay (it relays only when granted). */
  relay?: boolean;
  /** Its TCP port; null: none. */
  tcpPort?: number | null;
  /** The routes it offers to carry (canonical, sorted; empty: none). */
  advertisedRoutes?: string[];
  /** The member is running (it said hello): it is no longer offline. */
  online?: true;
  /** The id of the run that said hello (absent: an older node; the record keeps its own). */
  run?: string;
}

/**
 * Checks an update: granted labels must be valid (a LeaderError), asserted ones outside
 * `node.weft/` are dropped. The update to apply.
 */
export function checkedUpdate(patch: MemberUpdate): MemberUpdate {
  if (patch.labels) {
    const p = grantedLabelsProblem(patch.labels);
    if (p !== undefined) throw new LeaderError(p);
  }
  if (!patch.nodeLabels) return patch;
  const own = Object.fromEntries(
    Object.entries(patch.nodeLabels).filter(([k]) => isNodeLabelKey(k)),
  );
  return { ...patch, nodeLabels: own };
}

/**
 * `old` with a {@link checkedUpdate} applied in `d`; null when that changes nothing (what the
 * record's JSON says of the fields a hello may change). Each field's new value is compared with
 * the record's before anything is copied, so that an update changing nothing makes no record:
 * every hello lands here (a thousand a second at 10,000 members), nearly all changing nothing,
 * and making the record to compare (its lists copied, deduplicated) was a tenth of what a leader
 * allocated joining 10,000 (`fleet.ts --profile`, FLEET_PROFILE_ALLOC=1).
 */
export function updated(
  ctx: EditContext,
  d: LeaderFile,
  old: Member,
  patch: MemberUpdate,
): Member | null {
  const endpoints = patch.endpoints && !sameList(patch.endpoints, 8, old.endpoints)
    ? distinct(patch.endpoints, 8)
    : old.endpoints;
  const observed = patch.observed
    ? patch.observed
    : patch.observed === null
    ? undefined
    : old.observed;
  const services = patch.services ? grantedServices(ctx, d, old, patch.services) : old.services;
  const labels = patch.labels ?? old.labels;
  const nodeLabels = patch.nodeLabels ?? old.nodeLabels;
  const lan = patch.lan && !sameList(patch.lan, MAX_LAN, old.lan ?? [])
    ? distinct(patch.lan, MAX_LAN)
    : old.lan;
  const tcpPort = typeof patch.tcpPort === "number"
    ? patch.tcpPort
    : patch.tcpPort === null
    ? undefined
    : old.tcpPort;
  const routes = patch.advertisedRoutes ?? old.advertisedRoutes;
  // A node relays when it is willing (its --relay) and the leader granted it; the leader always.
  const relay = patch.relay === true && (old.role === "leader" || old.grants?.relay)
    ? true
    : patch.relay !== undefined
    ? undefined
    : old.relay;
  const run = patch.run || old.run;
  const offline = patch.online ? undefined : old.offline;
  if (
    endpoints === old.endpoints && (observed ?? "") === (old.observed ?? "") &&
    sameJson(services, old.services) && sameJson(labels, old.labels) &&
    sameJson(nodeLabels ?? {}, old.nodeLabels ?? {}) && lan === old.lan &&
    sameJson(tcpPort ?? 0, old.tcpPort ?? 0) &&
    sameJson(routes ?? [], old.advertisedRoutes ?? []) &&
    (relay ?? false) === (old.relay ?? false) && (run ?? "") === (old.run ?? "") &&
    (offline ?? false) === (old.offline ?? false)
  ) return null;
  // Fields the record lacks come after its own, in this order (as its JSON has had them). Off,
  // none and empty are no field, as in records from before relays, TCP, LAN candidates, routes.
  const m: Member = {
    ...old,
    endpoints,
    observed,
    services,
    labels: labels === old.labels ? labels : { ...labels },
    nodeLabels: nodeLabels && isEmpty(nodeLabels) ? undefined : nodeLabels,
    lan: lan?.length ? lan : undefined,
    tcpPort,
    advertisedRoutes: !routes?.length
      ? undefined
      : routes === old.advertisedRoutes
      ? routes
      : [...routes],
    run,
    relay,
    offline,
  };
  for (const k of MAY_LACK) if (m[k] === undefined) delete m[k];
  return m;
}

// The fields updated() leaves out where they are off, none or empty.
const MAY_LACK = [
  "observed",
  "nodeLabels",
  "lan",
  "tcpPort",
  "advertisedRoutes",
  "run",
  "relay",
  "offline",
] as const;

// Whether an object has no keys (without listing them).
function isEmpty(o: Record<string, unknown>): boolean {
  for (const _ in o) return false;
  return true;
}

// The first `max` distinct entries of `list`.
function distinct(list: readonly string[], max: number): string[] {
  return [...new Set(list)].slice(0, max);
}

/**
 * Whether the first `max` distinct entries of `list` ({@link distinct}) are `old`, entry for
 * entry: told without making that list.
 */
function sameList(list: readonly string[], max: number, old: readonly string[]): boolean {
  let j = 0;
  for (let i = 0; i < list.length && j < max; i++) {
    const x = list[i];
    if (list.indexOf(x) < i) continue;
    if (j >= old.length || old[j] !== x) return false;
    j++;
  }
  return j === old.length;
}

/**
 * Applies a {@link checkedUpdate} to the member `publicKey` in `d`; whether its record changed.
 * What a router carries follows what it offers and whether it runs.
 */
export function updateMember(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  publicKey: string,
  patch: MemberUpdate,
): Edit<boolean> {
  const ix = ctx.index(d);
  const old = ix.byKey(publicKey);
  const m = old ? updated(ctx, d, old, patch) : null;
  if (!old || !m) return { result: false, write: false };
  ix.replace(m);
  touch(m.publicKey);
  if (
    (routesMatter(old) || routesMatter(m)) &&
    (m.offline !== old.offline || String(m.advertisedRoutes) !== String(old.advertisedRoutes))
  ) reassign(ctx, d, touch);
  return { result: true, write: true };
}

/**
 * Marks the node `publicKey` offline (its bye): its services are withdrawn, its record stays.
 * Whether the record changed (a second bye, or one from a leader's key, changes nothing).
 */
export function leave(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  publicKey: string,
): Edit<boolean> {
  const ix = ctx.index(d);
  const old = ix.byKey(publicKey);
  if (!old || old.role === "leader" || old.offline) return { result: false, write: false };
  ix.replace({ ...old, services: [], offline: true });
  touch(publicKey);
  // A router stopping on purpose hands its routes to another at once.
  if (routesMatter(old)) reassign(ctx, d, touch);
  return { result: true, write: true };
}

/**
 * Removes the member `nameOrAddress` from `d` at `now`: never this leader (another may be
 * decommissioned). Its key stays removed (no replay, no rejoin with the token that admitted
 * it) and its name is held for a while.
 */
export function removeMember(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  nameOrAddress: string,
  now: number,
): Edit<Member> {
  const ix = ctx.index(d);
  const m = ix.byAddressOrName(nameOrAddress);
  if (!m) throw new LeaderNotFoundError(`no node "${nameOrAddress}"`);
  if (m.publicKey === ctx.own) {
    throw new LeaderError("a leader cannot remove itself: remove it at another leader");
  }
  ix.remove(m.publicKey);
  const rec = d.joins.get(m.publicKey);
  d.joins.delete(m.publicKey);
  // Removed stays removed: no replay of its request, no rejoin with the token that admitted it.
  // Its name too, for a while: a rule naming it must not pass to whoever joins next.
  ctx.counts.forgotten += remember(d, m.publicKey, {
    time: rec?.time ?? now,
    at: now,
    removedToken: rec?.token ?? "",
    name: m.name,
  });
  touch(m.publicKey);
  if (routesMatter(m)) reassign(ctx, d, touch);
  return { result: m, write: true };
}
