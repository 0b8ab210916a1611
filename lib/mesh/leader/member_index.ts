/**
 * The members of one copy of the leader's state, indexed by public key, overlay address and name,
 * with the lowest free host address kept at hand: what a join, a hello or a removal looks up costs
 * the same at 10 members as at 10,000. The index owns its list's changes (add, replace, remove),
 * so list and index never disagree; a copy of the state gets a fork of its parent's index.
 *
 * A fork holds only what its copy changed, over its parent's maps: copying three maps of 10,000
 * entries for each batch of changes was a fifth of the leader's own work a join at 10,000 (and
 * each copy, too large for V8's young generation, went straight to the old one, for its full
 * collections to sweep). Once the copy is the state ({@link MemberIndexes.committed}), the fork
 * takes its parent's maps over and writes its changes into them; the parent, the index of a state
 * no longer current, builds its maps anew from its own list if it is ever read again.
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

/** A deleted entry in a fork's own map (its parent's map may hold the key). */
const GONE = null;

/**
 * A map of a fork over its parent's: its own entries (a value, or {@link GONE}) first, then the
 * parent's. A map that is no fork has no base.
 */
class Layer<V> {
  own: Map<string, V | typeof GONE>;
  base: Map<string, V> | null;

  constructor(base: Map<string, V> | null) {
    this.own = new Map();
    this.base = base;
  }

  get(k: string): V | undefined {
    const v = this.own.get(k);
    if (v !== undefined) return v ?? undefined;
    return this.base?.get(k);
  }

  has(k: string): boolean {
    return this.get(k) !== undefined;
  }

  set(k: string, v: V): void {
    this.own.set(k, v);
  }

  delete(k: string): void {
    if (this.base === null) this.own.delete(k);
    else this.own.set(k, GONE);
  }

  /** The base with the own entries written into it: the map whole (the base is changed). */
  flatten(): Map<string, V> {
    const base = this.base;
    if (base === null) return this.own as Map<string, V>;
    for (const [k, v] of this.own) {
      if (v === GONE) base.delete(k);
      else base.set(k, v);
    }
    return base;
  }
}

/** The three maps a fork layers over its parent's. */
interface Maps {
  pos: Layer<number>;
  byAddress: Layer<string>;
  byName: Layer<string>;
}

