/**
 * WireGuard's cryptokey routing table: a compressed binary (PATRICIA) trie per address family,
 * mapping prefixes to values (peers) with longest-prefix match. The structure follows the Linux
 * driver's allowedips.c: every node carries a prefix; nodes without a value exist only to join two
 * subtrees, so the depth is bounded by the number of distinct branch points, not by 32 or 128.
 *
 * Keys are held as four signed 32-bit words so lookups are integer compares with no allocation.
 * @module
 */

import { Cidr } from "../net/cidr.ts";

class Node<T> {
  /** Children by the bit at position `cidr`. */
  c0: Node<T> | null = null;
  c1: Node<T> | null = null;
  parent: Node<T> | null = null;
  value: T | undefined = undefined;
  hasValue = false;

  constructor(
    readonly family: 4 | 6,
    readonly cidr: number,
    readonly k0: number,
    readonly k1: number,
    readonly k2: number,
    readonly k3: number,
  ) {}
}

/** The word of a key holding bit `i`. */
function word(k0: number, k1: number, k2: number, k3: number, i: number): number {
  const w = i >>> 5;
  return w === 0 ? k0 : w === 1 ? k1 : w === 2 ? k2 : k3;
}

/** Bit `i` (0 = most significant) of a 128-bit key. */
function bitAt(k0: number, k1: number, k2: number, k3: number, i: number): number {
  return (word(k0, k1, k2, k3, i) >>> (31 - (i & 31))) & 1;
}

/** The top `n` bits of a 32-bit word set (n in 0..32). */
function wordMask(n: number): number {
  return n <= 0 ? 0 : n >= 32 ? -1 : -1 << (32 - n);
}

/** True when the key's first `node.cidr` bits equal the node's prefix. */
function matches<T>(node: Node<T>, a0: number, a1: number, a2: number, a3: number): boolean {
  const c = node.cidr;
  if (((a0 ^ node.k0) & wordMask(c)) !== 0) return false;
  if (c <= 32) return true;
  if (((a1 ^ node.k1) & wordMask(c - 32)) !== 0) return false;
  if (c <= 64) return true;
  if (((a2 ^ node.k2) & wordMask(c - 64)) !== 0) return false;
  if (c <= 96) return true;
  return ((a3 ^ node.k3) & wordMask(c - 96)) === 0;
}

/** Leading bits two keys have in common (0..128). */
function commonBits<T>(node: Node<T>, a0: number, a1: number, a2: number, a3: number): number {
  let x = node.k0 ^ a0;
  if (x !== 0) return Math.clz32(x);
  x = node.k1 ^ a1;
  if (x !== 0) return 32 + Math.clz32(x);
  x = node.k2 ^ a2;
  if (x !== 0) return 64 + Math.clz32(x);
  x = node.k3 ^ a3;
  return x !== 0 ? 96 + Math.clz32(x) : 128;
}

function readWord(bytes: Uint8Array, o: number): number {
  return (bytes[o] << 24) | (bytes[o + 1] << 16) | (bytes[o + 2] << 8) | bytes[o + 3];
}

function childFor<T>(
  node: Node<T>,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
): Node<T> | null {
  return bitAt(a0, a1, a2, a3, node.cidr) === 1 ? node.c1 : node.c0;
}

function attach<T>(parent: Node<T>, child: Node<T>): void {
  if (bitAt(child.k0, child.k1, child.k2, child.k3, parent.cidr) === 1) parent.c1 = child;
  else parent.c0 = child;
  child.parent = parent;
}

/** Longest-prefix-match table from IPv4 and IPv6 prefixes to values; a prefix has one value. */
export class AllowedIps<T> {
  #root4: Node<T> | null = null;
  #root6: Node<T> | null = null;
  #byValue = new Map<T, Set<Node<T>>>();
  #size = 0;

  /** The number of prefixes with a value. */
  get size(): number {
    return this.#size;
  }

