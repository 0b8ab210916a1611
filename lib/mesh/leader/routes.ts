/**
 * The leader's side of routes through members: which routes a member serves (what it advertises
 * as far as it is approved), which it carries (one carrier per prefix: lib/routes/primary.ts),
 * whether it is an exit node, and the list `weft route list` shows. Pure functions over member
 * records; the core runs them inside its changes.
 * @module
 */

import type { Member } from "../../members/member.ts";
import { assignRoutes } from "../../routes/primary.ts";
import { approves, EXIT, EXIT_PREFIXES, isExitPrefix, MAX_ROUTES } from "../../routes/prefixes.ts";
import { Cidr } from "../../net/cidr.ts";

/**
 * The subnet routes `m` serves: those it advertises that are approved (a leader's own need no
 * approval: its operator is the one who approves), default routes left out.
 */
export function servedRoutes(m: Member): string[] {
  const adv = m.advertisedRoutes ?? [];
  const approved = m.grants?.routes ?? [];
  return adv.filter((r) => !isExitPrefix(r) && (m.role === "leader" || approves(approved, r)));
}

/** Whether `m` advertises itself as an exit node (both default routes), approved or not. */
export function advertisesExit(m: Member): boolean {
  const adv = m.advertisedRoutes ?? [];
  return EXIT_PREFIXES.every((p) => adv.includes(p));
}

/** Whether `m` offers itself as an exit node (both default routes) and may be one. */
export function servesExit(m: Member): boolean {
  return advertisesExit(m) && (m.role === "leader" || (m.grants?.routes ?? []).includes(EXIT));
}

/** Whether a record takes part in routes at all (so most changes skip the reassignment). */
export function routesMatter(m: Member | undefined): boolean {
  return !!m && (m.advertisedRoutes !== undefined || m.routes !== undefined || m.exitNode === true);
}

/**
 * Sets every member's `routes` (the prefixes it carries) and `exitNode` from what it serves and
 * whether it is eligible (`eligible`: online and heard from); calls `replace` with each record
 * that changed (a new object). Returns how many changed.
 */
export function reassignRoutes(
  members: readonly Member[],
  eligible: (m: Member) => boolean,
  replace: (m: Member) => void,
): number {
  const routers = members.filter(routesMatter);
  const carried = assignRoutes(routers.map((m) => ({
    publicKey: m.publicKey,
    name: m.name,
    joinedAt: m.joinedAt,
    served: servedRoutes(m),
    carries: m.routes ?? [],
    eligible: eligible(m),
  })));
  let changed = 0;
  for (const m of routers) {
    const routes = carried.get(m.publicKey) ?? [];
    // An exit node that stopped or went quiet is withdrawn: its users' traffic goes out directly.
    const exit = servesExit(m) && eligible(m);
    if (sameList(routes, m.routes ?? []) && exit === (m.exitNode === true)) continue;
    const next: Member = { ...m, routes };
    if (routes.length === 0) delete next.routes;
    if (exit) next.exitNode = true;
    else delete next.exitNode;
    replace(next);
    changed++;
  }
  return changed;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * A node's approvals after `approve` and `revoke` (canonical, from `parseApprovals`), sorted; or
 * why the change is refused: a revocation naming nothing approved, or one that leaves the prefix
 * approved through a wider approval (which it names, so the operator revokes that).
 */
export function changedApprovals(
  before: readonly string[],
  approve: readonly string[],
  revoke: readonly string[],
  node: string,
): string[] | string {
  let routes = [...new Set([...before, ...approve])];
  const covers = (wide: string, narrow: string) =>
    wide !== EXIT && narrow !== EXIT && inside(narrow, wide);
  for (const r of revoke) {
    const gone = routes.filter((a) => a === r || covers(r, a));
    const wider = routes.find((a) => !gone.includes(a) && covers(a, r));
    if (gone.length === 0) {
      return wider
        ? `${r} is approved through ${wider}: revoke ${wider}`
        : `${r} is not approved for ${node}`;
    }
    if (wider) return `${r} is also approved through ${wider}: revoke ${wider}`;
    routes = routes.filter((a) => !gone.includes(a));
  }
  if (routes.length > MAX_ROUTES) {
    return `at most ${MAX_ROUTES} routes may be approved for a node, not ${routes.length}`;
  }
  return routes.sort();
}

/**
 * Why approving `approve` (canonical) for `m` is refused, or null: each approval must cover a
 * route the node advertises (`exit`: both default routes), since an approval of nothing is
 * most often a typo that leaves the operator's subnet unrouted. `preApprove` (the operator
 * approving ahead of the node's advertisement) lifts it. Approvals already held are not asked
 * about again.
 */
export function unadvertisedApproval(
  m: Member,
  approve: readonly string[],
  preApprove: boolean,
): string | null {
  if (preApprove) return null;
  const adv = m.advertisedRoutes ?? [];
  const held = m.grants?.routes ?? [];
  const idle = approve.filter((a) =>
    !held.includes(a) &&
    (a === EXIT ? !advertisesExit(m) : !adv.some((r) => !isExitPrefix(r) && approves([a], r)))
  );
  if (idle.length === 0) return null;
  const offers = adv.filter((r) => !isExitPrefix(r));
  if (advertisesExit(m)) offers.push(EXIT);
  const named = (xs: readonly string[]) =>
    xs.length > 4 ? `${xs.slice(0, 4).join(", ")} and ${xs.length - 4} more` : xs.join(", ");
  return `${m.name} advertises ${offers.length ? named(offers) : "no routes"}: ` +
    `${named(idle)} would approve none of them (pre-approve to approve ahead of its ` +
    "advertisement)";
}

/** Whether prefix `a` lies inside prefix `b` (both canonical, neither `exit`). */
function inside(a: string, b: string): boolean {
  const x = Cidr.parse(a);
  const y = Cidr.parse(b);
  return x.family === y.family && y.bits <= x.bits && y.overlaps(x);
}

/** One node's routes, as `weft route list` shows them. */
export interface NodeRoutes {
  /** The node's name. */
  name: string;
  /** Its overlay address. */
  address: string;
  /** What it advertises (default routes included when it offers an exit). */
  advertised: string[];
  /** What the leader approved for it (prefixes and `exit`). */
  approved: string[];
  /** The routes it carries now: advertised, approved, and it the primary. */
  primary: string[];
  /** Advertised and approved but carried by another node (standby). */
  standby: string[];
  /** Advertised but not approved: nobody uses them. */
  pending: string[];
  /** It is an approved exit node. */
  exitNode: boolean;
  /** It stopped on purpose. */
  offline: boolean;
}

/** The routes of every member that advertises or was approved any, by name. */
export function routeList(members: readonly Member[]): NodeRoutes[] {
  const out: NodeRoutes[] = [];
  for (const m of members) {
    if (!m.advertisedRoutes?.length && !m.grants?.routes?.length) continue;
    const served = servedRoutes(m);
    const primary = m.routes ?? [];
    const exitOk = servesExit(m);
    const adv = m.advertisedRoutes ?? [];
    out.push({
      name: m.name,
      address: m.address,
      advertised: adv,
      approved: m.grants?.routes ?? [],
      primary,
      standby: served.filter((r) => !primary.includes(r)),
      pending: adv.filter((r) => isExitPrefix(r) ? !exitOk : !served.includes(r)),
      exitNode: m.exitNode === true,
      offline: m.offline === true,
    });
  }
  return out.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
