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
import { remember, sameJson, sameRecord } from "./records.ts";
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

/** `old` with a {@link checkedUpdate} applied in `d`; null when that changes nothing. */
export function updated(
  ctx: EditContext,
  d: LeaderFile,
  old: Member,
  patch: MemberUpdate,
): Member | null {
  const m: Member = {
    ...old,
    ...(patch.endpoints ? { endpoints: [...new Set(patch.endpoints)].slice(0, 8) } : {}),
    ...(patch.observed ? { observed: patch.observed } : {}),
    ...(patch.services ? { services: grantedServices(ctx, d, old, patch.services) } : {}),
    ...(patch.labels ? { labels: { ...patch.labels } } : {}),
    ...(patch.nodeLabels ? { nodeLabels: patch.nodeLabels } : {}),
    ...(patch.lan ? { lan: [...new Set(patch.lan)].slice(0, MAX_LAN) } : {}),
    ...(typeof patch.tcpPort === "number" ? { tcpPort: patch.tcpPort } : {}),
    ...(patch.advertisedRoutes ? { advertisedRoutes: [...patch.advertisedRoutes] } : {}),
    ...(patch.run ? { run: patch.run } : {}),
  };
  if (m.advertisedRoutes?.length === 0) delete m.advertisedRoutes;
  // Off is no field, as in records from before relays and TCP. A node relays when it is
  // willing (its --relay) and the leader granted it; the leader always relays.
  if (patch.relay === true && (old.role === "leader" || old.grants?.relay)) m.relay = true;
  else if (patch.relay !== undefined) delete m.relay;
  if (patch.tcpPort === null) delete m.tcpPort;
  if (patch.observed === null) delete m.observed;
  if (patch.online) delete m.offline;
  if (m.nodeLabels && Object.keys(m.nodeLabels).length === 0) delete m.nodeLabels;
  // No LAN candidates is no field: records stay as they were before candidates existed.
  if (m.lan && m.lan.length === 0) delete m.lan;
  return sameRecord(m, old) ? null : m;
}

/**
 * Whether a {@link checkedUpdate} surely leaves `old` as it is ({@link updated} would give null),
 * told without making the record. Every hello lands here (a thousand a second at 10,000
 * members), nearly all changing nothing, and making the record to compare (its lists copied,
 * deduplicated) was a tenth of what a leader allocated joining 10,000 (`fleet.ts --profile`,
 * FLEET_PROFILE_ALLOC=1). False when it changes something, or when telling needs more (services
 * offered, granted labels): then {@link updated} decides.
 */
export function unchanged(old: Member, patch: MemberUpdate): boolean {
  if (patch.labels) return false;
  if (patch.services && (patch.services.length > 0 || old.services.length > 0)) return false;
  if (patch.endpoints && !sameList(patch.endpoints, 8, old.endpoints)) return false;
  if (patch.lan && !sameList(patch.lan, MAX_LAN, old.lan ?? [])) return false;
  if (
    patch.advertisedRoutes &&
    !sameList(patch.advertisedRoutes, Infinity, old.advertisedRoutes ?? [], false)
  ) {
    return false;
  }
  const observed = patch.observed
    ? patch.observed
    : patch.observed === null
    ? undefined
    : old.observed;
  if ((observed ?? "") !== (old.observed ?? "")) return false;
  if (patch.nodeLabels) {
    const empty = Object.keys(patch.nodeLabels).length === 0;
    if (!sameJson(empty ? {} : patch.nodeLabels, old.nodeLabels ?? {})) return false;
  }
  const tcpPort = typeof patch.tcpPort === "number"
    ? patch.tcpPort
    : patch.tcpPort === null
    ? undefined
    : old.tcpPort;
  if (!Number.isSafeInteger(tcpPort ?? 0) || (tcpPort ?? 0) !== (old.tcpPort ?? 0)) return false;
  const relay = patch.relay === true && (old.role === "leader" || old.grants?.relay)
    ? true
    : patch.relay !== undefined
    ? undefined
    : old.relay;
  if ((relay ?? false) !== (old.relay ?? false)) return false;
  if (patch.run && patch.run !== old.run) return false;
  if (patch.online && old.offline) return false;
  return true;
}

/**
 * Whether `list` taken as {@link updated} takes it (its first `max` distinct entries, or all of
 * them as they are without `dedupe`) is `old`, entry for entry.
 */
function sameList(
  list: readonly string[],
  max: number,
  old: readonly string[],
  dedupe = true,
): boolean {
  let j = 0;
  for (let i = 0; i < list.length && j < max; i++) {
    const x = list[i];
    if (dedupe && list.indexOf(x) < i) continue;
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