  /**
   * Maps `cidr` (text or parsed; host bits are ignored) to `value`. A prefix already held by
   * another value moves to this one, as WireGuard does.
   */
  insert(cidr: Cidr | string, value: T): void {
    const c = typeof cidr === "string" ? Cidr.parse(cidr) : cidr;
    const n = c.network;
    const v6 = c.family === 6;
    const k0 = readWord(n, 0);
    const k1 = v6 ? readWord(n, 4) : 0;
    const k2 = v6 ? readWord(n, 8) : 0;
    const k3 = v6 ? readWord(n, 12) : 0;
    const bits = c.bits;

    let parent: Node<T> | null = null;
    let node = v6 ? this.#root6 : this.#root4;
    while (node !== null && node.cidr <= bits && matches(node, k0, k1, k2, k3)) {
      if (node.cidr === bits) {
        this.#assign(node, value);
        return;
      }
      parent = node;
      node = childFor(node, k0, k1, k2, k3);
    }

    const fresh = new Node<T>(c.family, bits, k0, k1, k2, k3);
    this.#assign(fresh, value);
    // `node` is the subtree hanging where the new prefix belongs: absent, below it, or diverging.
    if (node === null) {
      this.#link(parent, fresh, c.family);
      return;
    }
    const common = Math.min(bits, commonBits(node, k0, k1, k2, k3));
    if (common === bits) {
      attach(fresh, node);
      this.#link(parent, fresh, c.family);
      return;
    }
    const m0 = k0 & wordMask(common);
    const m1 = k1 & wordMask(common - 32);
    const m2 = k2 & wordMask(common - 64);
    const m3 = k3 & wordMask(common - 96);
    const join = new Node<T>(c.family, common, m0, m1, m2, m3);
    attach(join, node);
    attach(join, fresh);
    this.#link(parent, join, c.family);
  }

  /** Removes the mapping of exactly `cidr`; returns whether there was one. */
  remove(cidr: Cidr | string): boolean {
    const c = typeof cidr === "string" ? Cidr.parse(cidr) : cidr;
    const node = this.#find(c);
    if (node === null || !node.hasValue) return false;
    this.#unassign(node);
    this.#prune(node);
    return true;
  }

  /** Removes every prefix mapped to `value` (a peer being removed); returns how many. */
  removeByValue(value: T): number {
    const nodes = this.#byValue.get(value);
    if (nodes === undefined) return 0;
    const count = nodes.size;
    for (const node of [...nodes]) {
      this.#unassign(node);
      this.#prune(node);
    }
    return count;
  }

  /** The value mapped to exactly `cidr`, if any. */
  get(cidr: Cidr | string): T | undefined {
    const c = typeof cidr === "string" ? Cidr.parse(cidr) : cidr;
    const node = this.#find(c);
    return node !== null && node.hasValue ? node.value : undefined;
  }

  /** The prefixes mapped to `value`, IPv4 first, each family in address order. */
  entries(value: T): Cidr[] {
    const nodes = this.#byValue.get(value);
    if (nodes === undefined) return [];
    const out = [...nodes].map((n) => nodeCidr(n));
    return out.sort(compareCidr);
  }

  /**
   * The prefixes mapped to `value` as text, in {@link entries}' order. A peer's one IPv4 prefix
   * (a mesh member's) is written from its key without a Cidr (three byte arrays each): a
   * leader's `/status` lists 10,000 peers, and their Cidrs were some 40 % of its build.
   */
  texts(value: T): string[] {
    const nodes = this.#byValue.get(value);
    if (nodes === undefined) return [];
    if (nodes.size === 1) {
      const n = nodes.values().next().value as Node<T>;
      if (n.family === 4) {
        const k = n.k0 & wordMask(n.cidr);
        return [`${k >>> 24}.${(k >>> 16) & 0xff}.${(k >>> 8) & 0xff}.${k & 0xff}/${n.cidr}`];
      }
    }
    return this.entries(value).map((c) => c.toString());
  }

  /** Every mapped prefix with its value, IPv4 first, in address order. */
  all(): Array<[Cidr, T]> {
    const out: Array<[Cidr, T]> = [];
    const walk = (n: Node<T> | null): void => {
      if (n === null) return;
      if (n.hasValue) out.push([nodeCidr(n), n.value as T]);
      walk(n.c0);
      walk(n.c1);
    };
    walk(this.#root4);
    walk(this.#root6);
    return out;
  }

  /** Removes everything. */
  clear(): void {
    this.#root4 = null;
    this.#root6 = null;
    this.#byValue.clear();
    this.#size = 0;
  }

  /** Longest-prefix match of the IPv4 address `address` (unsigned or signed 32-bit). */
  lookupV4(address: number): T | undefined {
    return this.#match(this.#root4, address | 0, 0, 0, 0);
  }

  /** Longest-prefix match of the 16-byte IPv6 address in `bytes` at `offset`. */
  lookupV6(bytes: Uint8Array, offset: number): T | undefined {
    if (offset < 0 || offset + 16 > bytes.length) return undefined;
    return this.#match(
      this.#root6,
      readWord(bytes, offset),
      readWord(bytes, offset + 4),
      readWord(bytes, offset + 8),
      readWord(bytes, offset + 12),
    );
  }

  /**
   * Longest-prefix match of the address of family `version` in `bytes` at `offset`, e.g. offset 16
   * (v4) or 24 (v6) for a packet's destination; undefined if the bytes are too short.
   */
  lookup(bytes: Uint8Array, offset: number, version: 4 | 6): T | undefined {
    if (version === 6) return this.lookupV6(bytes, offset);
    if (offset < 0 || offset + 4 > bytes.length) return undefined;
    return this.#match(this.#root4, readWord(bytes, offset), 0, 0, 0);
  }

  /** The value for a packet's destination (the peer to send it to), by its version nibble. */
  lookupDst(packet: Uint8Array): T | undefined {
    const v = packet.length > 0 ? packet[0] >> 4 : 0;
    if (v === 4) return this.lookup(packet, 16, 4);
    if (v === 6) return this.lookup(packet, 24, 6);
    return undefined;
  }

  #match(node: Node<T> | null, a0: number, a1: number, a2: number, a3: number): T | undefined {
    let best: Node<T> | null = null;
    while (node !== null && matches(node, a0, a1, a2, a3)) {
      if (node.hasValue) best = node;
      if (node.cidr === (node.family === 4 ? 32 : 128)) break;
      node = childFor(node, a0, a1, a2, a3);
    }
    return best === null ? undefined : best.value;
  }

