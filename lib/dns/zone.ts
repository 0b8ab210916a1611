/**
 * The mesh's DNS zone: answers built from the live membership view. Names (case-insensitive,
 * under the zone, `overlay.local` by default):
 *
 * - the apex: SOA (serial = membership version) and NS `ns.<zone>`;
 * - `ns.<zone>`: the address the query arrived on;
 * - `leader.<zone>`: A/AAAA of the member(s) whose role is leader;
 * - `<hostname>.<zone>` and `node-<x>-<y>.<zone>` (last two octets of the IPv4 address): A/AAAA;
 * - `_<service>._<proto>.<zone>`: SRV (target `<hostname>.<zone>`, its addresses in the
 *   additional section) and TXT (one record per instance: `node=<hostname>`, `port=<port>`,
 *   then its labels as sorted `k=v` strings);
 * - `<service>.<zone>`: A/AAAA of every instance;
 * - `leader.<service>.<zone>`: A/AAAA of the service's current leader (the source's
 *   `leaderOf`), with a TTL of at most 1 s so that resolvers follow a failover; NXDOMAIN when
 *   no leader is known;
 * - PTR under in-addr.arpa / ip6.arpa for addresses in the overlay network, to
 *   `<hostname>.<zone>`, with SOA and NS at the reverse apex.
 *
 * Service instances of members whose health is `down` are left out, and a service with no
 * instance left does not exist. A source that scopes its answers by querier (`visibleTo`: the
 * mesh agent's, lib/dns/scope.ts) has each query answered only with the members the querier
 * may see: the others' names, services and addresses do not exist for it (NXDOMAIN).
 *
 * A member's host name is what the member says, so it never shadows a name the mesh gives: the
 * first of apex, `ns`, `leader`, service (`_x._y`), `leader.<service>`, `node-x-y`, service (`x`),
 * host name wins, and a host name that is one of the others (`ns`, `leader`, any `node-<n>-<n>`,
 * or any service a member advertises, up or not, seen by the querier or not) is no host name at
 * all: that member is `node-x-y` in its PTR and SRV records (and, without an IPv4 address, has
 * neither). ANY gets every record at the name
 * (the server listens on loopback and the overlay only, so the amplification concern of
 * RFC 8482 does not apply); AXFR/IXFR are REFUSED.
 * @module
 */

import type { HealthState } from "../health/state.ts";
import type { Member, MembershipView, ServiceSpec } from "../members/member.ts";
import { Cidr } from "../net/cidr.ts";
import { parseAddressV4, parseAddressV6 } from "../net/ip.ts";
import { dnsLabelProblem } from "../net/names.ts";
import {
  canonicalName,
  DnsClass,
  type DnsQuestion,
  DnsType,
  nameToLabels,
  Rcode,
  type ResourceRecord,
} from "./wire.ts";

/** Where the zone's data comes from; read on every query, so changes show at once. */
export interface ZoneSource {
  /** The current membership, every member included (the leader too). */
  view(): MembershipView;
  /** This node's view of a member's health; instances of `down` members are left out. */
  healthOf?(member: Member): HealthState;
  /** The member leading a service (by name) now, or null when none is known. */
  leaderOf?(service: string): Member | null;
  /**
   * Which members a query from `querier` (its source address) may be answered with; null: every
   * member (a querier the source does not scope, such as this host's own user).
   */
  visibleTo?(querier: string): ((member: Member) => boolean) | null;
}

/** Options of {@linkcode DnsZone}. */
export interface ZoneOptions {
  /** The zone's origin; default `overlay.local.`. */
  zone?: string;
  /** TTL of every record and of negative answers, seconds; default 10. */
  ttl?: number;
  /**
   * The overlay's IPv6 prefix, for ip6.arpa PTR. Without it, the view's `network6`, else the
   * /64s of the members' IPv6 addresses.
   */
  network6?: string;
}

/** Facts about the query the zone may use. */
export interface QueryContext {
  /** The local address the query arrived on (what `ns.<zone>` resolves to). */
  localAddress?: string | null;
  /** The address the query came from (the source's `visibleTo` scopes the answer by it). */
  remoteAddress?: string | null;
}

