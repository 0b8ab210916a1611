/**
 * This node's own endpoint candidates: the `host:port` texts other members may try to reach it
 * at. Three kinds, in this order: `lan` (the machine's interface addresses with the listen
 * port), `advertised` (given by the operator, names allowed) and `observed` (reflexive: where
 * the leader or a peer saw our datagrams come from, behind whatever NAT is in the way).
 * @module
 */

import { Cidr } from "../net/cidr.ts";
import { formatHostPort, parseHostPort } from "../net/hostport.ts";
import { formatAddress, parseAddress } from "../net/ip.ts";

/** Where a candidate comes from. */
export type CandidateKind = "lan" | "advertised" | "observed";

/** One candidate endpoint. */
export interface Candidate {
  /** Where it comes from. */
  kind: CandidateKind;
  /** `host:port`, IPv6 in brackets. */
  endpoint: string;
}

/** The part of `Deno.NetworkInterfaceInfo` that is used. */
export interface InterfaceAddress {
  /** The interface name (`eth0`). */
  name: string;
  /** The address family. */
  family: "IPv4" | "IPv6";
  /** The address, without prefix length or zone. */
  address: string;
  /** The address with its prefix length (`192.168.1.7/24`), as Deno lists interfaces. */
  cidr?: string;
}

/** At most this many candidates are published. */
export const MAX_CANDIDATES = 16;
/** Each kind is sure of this many places, so many interfaces cannot crowd out the others. */
const SHARE: Readonly<Record<CandidateKind, number>> = { lan: 8, advertised: 4, observed: 4 };
/** At most this many sources' observations are kept (the oldest reporter is dropped first). */
export const MAX_OBSERVERS = 64;

/**
 * Container and VM bridges: their addresses are the same on every host that runs them, so they
 * only waste probes.
 */
export const DEFAULT_SKIP_INTERFACE = (name: string): boolean =>
  /^(docker|br-|veth|virbr)/.test(name);

/** Options of {@link Candidates}. */
export interface CandidatesOptions {
  /** The WireGuard UDP port actually bound. */
  listenPort: number;
  /** This node's overlay addresses or networks (CIDR or plain): never an underlay candidate. */
  overlay?: string[];
  /** `--advertise` endpoints as given (`host:port`, names allowed). */
  advertise?: string[];
  /** Lists the interface addresses; default `Deno.networkInterfaces`. */
  interfaces?: () => InterfaceAddress[];
  /** Interfaces to leave out, by name; default {@link DEFAULT_SKIP_INTERFACE}. */
  skipInterface?: (name: string) => boolean;
}

/** True for addresses no other machine can reach us at: loopback, link-local, unspecified. */
function unusableLan(a: Uint8Array): boolean {
  if (a.length === 4) {
    return a[0] === 127 || a[0] === 0 || (a[0] === 169 && a[1] === 254) || a[0] >= 224;
  }
  if (a[0] === 0xff) return true; // multicast
  if (a[0] === 0xfe && (a[1] & 0xc0) === 0x80) return true; // fe80::/10
  let zero = true;
  for (let i = 0; i < 15; i++) zero &&= a[i] === 0;
  return zero && (a[15] === 0 || a[15] === 1); // :: and ::1
}

function endpointOf(a: Uint8Array, port: number): string {
  return formatHostPort({ host: formatAddress(a), port });
}

/**
 * Builds and keeps this node's candidate list. `list` is what the last {@link refresh} built;
 * `observe` and `setAdvertise` take effect at the next refresh, which says whether the list
 * changed (so the caller knows to publish it).
 */
export class Candidates {
  /** Times listing the interfaces failed (the previous LAN addresses were kept). */
  interfaceErrors = 0;

  #listenPort: number;
  #overlay: Cidr[] = [];
  #advertise: string[] = [];
  readonly #interfaces: () => InterfaceAddress[];
  readonly #skip: (name: string) => boolean;
  /** source → endpoint it saw us at, oldest reporter first. */
  readonly #observed = new Map<string, string>();
  #lan: string[] = [];
  #entries: readonly Candidate[] = [];
  #list: readonly string[] = [];

  /** Checks the options (a bad overlay or advertise entry throws) and builds the first list. */
  constructor(opts: CandidatesOptions) {
    this.#listenPort = checkPort(opts.listenPort);
    this.setOverlay(opts.overlay ?? []);
    this.setAdvertise(opts.advertise ?? []);
    this.#interfaces = opts.interfaces ?? (() => Deno.networkInterfaces());
    this.#skip = opts.skipInterface ?? DEFAULT_SKIP_INTERFACE;
    this.refresh();
  }