  #find(c: Cidr): Node<T> | null {
    const n = c.network;
    const v6 = c.family === 6;
    const k0 = readWord(n, 0);
    const k1 = v6 ? readWord(n, 4) : 0;
    const k2 = v6 ? readWord(n, 8) : 0;
    const k3 = v6 ? readWord(n, 12) : 0;
    let node = v6 ? this.#root6 : this.#root4;
    while (node !== null && node.cidr <= c.bits && matches(node, k0, k1, k2, k3)) {
      if (node.cidr === c.bits) return node;
      node = childFor(node, k0, k1, k2, k3);
    }
    return null;
  }

  /** Puts `child` where the walk ended: under `parent`, or as the family's root. */
  #link(parent: Node<T> | null, child: Node<T>, family: 4 | 6): void {
    if (parent !== null) {
      attach(parent, child);
      return;
    }
    child.parent = null;
    if (family === 4) this.#root4 = child;
    else this.#root6 = child;
  }

  /** Replaces `node` in its parent's (or the root's) slot with `child`. */
  #replace(node: Node<T>, child: Node<T> | null): void {
    const parent = node.parent;
    if (child !== null) child.parent = parent;
    if (parent === null) {
      if (node.family === 4) this.#root4 = child;
      else this.#root6 = child;
    } else if (parent.c0 === node) {
      parent.c0 = child;
    } else {
      parent.c1 = child;
    }
    node.parent = null;
  }

  #assign(node: Node<T>, value: T): void {
    if (node.hasValue) {
      if (node.value === value) return;
      this.#unassign(node);
    }
    node.value = value;
    node.hasValue = true;
    this.#size++;
    let set = this.#byValue.get(value);
    if (set === undefined) this.#byValue.set(value, set = new Set());
    set.add(node);
  }

  #unassign(node: Node<T>): void {
    const set = this.#byValue.get(node.value as T);
    if (set !== undefined) {
      set.delete(node);
      if (set.size === 0) this.#byValue.delete(node.value as T);
    }
    node.value = undefined;
    node.hasValue = false;
    this.#size--;
  }

  /**
   * Removes a node that just lost its value unless it still joins two subtrees; then its parent,
   * if that was a value-less join node now left with one child.
   */
  #prune(node: Node<T>): void {
    if (node.c0 !== null && node.c1 !== null) return;
    const parent = node.parent;
    const child = node.c0 ?? node.c1;
    this.#replace(node, child);
    if (child !== null || parent === null || parent.hasValue) return;
    this.#replace(parent, parent.c0 ?? parent.c1);
  }
}

function nodeCidr<T>(n: Node<T>): Cidr {
  if (n.family === 4) {
    return new Cidr(
      new Uint8Array([n.k0 >>> 24, (n.k0 >>> 16) & 0xff, (n.k0 >>> 8) & 0xff, n.k0 & 0xff]),
      n.cidr,
    );
  }
  const b = new Uint8Array(16);
  const words = [n.k0, n.k1, n.k2, n.k3];
  for (let i = 0; i < 4; i++) {
    b[4 * i] = words[i] >>> 24;
    b[4 * i + 1] = (words[i] >>> 16) & 0xff;
    b[4 * i + 2] = (words[i] >>> 8) & 0xff;
    b[4 * i + 3] = words[i] & 0xff;
  }
  return new Cidr(b, n.cidr);
}

function compareCidr(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  for (let i = 0; i < a.network.length; i++) {
    if (a.network[i] !== b.network[i]) return a.network[i] - b.network[i];
  }
  return a.bits - b.bits;
}