/** The zone's answer to one question. */
export interface ZoneAnswer {
  /** The response code. */
  rcode: number;
  /** Whether AA is set (true for every answer from the zone's data). */
  authoritative: boolean;
  /** The answer section. */
  answers: ResourceRecord[];
  /** The authority section (the SOA of negative answers). */
  authority: ResourceRecord[];
  /** The additional section (addresses of SRV targets and of the name server). */
  additional: ResourceRecord[];
}

/** The zone's default origin. */
export const DEFAULT_ZONE = "overlay.local.";
/** The default TTL, seconds. */
export const DEFAULT_TTL = 10;
/** The TTL of `leader.<service>` records, seconds (the zone's own when that is shorter). */
export const LEADER_TTL = 1;

/** Which hosts a query may be answered with (null: all). */
type Sees = ((member: Member) => boolean) | null;

function visible<T extends { member: Member } | { host: Host }>(list: T[], see: Sees): T[] {
  if (see === null) return list;
  return list.filter((x) => see("member" in x ? x.member : x.host.member));
}

/** A member as the zone serves it, parsed once per membership version. */
interface Host {
  member: Member;
  /**
   * `<hostname>.<zone>` (`node-<x>-<y>.<zone>` when the mesh uses the host name for something
   * else), or null when the name is not a valid label.
   */
  fqdn: string | null;
  v4: Uint8Array | null;
  v6: Uint8Array | null;
}

/** One advertised service of one member, with its records' data precomputed. */
interface Instance {
  host: Host;
  priority: number;
  weight: number;
  port: number;
  /** TXT strings: `node=`, `port=`, then the labels (`k=v`, sorted). */
  texts: string[];
}

interface ReverseZone {
  apex: string;
  cidr: Cidr;
  unitBits: 4 | 8;
  apexUnits: number;
  totalUnits: number;
}

interface Index {
  version: number;
  members: Member[];
  network: string;
  network6: string | undefined;
  hosts: Map<string, Host[]>;
  /** Every member by public key. */
  byKey: Map<string, Host>;
  nodes: Map<string, Host[]>;
  leaders: Host[];
  services: Map<string, Instance[]>;
  srv: Map<string, Instance[]>;
  /** `_proto` → the `_svc._proto` keys below it. */
  protos: Map<string, string[]>;
  reverse: ReverseZone[];
  ptr: Map<string, Host[]>;
  /** Reverse names between an apex and a full address that have an address below them. */
  ptrParents: Set<string>;
}

type Node =
  | { kind: "apex"; apex: string }
  | { kind: "ns" }
  | { kind: "hosts"; hosts: Host[] }
  | { kind: "leader"; host: Host }
  | { kind: "srv"; instances: Instance[] }
  | { kind: "service"; instances: Instance[] }
  | { kind: "ptr"; hosts: Host[] }
  | { kind: "empty" };

const utf8 = new TextEncoder();
// Records made elsewhere are read leniently: `_` is a letter here, as in service labels.
function validLabel(text: string): boolean {
  return dnsLabelProblem(text, { underscore: true }) === undefined;
}

function stripPrefix(address: string): string {
  const slash = address.indexOf("/");
  return slash < 0 ? address : address.slice(0, slash);
}

function v4Of(m: Member): Uint8Array | null {
  return m.address ? parseAddressV4(stripPrefix(m.address)) : null;
}

