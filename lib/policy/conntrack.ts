/**
 * Connection tracking: flows a policy allowed, so their replies pass and their later packets skip
 * the rules. Entries live in typed arrays (a pool with a free list, hash chains and a
 * least-recently-seen list), so lookups, updates and inserts allocate nothing.
 *
 * A flow is its 5-tuple: addresses, protocol and ports (TCP, UDP), or the echo identifier (ICMP
 * echo), or just addresses and protocol (anything else). A packet matches an entry in the
 * original orientation or reversed (a reply). Each packet moves the entry's expiry to now plus a
 * timeout that depends on the protocol and what has been seen (`DEFAULT_TIMEOUTS`):
 *
 * | state                                          | timeout |
 * | ---------------------------------------------- | ------- |
 * | TCP, no reply yet (SYN sent, or picked up mid-stream)   | 60 s |
 * | TCP established (a packet seen each way)       | 2 h     |
 * | TCP half-closed (FIN seen one way)             | 120 s   |
 * | TCP closing (FIN seen both ways)               | 30 s    |
 * | TCP reset (RST seen)                           | 10 s    |
 * | UDP, no reply yet / replied                    | 60 s / 180 s |
 * | ICMP echo                                      | 30 s    |
 * | other protocols, no reply yet / replied        | 60 s / 180 s |
 *
 * The table holds at most `maxEntries` (default 65,536), and each peer (the far end of a flow:
 * the source of one first allowed inbound, the destination of one allowed outbound) at most
 * `maxPerPeer` (default half the table): a peer at its quota makes room among its own
 * flows, so one member allowed any flow cannot push out the others' established ones. Inserting
 * into a full table first drops expired entries (a full sweep, done only when one may have
 * expired: the earliest expiry is tracked), then, if still full, evicts the least recently seen
 * entry of the peer holding most; evictions are counted. Peers are counted in 4,096 slots by a
 * keyed hash of their address (peers sharing a slot share its count, and nobody can aim at
 * another's slot).
 * The clock is whatever the owner last passed to `setTime` (milliseconds).
 * @module
 */

import { PROTO_TCP, PROTO_UDP } from "../net/ip.ts";
import { type FlowInfo, ICMP_KIND_ECHO_REQUEST, TCP_FIN, TCP_RST } from "./packet.ts";

/** How long (ms) an idle entry lives, per protocol and state. */
export interface ConntrackTimeouts {
  /** TCP with no reply yet. */
  tcpUnreplied: number;
  /** TCP with packets seen both ways. */
  tcpEstablished: number;
  /** TCP after a FIN one way. */
  tcpHalfClosed: number;
  /** TCP after FINs both ways. */
  tcpClosing: number;
  /** TCP after a RST. */
  tcpClosed: number;
  /** UDP with no reply yet. */
  udpUnreplied: number;
  /** UDP with a reply seen. */
  udpReplied: number;
  /** ICMP echo. */
  icmp: number;
  /** Other protocols with no reply yet. */
  otherUnreplied: number;
  /** Other protocols with a reply seen. */
  otherReplied: number;
}

/** The default timeouts, in ms (see the module docs). */
export const DEFAULT_TIMEOUTS: Readonly<ConntrackTimeouts> = Object.freeze({
  tcpUnreplied: 60_000,
  tcpEstablished: 7_200_000,
  tcpHalfClosed: 120_000,
  tcpClosing: 30_000,
  tcpClosed: 10_000,
  udpUnreplied: 60_000,
  udpReplied: 180_000,
  icmp: 30_000,
  otherUnreplied: 60_000,
  otherReplied: 180_000,
});

/** The default bound on the number of tracked flows. */
export const DEFAULT_MAX_ENTRIES = 65_536;

/** How a `Conntrack` is built. */
export interface ConntrackOptions {
  /** Most entries held (default 65,536). */
  maxEntries?: number;
  /** Most entries one peer's flows may hold (default half of `maxEntries`, at least 1). */
  maxPerPeer?: number;
  /** Timeout overrides, ms. */
  timeouts?: Partial<ConntrackTimeouts>;
}

/** Conntrack figures for metrics and status. */
export interface ConntrackStats {
  /** Entries now. */
  entries: number;
  /** The bound. */
  max: number;
  /** Entries created. */
  inserts: number;
  /** Live entries dropped to make room. */
  evictions: number;
  /** Entries removed because they expired. */
  expired: number;
}

