/**
 * The members of one copy of the leader's state, indexed by public key, overlay address and name,
 * with the lowest free host address kept at hand: what a join, a hello or a removal looks up costs
 * the same at 10 members as at 10,000. The index owns its list's changes (add, replace, remove),
 * so list and index never disagree; a copy of the state gets a fork of its parent's index.
 * @module
 */

import type { Member } from "../../members/member.ts";

/** An IPv4 address as a 32-bit number; NaN when it is not dotted IPv4. */
function v4Number(address: string): number {
  const p = address.split(".");
  if (p.length !== 4) return NaN;
  let n = 0;
  for (const s of p) {
    const b = Number(s);
    if (!Number.isInteger(b) || b < 0 || b > 255 || s === "") return NaN;
    n = n * 256 + b;
  }
  return n;
}

/** A 32-bit number as dotted IPv4. */
function v4Text(n: number): string {
  return `${Math.floor(n / 16777216) % 256}.${Math.floor(n / 65536) % 256}.${
    Math.floor(n / 256) % 256
  }.${n % 256}`;
}

/** The distinct service names `m` offers, lowercase. */
function serviceNames(m: Member): Set<string> {
  const names = new Set<string>();
  for (const s of m.services ?? []) if (typeof s.name === "string") names.add(s.name.toLowerCase());
  return names;
}

/** The host addresses of an IPv4 network: its first address and how many there are. */
export interface HostRange {
  /** The network address (host index 0) as a 32-bit number. */
  base: number;
  /** Addresses in the network, the network and broadcast addresses included. */
  size: number;
}

/** The host range of an IPv4 CIDR such as `10.0.0.0/16`. */
export function hostRange(cidr: string): HostRange {
  const [addr, bits] = cidr.split("/");
  const size = 2 ** (32 - Number(bits));
  const base = Math.floor(v4Number(addr) / size) * size;
  return { base, size };
}

/** A list of members and its indexes. See the module docs. */
export class MemberIndex {
  /** The list indexed: changed only through this index. */
  readonly list: Member[];
  readonly #pos: Map<string, number>;
  readonly #byAddress: Map<string, string>;
  readonly #byName: Map<string, string>;
  readonly #leaders: Set<string>;
  // How many members offer each service name (lowercase, as the DNS zone serves it): a joiner
  // may not be named as one.
  readonly #services: Map<string, number>;
  readonly #range: HostRange;
  // Every host index below this one is taken (the lowest free is at or above it).
  #low: number;

  /**
   * Indexes `list`, whose addresses are allocated in `range`: built from it, or forked from
   * `from`, whose list `list` is a copy of.
   */
  constructor(list: Member[], range: HostRange, from?: MemberIndex) {
    this.list = list;
    this.#range = range;
    if (from) {
      this.#pos = new Map(from.#pos);
      this.#byAddress = new Map(from.#byAddress);
      this.#byName = new Map(from.#byName);
      this.#leaders = new Set(from.#leaders);
      this.#services = new Map(from.#services);
      this.#low = from.#low;
      return;
    }
    this.#pos = new Map();
    this.#byAddress = new Map();
    this.#byName = new Map();
    this.#leaders = new Set();
    this.#services = new Map();
    this.#low = 1;
    list.forEach((m, i) => this.#enter(m, i));
  }

  #enter(m: Member, i: number): void {
    this.#pos.set(m.publicKey, i);
    this.#byAddress.set(m.address, m.publicKey);
    this.#byName.set(m.name, m.publicKey);
    if (m.role === "leader") this.#leaders.add(m.publicKey);
    for (const name of serviceNames(m)) {
      this.#services.set(name, (this.#services.get(name) ?? 0) + 1);
    }
  }