function v6Of(m: Member): Uint8Array | null {
  return m.address6 ? parseAddressV6(stripPrefix(m.address6)) : null;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** The reverse-lookup name (without the trailing dot) of a 4- or 16-byte address. */
export function reverseName(address: Uint8Array): string {
  const parts: string[] = [];
  if (address.length === 4) {
    for (let i = 3; i >= 0; i--) parts.push(String(address[i]));
    parts.push("in-addr", "arpa");
  } else {
    for (let i = 15; i >= 0; i--) {
      parts.push((address[i] & 0x0f).toString(16), (address[i] >> 4).toString(16));
    }
    parts.push("ip6", "arpa");
  }
  return parts.join(".");
}

function unitsOf(address: Uint8Array, unitBits: 4 | 8): number[] {
  if (unitBits === 8) return Array.from(address);
  const out: number[] = [];
  for (const b of address) out.push(b >> 4, b & 0x0f);
  return out;
}

function reverseZoneFor(cidr: Cidr): ReverseZone {
  const unitBits = cidr.family === 4 ? 8 : 4;
  const totalUnits = cidr.family === 4 ? 4 : 32;
  const apexUnits = Math.floor(cidr.bits / unitBits);
  const units = unitsOf(cidr.network, unitBits).slice(0, apexUnits).reverse();
  const suffix = cidr.family === 4 ? "in-addr.arpa" : "ip6.arpa";
  const apex = units.length === 0
    ? suffix
    : `${units.map((u) => u.toString(unitBits === 8 ? 10 : 16)).join(".")}.${suffix}`;
  return { apex, cidr, unitBits, apexUnits, totalUnits };
}

/** The zone: resolves questions against the source's current view. */
export class DnsZone {
  /** The origin, lower case, without the trailing dot. */
  readonly origin: string;
  /** TTL of every record, seconds. */
  readonly ttl: number;
  readonly #source: ZoneSource;
  readonly #network6: Cidr | null;
  readonly #nsName: string;
  readonly #hostmaster: string;
  #index: Index | null = null;
  #rotate = 0;

  /** A zone over `source`; throws on an invalid zone name, TTL or `network6`. */
  constructor(source: ZoneSource, options: ZoneOptions = {}) {
    const origin = canonicalName(options.zone ?? DEFAULT_ZONE);
    if (origin === "") throw new Error("the DNS zone cannot be the root");
    nameToLabels(origin); // throws on a malformed name
    this.origin = origin;
    const ttl = options.ttl ?? DEFAULT_TTL;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff) {
      throw new Error(`invalid DNS TTL ${ttl}`);
    }
    this.ttl = ttl;
    this.#source = source;
    this.#network6 = options.network6 === undefined ? null : Cidr.parse(options.network6);
    if (this.#network6 !== null && this.#network6.family !== 6) {
      throw new Error(`network6 "${options.network6}" is not an IPv6 prefix`);
    }
    this.#nsName = `ns.${origin}`;
    this.#hostmaster = `hostmaster.${origin}`;
  }

  /**
   * Answers one question, or returns null when the name is not in this zone nor in its reverse
   * zones (the caller forwards or refuses it).
   */
  answer(q: DnsQuestion, ctx: QueryContext = {}): ZoneAnswer | null {
    const name = canonicalName(q.name);
    const view = this.#source.view();
    const idx = this.#indexFor(view);
    const of = this.#source.visibleTo;
    const see = of && ctx.remoteAddress ? of.call(this.#source, ctx.remoteAddress) : null;
    const located = this.#locate(idx, name, see);
    if (located === null) return null;
    const res: ZoneAnswer = {
      rcode: Rcode.NOERROR,
      authoritative: true,
      answers: [],
      authority: [],
      additional: [],
    };
    if (q.class !== DnsClass.IN && q.class !== DnsClass.ANY) {
      res.rcode = Rcode.REFUSED;
      res.authoritative = false;
      return res;
    }
    if (q.type === DnsType.AXFR || q.type === DnsType.IXFR) {
      res.rcode = Rcode.REFUSED;
      res.authoritative = false;
      return res;
    }
    if (q.type === DnsType.MAILA || q.type === DnsType.MAILB) {
      res.rcode = Rcode.NOTIMP;
      res.authoritative = false;
      return res;
    }
    const { apex, node } = located;
    if (node === null) {
      res.rcode = Rcode.NXDOMAIN;
      res.authority.push(this.#soa(apex, view));
      return res;
    }
    this.#records(node, q.name, q.type, view, ctx, res);
    if (res.answers.length === 0) res.authority.push(this.#soa(apex, view));
    return res;
  }

  /** Whether `name` lies in this zone or one of its reverse zones. */
  contains(name: string): boolean {
    const idx = this.#indexFor(this.#source.view());
    return this.#locate(idx, canonicalName(name), null) !== null;
  }

  #indexFor(view: MembershipView): Index {
    const cur = this.#index;
    if (
      cur !== null && cur.version === view.version && cur.members === view.members &&
      cur.network === view.network && cur.network6 === view.network6
    ) return cur;
    const idx = this.#build(view);
    this.#index = idx;
    return idx;
  }

  #build(view: MembershipView): Index {
    const idx: Index = {
      version: view.version,
      members: view.members,
      network: view.network,
      network6: view.network6,
      hosts: new Map(),
      byKey: new Map(),
      nodes: new Map(),
      leaders: [],
      services: new Map(),
      srv: new Map(),
      protos: new Map(),
      reverse: [],
      ptr: new Map(),
      ptrParents: new Set(),
    };
    const nets: Cidr[] = [];
    const v4net = Cidr.tryParse(view.network ?? "");
    if (v4net !== null) nets.push(v4net);
    const v6net = this.#network6 ?? Cidr.tryParse(view.network6 ?? "");
    if (v6net !== null && v6net.family === 6) nets.push(v6net);
    else if (v4net?.family !== 6) {
      const seen = new Set<string>();
      for (const m of view.members) {
        const a6 = v6Of(m);
        if (a6 === null) continue;
        const c = new Cidr(a6, 64);
        if (!seen.has(c.toString())) {
          seen.add(c.toString());
          nets.push(c);
        }
      }
    }
    idx.reverse = nets.map(reverseZoneFor);
    // Equal addresses share one array, so that answers dedupe them by identity.
    const addrs = new Map<string, Uint8Array>();
    const srvSeen = new Set<string>();
    const taken = serviceNames(view.members);

    for (const m of view.members) {
      const label = typeof m.name === "string" ? m.name.toLowerCase() : "";
      const v4 = intern(addrs, v4Of(m));
      const named = validLabel(label) && !ZONE_RESERVED_LABELS.has(label) &&
        !isAddressName(label) &&
        !taken.has(label);
      // A member whose name the mesh uses for something else is known by its node name.
      const own = named
        ? label
        : validLabel(label) && v4 !== null
        ? `node-${v4[2]}-${v4[3]}`
        : null;
      const hostOk = own !== null;
      const host: Host = {
        member: m,
        fqdn: hostOk ? `${own}.${this.origin}` : null,
        v4,
        v6: intern(addrs, v6Of(m)),
      };
      if (named) push(idx.hosts, label, host);
      if (typeof m.publicKey === "string") idx.byKey.set(m.publicKey, host);
      if (m.role === "leader") idx.leaders.push(host);
      if (host.v4 !== null) push(idx.nodes, `node-${host.v4[2]}-${host.v4[3]}`, host);
      for (const addr of [host.v4, host.v6]) {
        if (addr === null || !hostOk) continue;
        const zone = idx.reverse.find((z) =>
          z.cidr.family === (addr.length === 4 ? 4 : 6) && z.cidr.contains(addr)
        );
        if (zone === undefined) continue;
        const rname = reverseName(addr);
        push(idx.ptr, rname, host);
        const labels = rname.split(".");
        const apexLabels = zone.apex.split(".").length;
        for (let cut = 1; labels.length - cut > apexLabels; cut++) {
          idx.ptrParents.add(labels.slice(cut).join("."));
        }
      }
      // Without a valid host name there is no SRV target: the member offers no services.
      if (!hostOk) continue;
      for (const spec of Array.isArray(m.services) ? m.services : []) {
        const svc = typeof spec.name === "string" ? spec.name.toLowerCase() : "";
        if (!validLabel(svc) || (spec.protocol !== "tcp" && spec.protocol !== "udp")) continue;
        if (!Number.isInteger(spec.port) || spec.port < 0 || spec.port > 65535) continue;
        // Its node's health check of it fails (lib/services): out of DNS until it passes.
        if (spec.healthy === false) continue;
        const inst: Instance = {
          host,
          priority: (spec.priority ?? 10) & 0xffff,
          weight: (spec.weight ?? 1) & 0xffff,
          port: spec.port,
          texts: txtStrings(own, spec),
        };
        const proto = `_${spec.protocol}`;
        const key = `_${svc}.${proto}`;
        // The same service listed twice would make duplicate SRV records.
        const dupKey = `${key} ${own} ${inst.port} ${inst.priority} ${inst.weight}`;
        if (srvSeen.has(dupKey)) continue;
        srvSeen.add(dupKey);
        push(idx.services, svc, inst);
        if (!idx.srv.has(key)) push(idx.protos, proto, key);
        push(idx.srv, key, inst);
      }
    }
    return idx;
  }

  /** The instances up (by the source's health) that the querier may see. */
  #healthy(instances: Instance[], see: Sees): Instance[] {
    const health = this.#source.healthOf;
    const seen = visible(instances, see);
    if (health === undefined) return seen;
    return seen.filter((i) => health.call(this.#source, i.host.member) !== "down");
  }

  #locate(idx: Index, name: string, see: Sees): { apex: string; node: Node | null } | null {
    const origin = this.origin;
    if (name === origin) return { apex: origin, node: { kind: "apex", apex: origin } };
    if (name.endsWith(origin) && name.charCodeAt(name.length - origin.length - 1) === 0x2e) {
      const rel = name.slice(0, name.length - origin.length - 1);
      return { apex: origin, node: this.#forward(idx, rel, see) };
    }
    for (const z of idx.reverse) {
      if (name === z.apex) return { apex: z.apex, node: { kind: "apex", apex: z.apex } };
      if (!name.endsWith("." + z.apex)) continue;
      const node = this.#reverse(idx, z, name, see);
      if (node === undefined) continue;
      return { apex: z.apex, node };
    }
    return null;
  }

  #forward(idx: Index, rel: string, see: Sees): Node | null {
    if (rel === "ns") return { kind: "ns" };
    if (rel === "leader") {
      const leaders = visible(idx.leaders, see);
      if (leaders.length > 0) return { kind: "hosts", hosts: leaders };
    }
    if (rel.charCodeAt(0) === 0x5f) {
      const inst = idx.srv.get(rel);
      if (inst !== undefined) {
        const live = this.#healthy(inst, see);
        if (live.length > 0) return { kind: "srv", instances: live };
      }
      const keys = idx.protos.get(rel);
      if (keys?.some((k) => this.#healthy(idx.srv.get(k) ?? [], see).length > 0)) {
        return { kind: "empty" };
      }
    }
    if (rel.startsWith("leader.")) {
      const host = this.#leader(idx, rel.slice(7), see);
      if (host !== null) return { kind: "leader", host };
    }
    const nodes = visible(idx.nodes.get(rel) ?? [], see);
    if (nodes.length > 0) return { kind: "hosts", hosts: nodes };
    const svc = idx.services.get(rel);
    if (svc !== undefined) {
      const live = this.#healthy(svc, see);
      if (live.length > 0) return { kind: "service", instances: live };
    }
    // Only names the mesh gives nothing else (#build keeps the others out of `hosts`).
    const hosts = visible(idx.hosts.get(rel) ?? [], see);
    if (hosts.length > 0) return { kind: "hosts", hosts };
    // A service with a leader but no instance this node finds up still has `leader.` below it.
    return this.#leader(idx, rel, see) !== null ? { kind: "empty" } : null;
  }

  /** The host leading `service`, when the source knows one, it is in the view and may be seen. */
  #leader(idx: Index, service: string, see: Sees): Host | null {
    const of = this.#source.leaderOf;
    if (of === undefined || service.includes(".")) return null;
    const m = of.call(this.#source, service);
    const host = m ? idx.byKey.get(m.publicKey) ?? null : null;
    return host !== null && (see === null || see(host.member)) ? host : null;
  }

  /** The node of a reverse name, null when it does not exist, undefined when not ours. */
  #reverse(idx: Index, z: ReverseZone, name: string, see: Sees): Node | null | undefined {
    const below = name.slice(0, name.length - z.apex.length - 1).split(".");
    const k = below.length;
    if (z.apexUnits + k > z.totalUnits) return null;
    const radix = z.unitBits === 8 ? 10 : 16;
    const pattern = z.unitBits === 8 ? /^(0|[1-9][0-9]{0,2})$/ : /^[0-9a-f]$/;
    const units: number[] = [];
    for (let i = k - 1; i >= 0; i--) {
      if (!pattern.test(below[i])) return null;
      const u = parseInt(below[i], radix);
      if (u > 255) return null;
      units.push(u);
    }
    // Where the prefix is not on a label boundary, part of the apex lies outside the overlay:
    // names there are not ours.
    const have = unitsOf(z.cidr.network, z.unitBits).slice(0, z.apexUnits).concat(units);
    const bits = Math.min(have.length * z.unitBits, z.cidr.bits);
    const want = unitsOf(z.cidr.network, z.unitBits);
    for (let b = 0; b < bits; b += z.unitBits) {
      const i = b / z.unitBits;
      const take = Math.min(z.unitBits, bits - b);
      const mask = ((1 << take) - 1) << (z.unitBits - take);
      if ((have[i] & mask) !== (want[i] & mask)) return undefined;
    }
    if (z.apexUnits + k === z.totalUnits) {
      const hosts = visible(idx.ptr.get(name) ?? [], see);
      return hosts.length === 0 ? null : { kind: "ptr", hosts };
    }
    return this.#ptrParent(idx, name, see) ? { kind: "empty" } : null;
  }

  /**
   * Whether a reverse name between an apex and full addresses has an address below it that the
   * querier may see (else a walk of the tree would find the addresses it may not). A scoped
   * querier costs a scan of the addresses: such names are asked by walks, not by clients.
   */
  #ptrParent(idx: Index, name: string, see: Sees): boolean {
    if (!idx.ptrParents.has(name)) return false;
    if (see === null) return true;
    const suffix = `.${name}`;
    for (const [rname, hosts] of idx.ptr) {
      if (rname.endsWith(suffix) && hosts.some((h) => see(h.member))) return true;
    }
    return false;
  }

  #soa(apex: string, view: MembershipView): ResourceRecord {
    return {
      name: apex,
      type: DnsType.SOA,
      class: DnsClass.IN,
      ttl: this.ttl,
      data: {
        kind: "soa",
        mname: this.#nsName,
        rname: this.#hostmaster,
        serial: view.version >>> 0,
        refresh: 60,
        retry: 10,
        expire: 3600,
        minimum: this.ttl,
      },
    };
  }

  #addresses(
    owner: string,
    hosts: Host[],
    type: number,
    out: ResourceRecord[],
    ttl = this.ttl,
  ): void {
    const want4 = type === DnsType.A || type === DnsType.ANY;
    const want6 = type === DnsType.AAAA || type === DnsType.ANY;
    // Two members with one address (a stale entry) would make duplicate records.
    const seen = hosts.length > 1 ? new Set<Uint8Array>() : null;
    for (const h of hosts) {
      if (want4 && h.v4 !== null && !(seen?.has(h.v4))) {
        seen?.add(h.v4);
        out.push(this.#rr(owner, DnsType.A, { kind: "address", address: h.v4 }, ttl));
      }
      if (want6 && h.v6 !== null && !(seen?.has(h.v6))) {
        seen?.add(h.v6);
        out.push(this.#rr(owner, DnsType.AAAA, { kind: "address", address: h.v6 }, ttl));
      }
    }
  }

  #rr(name: string, type: number, data: ResourceRecord["data"], ttl = this.ttl): ResourceRecord {
    return { name, type, class: DnsClass.IN, ttl, data };
  }

  #nsRecords(type: number, ctx: QueryContext, out: ResourceRecord[]): void {
    const local = ctx.localAddress ? stripPrefix(ctx.localAddress) : "";
    const a4 = parseAddressV4(local);
    const a6 = a4 === null ? parseAddressV6(local) : null;
    // A wildcard bind address says nothing about where the client can reach us.
    if (a4 !== null && a4.some((b) => b !== 0) && (type === DnsType.A || type === DnsType.ANY)) {
      out.push(this.#rr(this.#nsName, DnsType.A, { kind: "address", address: a4 }));
    }
    if (
      a6 !== null && a6.some((b) => b !== 0) && (type === DnsType.AAAA || type === DnsType.ANY)
    ) out.push(this.#rr(this.#nsName, DnsType.AAAA, { kind: "address", address: a6 }));
  }

  #records(
    node: Node,
    owner: string,
    type: number,
    view: MembershipView,
    ctx: QueryContext,
    res: ZoneAnswer,
  ): void {
    const any = type === DnsType.ANY;
    const out = res.answers;
    switch (node.kind) {
      case "apex":
        if (type === DnsType.SOA || any) {
          const soa = this.#soa(node.apex, view);
          soa.name = owner;
          out.push(soa);
        }
        if (type === DnsType.NS || any) {
          out.push(this.#rr(owner, DnsType.NS, { kind: "name", name: this.#nsName }));
          this.#nsRecords(DnsType.ANY, ctx, res.additional);
        }
        break;
      case "ns":
        this.#nsRecords(type, ctx, out);
        for (const rr of out) rr.name = owner;
        break;
      case "hosts":
        this.#addresses(owner, node.hosts, type, out);
        break;
      case "leader":
        // Short-lived: a resolver's cache must not hide a failover for long.
        this.#addresses(owner, [node.host], type, out, Math.min(this.ttl, LEADER_TTL));
        break;
      case "service": {
        const hosts = uniqueHosts(node.instances);
        this.#addresses(owner, rotate(hosts, this.#rotate++), type, out);
        break;
      }
      case "srv":
        if (type === DnsType.SRV || any) this.#srv(owner, node.instances, res);
        if (type === DnsType.TXT || any) this.#txt(owner, node.instances, out);
        break;
      case "ptr":
        if (type === DnsType.PTR || any) {
          const seen = new Set<string>();
          for (const h of node.hosts) {
            if (seen.has(h.fqdn!)) continue;
            seen.add(h.fqdn!);
            out.push(this.#rr(owner, DnsType.PTR, { kind: "name", name: h.fqdn! }));
          }
        }
        break;
      case "empty":
        break;
    }
  }

  #srv(owner: string, instances: Instance[], res: ZoneAnswer): void {
    for (const n of instances) {
      res.answers.push(this.#rr(owner, DnsType.SRV, {
        kind: "srv",
        priority: n.priority,
        weight: n.weight,
        port: n.port,
        target: n.host.fqdn!,
      }));
    }
    for (const h of uniqueHosts(instances)) {
      this.#addresses(h.fqdn!, [h], DnsType.ANY, res.additional);
    }
  }

  #txt(owner: string, instances: Instance[], out: ResourceRecord[]): void {
    const seen = new Set<string>();
    for (const { texts } of instances) {
      const key = texts.join("\u0000");
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(this.#rr(owner, DnsType.TXT, { kind: "txt", texts }));
    }
  }
}

