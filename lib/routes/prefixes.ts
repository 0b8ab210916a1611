/**
 * The vocabulary of routes through members: the prefixes a member advertises (networks behind it
 * and, as an exit node, the two default routes), the approvals the leader grants (prefixes, or
 * `exit`), and which advertised routes an approval covers. Parsed once at the edge (flags, YAML,
 * tokens, API bodies, hellos) into canonical text: `198.51.100.0/24`, `2001:db8::/32`.
 * @module
 */

import { Cidr } from "../net/cidr.ts";

/** The approval (and `route approve` argument) that lets a member be an exit node. */
export const EXIT = "exit";
/** The routes an exit node advertises: the IPv4 and IPv6 default routes. */
export const EXIT_PREFIXES: readonly string[] = ["0.0.0.0/0", "::/0"];
/** At most this many routes a member may advertise, and a token or member may approve. */
export const MAX_ROUTES = 64;

/** Whether `prefix` (canonical) is one of the default routes an exit node carries. */
export function isExitPrefix(prefix: string): boolean {
  return prefix === "0.0.0.0/0" || prefix === "::/0";
}

/**
 * Parses one advertised subnet route (`198.51.100.0/24`): a prefix without host bits; the
 * default routes are `--advertise-exit-node`'s, not a subnet route. Throws an Error saying why.
 *
 * @example
 * ```ts run
 * import { parseRoute } from "@weft/weft/mesh";
 * console.log(parseRoute("2001:DB8::/32")); // prints: 2001:db8::/32
 * ```
 */
export function parseRoute(text: string): string {
  const c = Cidr.tryParse(text);
  if (c === null || !text.includes("/")) {
    throw new Error(`invalid route "${text}": expected a prefix such as 198.51.100.0/24`);
  }
  if (c.hasHostBits) {
    throw new Error(`invalid route "${text}": host bits are set (the prefix is ${c.toString()})`);
  }
  if (c.bits === 0) {
    throw new Error(
      `invalid route "${text}": the default route is offered as an exit node (--advertise-exit-node)`,
    );
  }
  return c.toString();
}

/** Parses a list of subnet routes: canonical, sorted, duplicates dropped, at most {@link MAX_ROUTES}. */
export function parseRoutes(texts: readonly string[]): string[] {
  const out = [...new Set(texts.map(parseRoute))].sort();
  if (out.length > MAX_ROUTES) {
    throw new Error(`at most ${MAX_ROUTES} routes may be advertised, not ${out.length}`);
  }
  return out;
}

/**
 * Parses one approval: `exit`, or a prefix (approving the advertised routes inside it).
 * Throws an Error saying why not.
 */
export function parseApproval(text: string): string {
  if (text.trim().toLowerCase() === EXIT) return EXIT;
  try {
    return parseRoute(text.trim());
  } catch (e) {
    throw new Error(`${(e as Error).message}; or "exit" for an exit node`);
  }
}

/** Parses a list of approvals (`198.51.100.0/24,exit`): canonical, sorted, deduplicated. */
export function parseApprovals(texts: readonly string[]): string[] {
  const out = [...new Set(texts.map(parseApproval))].sort();
  if (out.length > MAX_ROUTES) {
    throw new Error(`at most ${MAX_ROUTES} routes may be approved, not ${out.length}`);
  }
  return out;
}

/** Whether the approvals cover the advertised prefix `route` (canonical). */
export function approves(approvals: readonly string[], route: string): boolean {
  if (isExitPrefix(route)) return approvals.includes(EXIT);
  const r = Cidr.parse(route);
  for (const a of approvals) {
    if (a === EXIT) continue;
    const p = Cidr.parse(a);
    if (p.family === r.family && p.bits <= r.bits && p.overlaps(r)) return true;
  }
  return false;
}

/**
 * A member's advertised routes as a message carries them (a hello, a join request): the list
 * when it is one of at most {@link MAX_ROUTES} canonical prefixes (defaults included), else null
 * (a malformed field, ignored and counted by the caller).
 */
export function validRouteList(x: unknown): string[] | null {
  if (!Array.isArray(x) || x.length > MAX_ROUTES) return null;
  const out: string[] = [];
  for (const r of x) {
    if (typeof r !== "string" || r.length > 64) return null;
    const c = Cidr.tryParse(r);
    if (c === null || c.hasHostBits || c.toString() !== r || !r.includes("/")) return null;
    out.push(r);
  }
  return [...new Set(out)].sort();
}

/** What a member advertises, from its flags: the subnet routes, and the defaults as an exit node. */
export function advertisedRoutes(routes: readonly string[], exitNode: boolean): string[] {
  return [...new Set([...routes, ...(exitNode ? EXIT_PREFIXES : [])])].sort();
}