const NONE = -1;
const ST_REPLIED = 1;
const ST_FIN_ORIG = 2;
const ST_FIN_REPLY = 4;
const ST_RST = 8;
const PROTO_KIND_TCP = 1;
const PROTO_KIND_UDP = 2;
const PROTO_KIND_ICMP = 3;
const PROTO_KIND_OTHER = 4;

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** One murmur3-style round: folds `k` into `h`. */
function round(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * A keyed hash of one end of a flow (address words at `base`, port). IPv4 has only one address
 * word. Keyed by a random seed so peers cannot aim many flows at one bucket.
 */
function endHash(a: Int32Array, base: number, v6: boolean, port: number, seed: number): number {
  let h = round(seed, a[base]);
  if (v6) {
    h = round(h, a[base + 1]);
    h = round(h, a[base + 2]);
    h = round(h, a[base + 3]);
  }
  return round(h, port);
}

/** Slots peers are counted in (a power of two). */
const PEER_SLOTS = 4096;

/** The connection tracking table. */
export class Conntrack {
  /** The entry bound. */
  readonly max: number;
  /** The bound on one peer's entries. */
  readonly maxPerPeer: number;
  readonly #slot: Int32Array;
  readonly #perSlot = new Int32Array(PEER_SLOTS);
  readonly #t: ConntrackTimeouts;
  readonly #seed: number;
  readonly #bucketMask: number;
  readonly #buckets: Int32Array;
  readonly #chain: Int32Array;
  readonly #bucketOf: Int32Array;
  readonly #addr: Int32Array;
  readonly #ports: Int32Array;
  readonly #proto: Uint8Array;
  readonly #family: Uint8Array;
  readonly #kind: Uint8Array;
  readonly #state: Uint8Array;
  readonly #dir: Uint8Array;
  readonly #gen: Int32Array;
  readonly #rule: Int32Array;
  readonly #expires: Float64Array;
  readonly #prev: Int32Array;
  readonly #next: Int32Array;
  #head = NONE;
  #tail = NONE;
  #free = NONE;
  #size = 0;
  #inserts = 0;
  #evictions = 0;
  #expired = 0;
  /** Set by `lookup`: true when the packet matched its entry reversed (a reply). */
  lastReply = false;
  // The current time lives in a typed array: a changing double passed as an argument to every
  // call would be boxed (allocated) each time.
  readonly #now = new Float64Array(1);
  // A lower bound on every entry's expiry: a full table sweeps only when one may have expired.
  readonly #earliest = new Float64Array([Infinity]);

  /** An empty table. */
  constructor(opts: ConntrackOptions = {}) {
    const max = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!Number.isInteger(max) || max < 1 || max > 1 << 24) {
      throw new RangeError(`conntrack size must be an integer 1-${1 << 24}, got ${max}`);
    }
    this.max = max;
    const perPeer = opts.maxPerPeer ?? Math.max(1, Math.floor(max / 2));
    if (!Number.isInteger(perPeer) || perPeer < 1) {
      throw new RangeError(`conntrack maxPerPeer must be a positive integer, got ${perPeer}`);
    }
    this.maxPerPeer = Math.min(perPeer, max);
    this.#slot = new Int32Array(max);
    this.#t = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    const seed = new Int32Array(1);
    crypto.getRandomValues(seed);
    this.#seed = seed[0];
    let nb = 16;
    while (nb < max) nb *= 2;
    this.#bucketMask = nb - 1;
    this.#buckets = new Int32Array(nb).fill(NONE);
    this.#chain = new Int32Array(max);
    this.#bucketOf = new Int32Array(max);
    this.#addr = new Int32Array(max * 8);
    this.#ports = new Int32Array(max);
    this.#proto = new Uint8Array(max);
    this.#family = new Uint8Array(max);
    this.#kind = new Uint8Array(max);
    this.#state = new Uint8Array(max);
    this.#dir = new Uint8Array(max);
    this.#gen = new Int32Array(max);
    this.#rule = new Int32Array(max);
    this.#expires = new Float64Array(max);
    this.#prev = new Int32Array(max);
    this.#next = new Int32Array(max);
    // Free list threaded through #next.
    for (let i = 0; i < max; i++) this.#next[i] = i + 1 < max ? i + 1 : NONE;
    this.#free = 0;
  }

  /** The timeouts in force. */
  get timeouts(): Readonly<ConntrackTimeouts> {
    return this.#t;
  }

  /** Entries now held. */
  get size(): number {
    return this.#size;
  }

  /** Sets the clock (ms) that lookups, updates, inserts and sweeps judge expiry by. */
  setTime(ms: number): void {
    this.#now[0] = ms;
  }

  /** The clock (ms) in use. */
  get time(): number {
    return this.#now[0];
  }

  /** Figures for metrics. */
  stats(): ConntrackStats {
    return {
      entries: this.#size,
      max: this.max,
      inserts: this.#inserts,
      evictions: this.#evictions,
      expired: this.#expired,
    };
  }

  #bucket(f: FlowInfo): number {
    // Symmetric in the two ends, so a flow and its reply land in the same bucket.
    const v6 = f.family === 6;
    const seed = this.#seed;
    const h = (endHash(f.addr, 0, v6, f.sport, seed) + endHash(f.addr, 4, v6, f.dport, seed)) | 0;
    return mix(h ^ f.proto) & this.#bucketMask;
  }

  #same(e: number, f: FlowInfo, reply: boolean): boolean {
    const a = this.#addr;
    const b = f.addr;
    const base = e * 8;
    const x = reply ? 4 : 0;
    const y = reply ? 0 : 4;
    if (
      a[base] !== b[x] || a[base + 4] !== b[y] || a[base + 1] !== b[x + 1] ||
      a[base + 2] !== b[x + 2] || a[base + 3] !== b[x + 3] || a[base + 5] !== b[y + 1] ||
      a[base + 6] !== b[y + 2] || a[base + 7] !== b[y + 3]
    ) return false;
    const ports = reply ? (f.dport << 16) | f.sport : (f.sport << 16) | f.dport;
    return this.#ports[e] === ports;
  }

  /**
   * The entry for the flow (either orientation; `lastReply` tells which), or -1. An expired entry
   * is removed and not returned. Does not refresh the entry.
   */
  lookup(f: FlowInfo): number {
    const now = this.#now[0];
    const proto = f.proto;
    const family = f.family;
    for (let e = this.#buckets[this.#bucket(f)]; e !== NONE; e = this.#chain[e]) {
      if (this.#proto[e] !== proto || this.#family[e] !== family) continue;
      let reply = false;
      if (!this.#same(e, f, false)) {
        if (!this.#same(e, f, true)) continue;
        reply = true;
      }
      if (this.#expires[e] <= now) {
        this.#expired++;
        this.remove(e);
        return NONE;
      }
      this.lastReply = reply;
      return e;
    }
    return NONE;
  }

  /** The numeric direction (0 outbound, 1 inbound) in which the flow was first allowed. */
  direction(e: number): number {
    return this.#dir[e];
  }

  /** The engine generation the entry was last checked against. */
  generation(e: number): number {
    return this.#gen[e];
  }

  /** Records that the entry was checked against generation `g`. */
  setGeneration(e: number, g: number): void {
    this.#gen[e] = g;
  }

  /**
   * The index of the rule that allowed the flow, in the compiled policy of the entry's
   * generation (-1: the default allowed it, or no policy), so its later packets, replies
   * included, are charged to that rule (its rate limit).
   */
  rule(e: number): number {
    return this.#rule[e];
  }

  /** Records the rule that allows the flow now (-1: the default), with `setGeneration`. */
  setRule(e: number, r: number): void {
    this.#rule[e] = r;
  }

  /** Writes the flow's original tuple into `out` (for re-checking against new rules). */
  loadOriginal(e: number, out: FlowInfo): void {
    const base = e * 8;
    for (let i = 0; i < 8; i++) out.addr[i] = this.#addr[base + i];
    out.family = this.#family[e];
    out.proto = this.#proto[e];
    const ports = this.#ports[e];
    out.sport = (ports >>> 16) & 0xffff;
    out.dport = ports & 0xffff;
    out.tcpFlags = 0;
    const kind = this.#kind[e];
    out.ruleProto = kind === PROTO_KIND_TCP
      ? PROTO_TCP
      : kind === PROTO_KIND_UDP
      ? PROTO_UDP
      : kind === PROTO_KIND_ICMP
      ? 1
      : 255;
    out.icmpKind = kind === PROTO_KIND_ICMP ? ICMP_KIND_ECHO_REQUEST : 0;
  }

  /** True when a TCP entry has seen a RST or FINs both ways (a new SYN may reuse the tuple). */
  isClosed(e: number): boolean {
    const s = this.#state[e];
    return (s & ST_RST) !== 0 ||
      (s & (ST_FIN_ORIG | ST_FIN_REPLY)) === (ST_FIN_ORIG | ST_FIN_REPLY);
  }

  /** True once a packet has been seen in the reply orientation. */
  isReplied(e: number): boolean {
    return (this.#state[e] & ST_REPLIED) !== 0;
  }

  /** The entry's expiry (clock ms). */
  expiresAt(e: number): number {
    return this.#expires[e];
  }

  #timeout(e: number): number {
    const s = this.#state[e];
    const t = this.#t;
    switch (this.#kind[e]) {
      case PROTO_KIND_TCP:
        if (s & ST_RST) return t.tcpClosed;
        if ((s & ST_FIN_ORIG) && (s & ST_FIN_REPLY)) return t.tcpClosing;
        if (s & (ST_FIN_ORIG | ST_FIN_REPLY)) return t.tcpHalfClosed;
        return s & ST_REPLIED ? t.tcpEstablished : t.tcpUnreplied;
      case PROTO_KIND_UDP:
        return s & ST_REPLIED ? t.udpReplied : t.udpUnreplied;
      case PROTO_KIND_ICMP:
        return t.icmp;
      default:
        return s & ST_REPLIED ? t.otherReplied : t.otherUnreplied;
    }
  }

  #setExpiry(e: number): void {
    const exp = this.#now[0] + this.#timeout(e);
    this.#expires[e] = exp;
    if (exp < this.#earliest[0]) this.#earliest[0] = exp;
  }

  /** Notes a packet of the entry's flow: TCP flags, reply seen, expiry, recency. */
  update(e: number, f: FlowInfo, reply: boolean): void {
    let s = this.#state[e];
    if (reply) s |= ST_REPLIED;
    if (this.#kind[e] === PROTO_KIND_TCP) {
      const flags = f.tcpFlags;
      if (flags & TCP_RST) s |= ST_RST;
      if (flags & TCP_FIN) s |= reply ? ST_FIN_REPLY : ST_FIN_ORIG;
    }
    this.#state[e] = s;
    this.#setExpiry(e);
    this.#touch(e);
  }

  /**
   * Starts tracking a flow first allowed in numeric direction `dir` under engine generation `gen`
   * by rule index `rule` (-1: by the default); returns its entry. The caller has checked that it
   * is not tracked yet.
   */
  insert(f: FlowInfo, dir: number, gen: number, rule = -1): number {
    // The peer is the far end: the source of a flow first allowed inbound, else the destination.
    const slot = this.#peerSlot(f, dir === 1 ? 0 : 4);
    if (this.#perSlot[slot] >= this.maxPerPeer || this.#free === NONE) this.#makeRoom(slot);
    const e = this.#free;
    this.#free = this.#next[e];
    const base = e * 8;
    for (let i = 0; i < 8; i++) this.#addr[base + i] = f.addr[i];
    this.#ports[e] = (f.sport << 16) | f.dport;
    this.#proto[e] = f.proto;
    this.#family[e] = f.family;
    const rp = f.ruleProto;
    this.#kind[e] = rp === PROTO_TCP
      ? PROTO_KIND_TCP
      : rp === PROTO_UDP
      ? PROTO_KIND_UDP
      : rp === 1
      ? PROTO_KIND_ICMP
      : PROTO_KIND_OTHER;
    this.#state[e] = rp === PROTO_TCP && (f.tcpFlags & TCP_FIN) ? ST_FIN_ORIG : 0;
    this.#dir[e] = dir;
    this.#gen[e] = gen;
    this.#rule[e] = rule;
    this.#slot[e] = slot;
    this.#perSlot[slot]++;
    const b = this.#bucket(f);
    this.#bucketOf[e] = b;
    this.#chain[e] = this.#buckets[b];
    this.#buckets[b] = e;
    // Append at the most-recent end.
    this.#prev[e] = this.#tail;
    this.#next[e] = NONE;
    if (this.#tail !== NONE) this.#next[this.#tail] = e;
    else this.#head = e;
    this.#tail = e;
    this.#size++;
    this.#inserts++;
    this.#setExpiry(e);
    return e;
  }

  /** Makes room for one more entry of peer slot `slot`: expired ones first, then evictions. */
  #makeRoom(slot: number): void {
    if (this.#now[0] >= this.#earliest[0]) this.sweep();
    if (this.#perSlot[slot] >= this.maxPerPeer) this.#evictFrom(slot);
    else if (this.#free === NONE) {
      // From the peer holding most: whoever filled the table pays for the room.
      const counts = this.#perSlot;
      let heaviest = 0;
      for (let s = 1; s < PEER_SLOTS; s++) if (counts[s] > counts[heaviest]) heaviest = s;
      this.#evictFrom(heaviest);
    }
  }

  /** Evicts the least recently seen entry of peer slot `slot` (the head when it has none). */
  #evictFrom(slot: number): void {
    let e = this.#head;
    while (e !== NONE && this.#slot[e] !== slot) e = this.#next[e];
    if (e === NONE) e = this.#head;
    if (e === NONE) return;
    this.#evictions++;
    this.remove(e);
  }

  /** The slot of the peer whose address is at `base` in the flow's words (keyed hash). */
  #peerSlot(f: FlowInfo, base: number): number {
    return mix(endHash(f.addr, base, f.family === 6, 0, this.#seed) ^ 0x5bd1e995) &
      (PEER_SLOTS - 1);
  }

  /** Moves an entry to the most-recent end of the recency list. */
  #touch(e: number): void {
    if (this.#tail === e) return;
    const p = this.#prev[e];
    const n = this.#next[e];
    if (p !== NONE) this.#next[p] = n;
    else this.#head = n;
    this.#prev[n] = p;
    this.#prev[e] = this.#tail;
    this.#next[e] = NONE;
    this.#next[this.#tail] = e;
    this.#tail = e;
  }

  /** Stops tracking an entry. */
  remove(e: number): void {
    const b = this.#bucketOf[e];
    if (this.#buckets[b] === e) this.#buckets[b] = this.#chain[e];
    else {
      let x = this.#buckets[b];
      while (this.#chain[x] !== e) x = this.#chain[x];
      this.#chain[x] = this.#chain[e];
    }
    const p = this.#prev[e];
    const n = this.#next[e];
    if (p !== NONE) this.#next[p] = n;
    else this.#head = n;
    if (n !== NONE) this.#prev[n] = p;
    else this.#tail = p;
    this.#next[e] = this.#free;
    this.#free = e;
    this.#size--;
    this.#perSlot[this.#slot[e]]--;
  }

  /**
   * Removes every entry expired at the current time; returns how many. Inserting into a full table
   * calls it when needed; calling it periodically (say every 10 s) keeps `size` honest.
   */
  sweep(): number {
    const now = this.#now[0];
    let removed = 0;
    let earliest = Infinity;
    for (let e = this.#head; e !== NONE;) {
      const n = this.#next[e];
      const exp = this.#expires[e];
      if (exp <= now) {
        this.remove(e);
        removed++;
      } else if (exp < earliest) earliest = exp;
      e = n;
    }
    this.#earliest[0] = earliest;
    this.#expired += removed;
    return removed;
  }

  /** Calls `fn` with every entry, oldest first; `fn` may remove the entry it is given. */
  forEachEntry(fn: (e: number) => void): void {
    for (let e = this.#head; e !== NONE;) {
      const n = this.#next[e];
      fn(e);
      e = n;
    }
  }

  /** Drops every entry. */
  clear(): void {
    while (this.#head !== NONE) this.remove(this.#head);
    this.#earliest[0] = Infinity;
  }

  /**
   * Entries whose flow goes between the two flows' addresses with this protocol and destination
   * port in either orientation, for explanations: `original` counts those in the asked direction,
   * `reply` those the asked packet would be a reply to. Walks the whole table.
   */
  findFlows(f: FlowInfo): { original: number; reply: number } {
    const now = this.#now[0];
    let original = 0;
    let reply = 0;
    const a = this.#addr;
    const b = f.addr;
    for (let e = this.#head; e !== NONE; e = this.#next[e]) {
      if (this.#proto[e] !== f.proto || this.#family[e] !== f.family) continue;
      if (this.#expires[e] <= now) continue;
      const base = e * 8;
      let fwd = true;
      let rev = true;
      for (let i = 0; i < 4; i++) {
        if (a[base + i] !== b[i] || a[base + 4 + i] !== b[4 + i]) fwd = false;
        if (a[base + i] !== b[4 + i] || a[base + 4 + i] !== b[i]) rev = false;
      }
      const ports = this.#ports[e];
      const isIcmp = this.#kind[e] === PROTO_KIND_ICMP;
      if (fwd && (isIcmp || (ports & 0xffff) === f.dport)) original++;
      if (rev && (isIcmp || ((ports >>> 16) & 0xffff) === f.dport)) reply++;
    }
    return { original, reply };
  }
}