  /** The candidates as `host:port` texts: lan, advertised, observed; at most 16, no repeats. */
  get list(): readonly string[] {
    return this.#list;
  }

  /** The candidates with their kinds, in the order of {@link list}. */
  get entries(): readonly Candidate[] {
    return this.#entries;
  }

  /** Sets the listen port (after a rebind), for the next refresh. */
  setListenPort(port: number): void {
    this.#listenPort = checkPort(port);
  }

  /** Sets the overlay addresses or networks to leave out; throws on a bad one. */
  setOverlay(list: string[]): void {
    this.#overlay = list.map((t) => Cidr.parse(t));
  }

  /** Sets the advertised endpoints (`host:port`, names allowed); throws on a bad one. */
  setAdvertise(list: string[]): void {
    this.#advertise = list.map((t) => formatHostPort(parseHostPort(t.trim())));
  }

  /**
   * Records that `source` (the leader, a peer's key) saw our datagrams come from
   * `address:port`. True when that source's report differs from the last one.
   */
  observe(source: string, address: string, port: number): boolean {
    const a = parseAddress(address);
    if (a === null || !Number.isInteger(port) || port < 1 || port > 65535) return false;
    if (this.#isOverlay(a)) return false;
    const endpoint = endpointOf(a, port);
    const before = this.#observed.get(source);
    if (before === endpoint) return false;
    this.#observed.delete(source);
    this.#observed.set(source, endpoint);
    if (this.#observed.size > MAX_OBSERVERS) {
      this.#observed.delete(this.#observed.keys().next().value!);
    }
    return true;
  }

  /** Forgets what `source` reported (it left, or its report is too old to trust). */
  unobserve(source: string): void {
    this.#observed.delete(source);
  }

  /** Re-reads the interfaces and rebuilds the list; true when the list changed. */
  refresh(): boolean {
    this.#lan = this.#readLan();
    const lan = this.#lan;
    const advertised = this.#advertise;
    const observed = this.#observedByVotes();
    const seen = new Set<string>();
    const pools: Record<CandidateKind, string[]> = {
      lan: lan.filter((e) => !seen.has(e) && seen.add(e)),
      advertised: advertised.filter((e) => !seen.has(e) && seen.add(e)),
      observed: observed.filter((e) => !seen.has(e) && seen.add(e)),
    };
    // Each kind first gets its share, then places left over go in list order.
    const kinds: CandidateKind[] = ["lan", "advertised", "observed"];
    const take: Record<CandidateKind, number> = { lan: 0, advertised: 0, observed: 0 };
    let room = MAX_CANDIDATES;
    for (const k of kinds) {
      take[k] = Math.min(pools[k].length, SHARE[k]);
      room -= take[k];
    }
    for (const k of kinds) {
      const more = Math.min(pools[k].length - take[k], room);
      take[k] += more;
      room -= more;
    }
    const entries: Candidate[] = [];
    for (const k of kinds) {
      for (const endpoint of pools[k].slice(0, take[k])) entries.push({ kind: k, endpoint });
    }
    const list = entries.map((e) => e.endpoint);
    const changed = list.length !== this.#list.length ||
      list.some((e, i) => e !== this.#list[i] || entries[i].kind !== this.#entries[i].kind);
    this.#entries = Object.freeze(entries);
    this.#list = Object.freeze(list);
    return changed;
  }

  #readLan(): string[] {
    let ifaces: InterfaceAddress[];
    try {
      ifaces = this.#interfaces();
    } catch {
      this.interfaceErrors++;
      return this.#lan;
    }
    const v4: string[] = [];
    const v6: string[] = [];
    for (const i of ifaces) {
      if (this.#skip(i.name)) continue;
      const zone = i.address.indexOf("%");
      const a = parseAddress(zone < 0 ? i.address : i.address.slice(0, zone));
      if (a === null || unusableLan(a) || this.#isOverlay(a)) continue;
      (a.length === 4 ? v4 : v6).push(endpointOf(a, this.#listenPort));
    }
    // IPv4 first: on a LAN it is what both ends most often share.
    return [...v4, ...v6];
  }

  /** Observed endpoints, the one most sources agree on first, then the earliest reported. */
  #observedByVotes(): string[] {
    const votes = new Map<string, number>();
    for (const e of this.#observed.values()) votes.set(e, (votes.get(e) ?? 0) + 1);
    return [...votes.entries()].sort((x, y) => y[1] - x[1]).map(([e]) => e);
  }

  #isOverlay(a: Uint8Array): boolean {
    return this.#overlay.some((c) => c.address.length === a.length && c.contains(a));
  }
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`listen port ${port} is not 1 to 65535`);
  }
  return port;
}