/**
 * Labels the zone answers for itself, which no member's host name may take: the apex's name
 * server, the leaders (`leader.<zone>`, `leader.<service>.<zone>`), and `localhost` (every
 * resolver's own). The leader gives no member one of these names (lib/mesh/leader/names.ts).
 */
export const ZONE_RESERVED_LABELS: ReadonlySet<string> = new Set(["leader", "ns", "localhost"]);

// One IPv4 octet as the zone writes it in `node-<x>-<y>` (decimal, no leading zero).
const OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const ADDRESS_NAME = new RegExp(`^node-${OCTET}-${OCTET}$`);

/**
 * Whether `label` has the form of the zone's address names, `node-<x>-<y>` (every one, whether
 * a member holds that address now or not).
 */
export function isAddressName(label: string): boolean {
  return ADDRESS_NAME.test(label);
}

/** Every service name a member advertises (lower case), whatever its health or its members. */
function serviceNames(members: readonly Member[]): Set<string> {
  const out = new Set<string>();
  for (const m of members) {
    for (const spec of Array.isArray(m.services) ? m.services : []) {
      if (typeof spec?.name === "string") out.add(spec.name.toLowerCase());
    }
  }
  return out;
}

/**
 * The TXT strings of an instance: where it is (`node=`, `port=`), so that every instance answers
 * one, then its labels as sorted `k=v`, those over 255 bytes left out.
 */
function txtStrings(node: string, spec: ServiceSpec): string[] {
  const labels = spec.labels ?? {};
  return [
    `node=${node}`,
    `port=${spec.port}`,
    ...Object.keys(labels).sort()
      .map((k) => `${k}=${labels[k]}`)
      .filter((t) => utf8.encode(t).length <= 255),
  ];
}

function intern(table: Map<string, Uint8Array>, addr: Uint8Array | null): Uint8Array | null {
  if (addr === null) return null;
  const key = addr.join(".");
  const known = table.get(key);
  if (known !== undefined) return known;
  table.set(key, addr);
  return addr;
}

function uniqueHosts(instances: Instance[]): Host[] {
  if (instances.length === 1) return [instances[0].host];
  return [...new Set(instances.map((i) => i.host))];
}

function rotate<T>(list: T[], by: number): T[] {
  if (list.length < 2) return list;
  const k = by % list.length;
  return k === 0 ? list : list.slice(k).concat(list.slice(0, k));
}
