/**
 * Who asks a mesh DNS server, and which members its answers may name. The source address of a
 * query says who asks: this host (loopback or one of its own addresses), a member (its overlay
 * address: WireGuard let it in only from that member), a member's subnet route (a host behind a
 * router, or the router from its LAN address: the router answers for it, as its allowed IPs do),
 * an overlay address of no member (one just removed), or anything else.
 *
 * This host is answered from the whole view. Any other querier gets the members it may see:
 * the leader knows every member's scope (views scoped by policy; without a policy every member
 * sees every member) and answers with that. A member knows its own scope only, never another's,
 * so on the overlay it answers with the members every querier may see: the leaders and the
 * relays (in every scope), itself (the querier reached it) and the querier itself. A querier of
 * no member gets the leaders, the relays and this node.
 * @module
 */

import type { Member, MembershipView } from "../members/member.ts";
import { Cidr } from "../net/cidr.ts";
import { formatAddressWords, parseAddress, parseAddressWords } from "../net/ip.ts";
import { isLoopbackHost } from "../net/hostport.ts";

/** Which members a query may be answered with (null: every member). */
export type Sees = ((member: Member) => boolean) | null;

/**
 * How this node judges who may see whom now: `all` (every member sees every member: no policy
 * in force), `unknown` (a member: it knows its own scope only), or by keys (the leader's scopes).
 */
export type ScopeJudge = "all" | "unknown" | ((viewer: string, seen: string) => boolean);

/** What a query's scope is worked out from. */
export interface DnsScopeDeps {
  /** The view held now. */
  view: () => MembershipView;
  /** This node's public key. */
  self: string;
  /** Whether an address (canonical text) is this host's own: its user asks from there. */
  local: (address: string) => boolean;
  /** How this node judges scopes now. */
  judge: () => ScopeJudge;
}

/** An address as canonical text (an IPv4-mapped IPv6 address as IPv4); null when not one. */
export function canonicalAddress(text: string): string | null {
  const slash = text.indexOf("/");
  const words = parseAddressWords(slash < 0 ? text : text.slice(0, slash));
  return words === null ? null : formatAddressWords(words);
}

/** Who a query came from, by its source address. */
export type Querier =
  | { kind: "local" }
  | { kind: "member"; member: Member }
  | { kind: "other" };

/** A view's members by overlay address, their routes and the overlay networks. */
interface Index {
  members: readonly Member[];
  byAddress: Map<string, Member>;
  /** Every member's routes, the longest prefix first. */
  routes: { cidr: Cidr; member: Member }[];
}

function indexOf(v: MembershipView): Index {
  const byAddress = new Map<string, Member>();
  const routes: Index["routes"] = [];
  for (const m of v.members) {
    for (const a of [m.address, m.address6]) {
      const c = typeof a === "string" ? canonicalAddress(a) : null;
      if (c !== null) byAddress.set(c, m);
    }
    for (const r of Array.isArray(m.routes) ? m.routes : []) {
      const cidr = typeof r === "string" ? Cidr.tryParse(r) : null;
      if (cidr !== null) routes.push({ cidr, member: m });
    }
  }
  routes.sort((a, b) => b.cidr.bits - a.cidr.bits);
  return { members: v.members, byAddress, routes };
}

/** Tells queriers apart by source address against the current view (indexed once per view). */
export class QuerierIndex {
  readonly #view: () => MembershipView;
  readonly #local: (address: string) => boolean;
  #index: Index | null = null;

  /** Over `view`, with `local` saying which addresses are this host's. */
  constructor(view: () => MembershipView, local: (address: string) => boolean) {
    this.#view = view;
    this.#local = local;
  }

  /** Who asks from `source` (address text). */
  querier(source: string): Querier {
    const at = canonicalAddress(source);
    if (at === null) return { kind: "other" };
    if (this.#local(at)) return { kind: "local" };
    const v = this.#view();
    if (this.#index?.members !== v.members) this.#index = indexOf(v);
    const idx = this.#index;
    const member = idx.byAddress.get(at);
    if (member !== undefined) return { kind: "member", member };
    // A routed source is its router: the longest of the carried prefixes holding it.
    const bytes = parseAddress(at)!;
    for (const r of idx.routes) {
      if (r.cidr.family === (bytes.length === 4 ? 4 : 6) && r.cidr.contains(bytes)) {
        return { kind: "member", member: r.member };
      }
    }
    return { kind: "other" };
  }
}

/** Members every querier may see: the leaders and the relays. */
function everyones(m: Member): boolean {
  return m.role === "leader" || m.relay === true;
}

/**
 * The DNS zone's `visibleTo` (see the module docs): per query, by its source address, the
 * members it may be answered with, null for every member.
 */
export function dnsScope(deps: DnsScopeDeps): (querier: string) => Sees {
  const index = new QuerierIndex(deps.view, deps.local);
  const self = deps.self;
  return (source) => {
    const judge = deps.judge();
    if (judge === "all") return null;
    const q = index.querier(source);
    if (q.kind === "local") return null;
    const base = (m: Member) => everyones(m) || m.publicKey === self;
    if (q.kind === "other") return base;
    const key = q.member.publicKey;
    // This node's own address or route: this host asks.
    if (key === self) return null;
    if (judge === "unknown") return (m) => base(m) || m.publicKey === key;
    return (m) => base(m) || judge(key, m.publicKey);
  };
}

/** How often, at most, this host's addresses are read again for a source not among them. */
const REFRESH_MS = 1000;

/** This host's interface addresses; none when they cannot be read (no --allow-sys). */
export function hostAddresses(): string[] {
  try {
    return Deno.networkInterfaces().map((i) => i.address);
  } catch {
    return []; // without --allow-sys, loopback and the given addresses are all we know
  }
}

/**
 * This host's own addresses (loopback, every interface's, and those given), read again at most
 * once a second when a source is not among them: an address added later (the overlay's) counts
 * soon, and a flood of other sources costs one read a second.
 */
export class LocalAddresses {
  readonly #given: string[];
  readonly #read: () => string[];
  readonly #now: () => number;
  #known = new Set<string>();
  #readAt = -Infinity;

  /** The host's addresses and `given`; `read` and `now` are for tests. */
  constructor(given: readonly string[] = [], read = hostAddresses, now = Date.now) {
    this.#given = given.flatMap((a) => canonicalAddress(a) ?? []);
    this.#read = read;
    this.#now = now;
  }

  /** Whether `address` (text) is this host's. */
  has(address: string | null): boolean {
    const at = address === null ? null : canonicalAddress(address);
    if (at === null) return false;
    if (isLoopbackHost(at) || this.#known.has(at)) return true;
    const now = this.#now();
    if (now - this.#readAt < REFRESH_MS) return false;
    this.#readAt = now;
    this.#known = new Set([
      ...this.#given,
      ...this.#read().flatMap((a) => canonicalAddress(a) ?? []),
    ]);
    return this.#known.has(at);
  }
}
