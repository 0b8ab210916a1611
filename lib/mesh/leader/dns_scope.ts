/**
 * Which members the leader's DNS server answers a query with, by its source address: views scoped
 * by policy hold for names too. A query from a member's overlay address (WireGuard authenticated
 * it: the address is in that member's allowed IPs only) is answered with the members that member
 * may see, the leaders always; one from another address in the overlay network (a member just
 * removed) with the leaders only; one from anywhere else (loopback: this host's own user) with
 * every member. Without a policy every query gets every member.
 * @module
 */

import type { Member, MembershipView } from "../../members/member.ts";
import { Cidr } from "../../net/cidr.ts";
import { formatAddress, parseAddress } from "../../net/ip.ts";

/** What the visibility reads of the leader. */
export interface DnsScopeDeps {
  /** The leader's view now. */
  view: () => MembershipView;
  /** Whether a policy scopes the views now (false: every member sees every member). */
  scoped: () => boolean;
  /** Whether member `viewer` may know of member `seen` (by keys). */
  sees: (viewer: string, seen: string) => boolean;
}

/** Members by overlay address (canonical text), and the overlay networks, for one view. */
interface Index {
  members: readonly Member[];
  byAddress: Map<string, Member>;
  networks: Cidr[];
}

/** An address as canonical text (an IPv4-mapped IPv6 source as IPv4); null when not one. */
function canonical(text: string): string | null {
  const slash = text.indexOf("/");
  const bytes = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (bytes === null) return null;
  const mapped = bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) &&
    bytes[10] === 0xff && bytes[11] === 0xff;
  return formatAddress(mapped ? bytes.subarray(12) : bytes);
}

/** The leaders of a view only: what an overlay address of no member is answered with. */
const leadersOnly = (m: Member): boolean => m.role === "leader";

/**
 * The DNS zone's `visibleTo` for the leader: per query, the members its source may see (null:
 * every member). See the module docs.
 */
export function dnsVisibility(
  deps: DnsScopeDeps,
): (querier: string) => ((member: Member) => boolean) | null {
  let index: Index | null = null;
  const indexFor = (v: MembershipView): Index => {
    if (index?.members === v.members) return index;
    const byAddress = new Map<string, Member>();
    for (const m of v.members) {
      for (const a of [m.address, m.address6]) {
        const c = a === undefined ? null : canonical(a);
        if (c !== null) byAddress.set(c, m);
      }
    }
    const networks = [v.network, v.network6].flatMap((n) => {
      const c = n === undefined ? null : Cidr.tryParse(n);
      return c === null ? [] : [c];
    });
    return index = { members: v.members, byAddress, networks };
  };
  return (querier) => {
    if (!deps.scoped()) return null;
    const at = canonical(querier);
    if (at === null) return leadersOnly;
    const idx = indexFor(deps.view());
    const viewer = idx.byAddress.get(at);
    if (viewer !== undefined) {
      const key = viewer.publicKey;
      return (m) => m.role === "leader" || deps.sees(key, m.publicKey);
    }
    return idx.networks.some((n) => n.containsText(at)) ? leadersOnly : null;
  };
}
