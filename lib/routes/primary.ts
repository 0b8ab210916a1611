/**
 * Which member carries each subnet route. A prefix several members serve (advertised and
 * approved) is carried by one of them, its primary, so every member sends it the same way and
 * WireGuard's allowed IPs (one peer per prefix) can hold it. The primary keeps the prefix while
 * it is eligible (online, heard from): a router that comes back does not take it back, as
 * moving a prefix cuts the connections (and masquerade state) going through the old one. When the
 * primary is not eligible the first eligible router in join order takes over; with none
 * eligible, the prefix stays where it was.
 * @module
 */

/** One member that serves routes, as the assignment reads it. */
export interface RouterInfo {
  /** Its public key. */
  publicKey: string;
  /** When it joined (unix ms): the order routers take over in. */
  joinedAt: number;
  /** Its name, to break ties in join order. */
  name: string;
  /** The subnet routes it serves: advertised and approved (canonical). */
  served: readonly string[];
  /** The prefixes it carries now (the record's `routes`). */
  carries: readonly string[];
  /** Whether it may carry routes now (online and heard from). */
  eligible: boolean;
}

/**
 * The prefixes each router carries after the assignment, by public key (every router present,
 * with an empty list for none), sorted.
 *
 * @example
 * ```ts check: an internal helper (the leader runs it); not exported from a package entry
 * import { assignRoutes } from "./primary.ts";
 * const a = {
 *   publicKey: "A",
 *   joinedAt: 1,
 *   name: "a",
 *   served: ["198.51.100.0/24"],
 *   carries: [],
 *   eligible: true,
 * };
 * const b = { ...a, publicKey: "B", joinedAt: 2, name: "b" };
 * assignRoutes([b, a]).get("A"); // ["198.51.100.0/24"]
 * ```
 */
export function assignRoutes(routers: readonly RouterInfo[]): Map<string, string[]> {
  const ordered = [...routers].sort((x, y) =>
    x.joinedAt - y.joinedAt || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)
  );
  const out = new Map<string, string[]>(ordered.map((r) => [r.publicKey, []]));
  const prefixes = new Set(ordered.flatMap((r) => r.served));
  for (const p of prefixes) {
    const serving = ordered.filter((r) => r.served.includes(p));
    const holder = serving.find((r) => r.carries.includes(p));
    const chosen = holder?.eligible ? holder : serving.find((r) => r.eligible) ?? holder ??
      serving[0];
    out.get(chosen.publicKey)!.push(p);
  }
  for (const list of out.values()) list.sort();
  return out;
}