  #leave(m: Member): void {
    this.#pos.delete(m.publicKey);
    if (this.#byAddress.get(m.address) === m.publicKey) this.#byAddress.delete(m.address);
    if (this.#byName.get(m.name) === m.publicKey) this.#byName.delete(m.name);
    this.#leaders.delete(m.publicKey);
    for (const name of serviceNames(m)) {
      const n = (this.#services.get(name) ?? 0) - 1;
      if (n > 0) this.#services.set(name, n);
      else this.#services.delete(name);
    }
  }

  /** How many members. */
  get size(): number {
    return this.list.length;
  }

  /** The member with this public key. */
  byKey(publicKey: string): Member | undefined {
    const i = this.#pos.get(publicKey);
    return i === undefined ? undefined : this.list[i];
  }

  /** The member with this overlay address. */
  byAddress(address: string): Member | undefined {
    const k = this.#byAddress.get(address);
    return k === undefined ? undefined : this.byKey(k);
  }

  /** The member with this name. */
  byName(name: string): Member | undefined {
    const k = this.#byName.get(name);
    return k === undefined ? undefined : this.byKey(k);
  }

  /** The member with this address, else the one with this name (`weft node remove X`). */
  byAddressOrName(addressOrName: string): Member | undefined {
    return this.byAddress(addressOrName) ?? this.byName(addressOrName);
  }

  /** Whether some member offers a service called `name` (lowercase). */
  offersService(name: string): boolean {
    return this.#services.has(name);
  }

  /** The public keys of the members with the leader role. */
  leaderKeys(): ReadonlySet<string> {
    return this.#leaders;
  }

  /** Adds a member at the end of the list (its key must be new). */
  add(m: Member): void {
    if (this.#pos.has(m.publicKey)) throw new Error(`member ${m.publicKey} is in the list`);
    this.list.push(m);
    this.#enter(m, this.list.length - 1);
  }

  /** Replaces the record of the member with `m`'s key, in its place. */
  replace(m: Member): void {
    const i = this.#pos.get(m.publicKey);
    if (i === undefined) throw new Error(`member ${m.publicKey} is not in the list`);
    const old = this.list[i];
    this.#leave(old);
    this.list[i] = m;
    this.#enter(m, i);
    if (old.address !== m.address) {
      const host = v4Number(old.address) - this.#range.base;
      if (host >= 1 && host < this.#low) this.#low = host;
    }
  }

  /** Removes the member with this key; returns its record (undefined: there was none). */
  remove(publicKey: string): Member | undefined {
    const i = this.#pos.get(publicKey);
    if (i === undefined) return undefined;
    const m = this.list[i];
    this.#leave(m);
    this.list.splice(i, 1);
    // Removals are rare (a node removed, a join released): the later positions move down.
    for (let j = i; j < this.list.length; j++) this.#pos.set(this.list[j].publicKey, j);
    const host = v4Number(m.address) - this.#range.base;
    if (host >= 1 && host < this.#low) this.#low = host;
    return m;
  }

  /**
   * The lowest free host address of the range (neither the network nor the broadcast address),
   * or null when every one is taken.
   */
  lowestFree(): string | null {
    const range = this.#range;
    for (let host = this.#low; host < range.size - 1; host++) {
      const a = v4Text(range.base + host);
      if (!this.#byAddress.has(a)) {
        this.#low = host;
        return a;
      }
    }
    this.#low = range.size - 1;
    return null;
  }
}

/**
 * The index of each list of members (a state's, or a copy's being edited), made once per list:
 * a copy's forks the index of the list it was copied from (told by {@link copied}), else it is
 * built. Lists nothing holds any more are dropped with their index.
 */
export class MemberIndexes {
  readonly #indexes = new WeakMap<Member[], MemberIndex>();
  readonly #parents = new WeakMap<Member[], Member[]>();
  readonly #range: HostRange;

  /** Indexes of lists whose addresses are allocated in `range`. */
  constructor(range: HostRange) {
    this.#range = range;
  }

  /** Notes that `to` is a copy of `from`: its index forks from `from`'s. */
  copied(from: Member[], to: Member[]): void {
    this.#parents.set(to, from);
  }

  /** The index of `list`. */
  of(list: Member[]): MemberIndex {
    let ix = this.#indexes.get(list);
    if (ix) return ix;
    const parent = this.#parents.get(list);
    const from = parent && this.#indexes.get(parent);
    ix = new MemberIndex(list, this.#range, from);
    this.#indexes.set(list, ix);
    // The link has served: kept, it would hold the parent list alive, whose own link holds its
    // parent, and so on (every state since the start, with its index).
    this.#parents.delete(list);
    return ix;
  }
}