/** A list of members and its indexes. See the module docs. */
export class MemberIndex {
  /** The list indexed: changed only through this index. */
  readonly list: Member[];
  // By public key: the position in the list; by address and by name: the public key. Null once
  // a fork took them over (../member_index.ts module docs): built anew from the list if read.
  #maps: Maps | null;
  // The index this one is a fork of, while its maps are layered over that one's.
  #parent: MemberIndex | null = null;
  #leaders: Set<string>;
  // How many members offer each service name (lowercase, as the DNS zone serves it): a joiner
  // may not be named as one.
  #services: Map<string, number>;
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
      const base = from.#whole();
      this.#maps = {
        pos: new Layer(base.pos),
        byAddress: new Layer(base.byAddress),
        byName: new Layer(base.byName),
      };
      this.#parent = from;
      this.#leaders = new Set(from.#leaders);
      this.#services = new Map(from.#services);
      this.#low = from.#low;
      return;
    }
    this.#maps = null;
    this.#leaders = new Set();
    this.#services = new Map();
    this.#low = 1;
    this.#m();
  }

  /** The maps, built from the list when they were taken over (or never made). */
  #m(): Maps {
    if (this.#maps !== null) return this.#maps;
    const maps = this.#maps = {
      pos: new Layer<number>(null),
      byAddress: new Layer<string>(null),
      byName: new Layer<string>(null),
    };
    this.#leaders = new Set();
    this.#services = new Map();
    this.list.forEach((m, i) => this.#enter(m, i));
    return maps;
  }

  /** The maps whole, a fork's written into its parent's (which stops being a fork's base). */
  #whole(): {
    pos: Map<string, number>;
    byAddress: Map<string, string>;
    byName: Map<string, string>;
  } {
    const m = this.#m();
    if (m.pos.base !== null) this.takeOver();
    return {
      pos: m.pos.own as Map<string, number>,
      byAddress: m.byAddress.own as Map<string, string>,
      byName: m.byName.own as Map<string, string>,
    };
  }

  /**
   * Makes a fork's maps whole: its parent's, with its own changes written in, taken over (the
   * parent builds its own again from its list if it is read after this). Called once the fork's
   * list is the state: no later change forks from the parent.
   */
  takeOver(): void {
    const m = this.#maps;
    const parent = this.#parent;
    this.#parent = null;
    if (m === null || m.pos.base === null) return;
    if (parent !== null) parent.#maps = null;
    for (const layer of [m.pos, m.byAddress, m.byName] as Layer<unknown>[]) {
      layer.own = layer.flatten() as Map<string, unknown>;
      layer.base = null;
    }
  }

  /**
   * The index of `list`, another document's members that replaced `from`'s (a commit of another
   * leader): `from`'s maps taken over and changed by the records that are not the same objects
   * in both lists, walked in step (a commit keeps the list's order: records replaced in place,
   * removed, or added last), so its cost follows what changed. The same index a build from
   * `list` makes; `from` builds its maps anew from its own list if it is read again.
   */
  static adopted(from: MemberIndex, list: Member[]): MemberIndex {
    const ix = new MemberIndex(list, from.#range, from);
    ix.takeOver();
    const before = from.list;
    let i = 0;
    for (let j = 0; j < list.length; j++) {
      const m = list[j];
      // Records of `from` not in step with `list`'s are gone (a key again later enters anew).
      while (i < before.length && before[i] !== m && before[i].publicKey !== m.publicKey) {
        ix.#left(before[i++]);
      }
      if (i < before.length && before[i] === m) {
        if (i !== j) ix.#maps!.pos.set(m.publicKey, j);
        i++;
        continue;
      }
      if (i < before.length) ix.#left(before[i++]);
      ix.#enter(m, j);
    }
    while (i < before.length) ix.#left(before[i++]);
    return ix;
  }

  /** `m` left the list (or was replaced): out of the maps, its host free again. */
  #left(m: Member): void {
    this.#leave(m);
    this.recordsIndexed++;
    const host = v4Number(m.address) - this.#range.base;
    if (host >= 1 && host < this.#low) this.#low = host;
  }

  /** Records entered into or taken out of this index's maps since it was made. For tests. */
  recordsIndexed = 0;

  #enter(m: Member, i: number): void {
    this.recordsIndexed++;
    const maps = this.#maps!;
    maps.pos.set(m.publicKey, i);
    maps.byAddress.set(m.address, m.publicKey);
    maps.byName.set(m.name, m.publicKey);
    if (m.role === "leader") this.#leaders.add(m.publicKey);
    for (const name of serviceNames(m)) {
      this.#services.set(name, (this.#services.get(name) ?? 0) + 1);
    }
  }

  #leave(m: Member): void {
    const maps = this.#maps!;
    maps.pos.delete(m.publicKey);
    if (maps.byAddress.get(m.address) === m.publicKey) maps.byAddress.delete(m.address);
    if (maps.byName.get(m.name) === m.publicKey) maps.byName.delete(m.name);
    this.#leaders.delete(m.publicKey);
    for (const name of serviceNames(m)) {
      const n = (this.#services.get(name) ?? 0) - 1;
      if (n > 0) this.#services.set(name, n);
      else this.#services.delete(name);
    }
  }

  /**
   * Entries a fork holds of its own over its parent's maps (null: no fork, or made whole): what
   * its copy changed, not a copy of the parent's. For tests.
   */
  get ownEntries(): number | null {
    const m = this.#maps;
    if (m === null || m.pos.base === null) return null;
    return m.pos.own.size + m.byAddress.own.size + m.byName.own.size;
  }

  /** How many members. */
  get size(): number {
    return this.list.length;
  }

  /** The member with this public key. */
  byKey(publicKey: string): Member | undefined {
    const i = this.#m().pos.get(publicKey);
    return i === undefined ? undefined : this.list[i];
  }

  /** The member with this overlay address. */
  byAddress(address: string): Member | undefined {
    const k = this.#m().byAddress.get(address);
    return k === undefined ? undefined : this.byKey(k);
  }

  /** The member with this name. */
  byName(name: string): Member | undefined {
    const k = this.#m().byName.get(name);
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
    if (this.#m().pos.has(m.publicKey)) throw new Error(`member ${m.publicKey} is in the list`);
    this.list.push(m);
    this.#enter(m, this.list.length - 1);
  }

  /** Replaces the record of the member with `m`'s key, in its place. */
  replace(m: Member): void {
    const i = this.#m().pos.get(m.publicKey);
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
    const i = this.#m().pos.get(publicKey);
    if (i === undefined) return undefined;
    const m = this.list[i];
    this.#leave(m);
    this.list.splice(i, 1);
    // Removals are rare (a node removed, a join released): the later positions move down.
    const pos = this.#m().pos;
    for (let j = i; j < this.list.length; j++) pos.set(this.list[j].publicKey, j);
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
    const byAddress = this.#m().byAddress;
    for (let host = this.#low; host < range.size - 1; host++) {
      const a = v4Text(range.base + host);
      if (!byAddress.has(a)) {
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

  /**
   * Notes that `list` (a copy's) is the state's now: its index takes its parent's maps over
   * (nothing forks from the parent again), made first if no edit read it.
   */
  committed(list: Member[]): void {
    const parent = this.#parents.get(list);
    if (this.#indexes.has(list) || (parent && this.#indexes.has(parent))) this.of(list).takeOver();
  }

  /**
   * Notes that `list` (another leader's document) replaced `from` as the state: its index is
   * made from `from`'s by what differs (see {@link MemberIndex.adopted}), if `from` has one.
   */
  adopted(from: Member[], list: Member[]): void {
    if (from === list || this.#indexes.has(list)) return;
    const ix = this.#indexes.get(from);
    if (ix) this.#indexes.set(list, MemberIndex.adopted(ix, list));
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
