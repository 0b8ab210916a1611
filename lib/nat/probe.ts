/**
 * Path probes: the ping and pong weft members send each other on the WireGuard UDP socket to
 * find which of a peer's endpoints answer, how fast, and (from the pong) the address this node
 * has as the peer sees it, as STUN does. Only ever sent to weft members: a plain WireGuard peer
 * would count them as junk.
 *
 * Wire format (all sizes fixed):
 *
 * ```text
 * ping (88 bytes):  u32le type 0x13 | sender static key (32) | nonce (24) | seal(txid (12))
 * pong (106 bytes): u32le type 0x14 | sender static key (32) | nonce (24) |
 *                   seal(txid (12) | observed address (16, IPv4 mapped into IPv6) | port (u16be))
 * ```
 *
 * `seal` is XChaCha20-Poly1305 (16-byte tag) with the 60-byte header as associated data, under a
 * key both members of a pair derive from their static keys' X25519 secret; the nonce is random,
 * so the one key serves both directions without reuse. The key is computed once per peer and
 * only for keys the caller says are members, so a stranger's datagram never costs a DH.
 * @module
 */

import type { Dh } from "../crypto/types.ts";
import { hash, hmac } from "../crypto/blake2s.ts";
import { decodeBase64, encodeBase64 } from "../crypto/base64.ts";
import { xchachaOpen, xchachaSeal } from "../crypto/xchacha.ts";
import { readU32, writeU32 } from "../protocol/bytes.ts";
import { ReasonCounter } from "../metrics/reasons.ts";
import { formatAddressV4, formatAddressV6, parseAddress } from "../net/ip.ts";

/** Message type of a path ping (after weft's join messages, 0x10-0x12). */
export const MSG_PATH_PING = 0x13;
/** Message type of a path pong. */
export const MSG_PATH_PONG = 0x14;
/** Bytes of a transaction id. */
export const TXID_SIZE = 12;
/** Bytes of the clear header: type, sender key, nonce. */
export const PROBE_HEADER_SIZE = 4 + 32 + 24;
const TAG = 16;
const SENDER = 4;
const NONCE = SENDER + 32;
/** Bytes of an observed address on the wire: IPv6 (IPv4 mapped) and a big-endian port. */
const OBSERVED_SIZE = 16 + 2;
/** Size of every ping. */
export const PING_SIZE: number = PROBE_HEADER_SIZE + TXID_SIZE + TAG;
/** Size of every pong. */
export const PONG_SIZE: number = PROBE_HEADER_SIZE + TXID_SIZE + OBSERVED_SIZE + TAG;

const LABEL = hash(new TextEncoder().encode("weft path v1"));

/** XChaCha20-Poly1305 as the probes use it (24-byte nonce; ciphertext then 16-byte tag). */
export interface XAead {
  /** Seals `plaintext`; returns ciphertext then tag. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array;
  /** Opens ciphertext then tag; null when forged. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null;
}

/** The XChaCha20-Poly1305 of lib/crypto (noble). */
export const defaultXAead: XAead = { seal: xchachaSeal, open: xchachaOpen };

/** Why a datagram was dropped by {@link PathCrypto.open}. */
export const PROBE_DROP_REASONS = ["short", "unknown-type", "not-member", "auth"] as const;

/** Why a datagram was dropped by {@link PathCrypto.open}. */
export type ProbeDropReason = typeof PROBE_DROP_REASONS[number];

/** An address and port as the ponger saw them (IPv6 without brackets). */
export interface ObservedAddress {
  /** IPv4 dotted quad, or IPv6 text. */
  address: string;
  /** UDP port. */
  port: number;
}

/** A ping that opened: answer it with {@link PathCrypto.pong}. */
export interface OpenedPing {
  /** Which message. */
  type: "ping";
  /** The sender's static public key, base64. */
  peerKey: string;
  /** The transaction id to echo, 24 hex digits. */
  txid: string;
}

/** A pong that opened. */
export interface OpenedPong {
  /** Which message. */
  type: "pong";
  /** The sender's static public key, base64. */
  peerKey: string;
  /** The transaction id of the ping it answers, 24 hex digits. */
  txid: string;
  /** Where our ping came from as the ponger saw it: our reflexive address towards it. */
  observed: ObservedAddress;
}

/** A dropped datagram; the objects are shared constants, so a drop allocates nothing. */
export interface ProbeDrop {
  /** Why. */
  readonly drop: ProbeDropReason;
}

/** What {@link PathCrypto.open} makes of a datagram. */
export type OpenResult = OpenedPing | OpenedPong | ProbeDrop;

const DROPS: Readonly<Record<ProbeDropReason, ProbeDrop>> = Object.freeze({
  "short": Object.freeze({ drop: "short" as const }),
  "unknown-type": Object.freeze({ drop: "unknown-type" as const }),
  "not-member": Object.freeze({ drop: "not-member" as const }),
  "auth": Object.freeze({ drop: "auth" as const }),
});

/** True when a datagram's type says it is a path probe (a cheap demultiplexing test). */
export function isPathProbe(msg: Uint8Array): boolean {
  if (msg.length < 4) return false;
  const t = readU32(msg, 0);
  return t === MSG_PATH_PING || t === MSG_PATH_PONG;
}

/** Options of {@link PathCrypto}. */
export interface PathCryptoOptions {
  /** X25519, for the per-pair key. */
  dh: Dh;
  /** XChaCha20-Poly1305; default lib/crypto's. */
  aead?: XAead;
  /** This node's static private key. */
  privateKey: Uint8Array;
  /** Whether a key (base64) belongs to a current member: only those get a key derived. */
  isMember: (keyBase64: string) => boolean;
  /** Fills a buffer with random bytes (nonces, txids); default the platform CSPRNG. */
  random?: (buf: Uint8Array) => void;
  /** A clock in milliseconds for the non-member cache; default `performance.now`. */
  now?: () => number;
}

/** A cached peer: its key, and the pair key (null when its key is unusable, a low-order point). */
interface Entry {
  readonly publicKey: Uint8Array;
  readonly base64: string;
  readonly pairKey: Uint8Array | null;
  /** Negative entries (not a member) expire so a later member is not shut out for long. */
  readonly expires: number;
  next: Entry | null;
}

/** How long "not a member" is believed without asking again (the caller may say sooner). */
export const NOT_MEMBER_TTL_MS = 10_000;
/** At most this many non-member keys are remembered; past it the list starts over. */
const NOT_MEMBER_MAX = 1024;

function hex(b: Uint8Array, off: number, len: number): string {
  let s = "";
  for (let i = off; i < off + len; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
}

function txidBytes(txid: string): Uint8Array {
  if (!/^[0-9a-f]{24}$/.test(txid)) throw new RangeError("a txid is 24 lowercase hex digits");
  const out = new Uint8Array(TXID_SIZE);
  for (let i = 0; i < TXID_SIZE; i++) out[i] = parseInt(txid.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Writes an address as 16 bytes (IPv4 mapped) and the port big-endian at `off`. */
function writeObserved(out: Uint8Array, off: number, observed: ObservedAddress): void {
  const zone = observed.address.indexOf("%");
  const text = zone < 0 ? observed.address : observed.address.slice(0, zone);
  const a = parseAddress(text);
  if (a === null) throw new RangeError(`not an IP address: ${JSON.stringify(observed.address)}`);
  if (!Number.isInteger(observed.port) || observed.port < 0 || observed.port > 65535) {
    throw new RangeError(`bad port ${observed.port}`);
  }
  if (a.length === 4) {
    out.fill(0, off, off + 10);
    out[off + 10] = 0xff;
    out[off + 11] = 0xff;
    out.set(a, off + 12);
  } else {
    out.set(a, off);
  }
  out[off + 16] = observed.port >>> 8;
  out[off + 17] = observed.port & 0xff;
}

function readObserved(b: Uint8Array, off: number): ObservedAddress {
  let mapped = b[off + 10] === 0xff && b[off + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = b[off + i] === 0;
  const address = mapped ? formatAddressV4(b, off + 12) : formatAddressV6(b, off);
  return { address, port: (b[off + 16] << 8) | b[off + 17] };
}

/** A seeded 30-bit hash of a 32-byte key in `b` at `off`: a map key without allocating. */
function keyHash(b: Uint8Array, off: number, seed: number): number {
  let h = seed;
  for (let i = 0; i < 32; i += 4) {
    h = Math.imul(h ^ readU32(b, off + i), 0x9e3779b1);
    h ^= h >>> 15;
  }
  // 30 bits: a small integer to V8, so the map key is not a boxed number (an allocation).
  return h & 0x3fffffff;
}

/** Whether the 32-byte key `k` equals the one in `b` at `off` (no subarray: no allocation). */
function sameKey(k: Uint8Array, b: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 32; i++) if (k[i] !== b[off + i]) return false;
  return true;
}

/**
 * Seals and opens path probes for one node: per-peer keys derived once and cached, drops
 * counted by reason. `open` of a dropped datagram allocates nothing except when a key is seen
 * for the first time (one base64 string to ask `isMember`) and in the cipher when a member's
 * key carries a forged tag.
 */
export class PathCrypto {
  readonly #drops = new ReasonCounter(PROBE_DROP_REASONS);

  readonly #dh: Dh;
  readonly #aead: XAead;
  readonly #private: Uint8Array;
  readonly #public: Uint8Array;
  readonly #isMember: (keyBase64: string) => boolean;
  readonly #random: (buf: Uint8Array) => void;
  readonly #now: () => number;
  // Random so nobody can choose keys that all land in one chain.
  readonly #seed = crypto.getRandomValues(new Uint32Array(1))[0];
  readonly #members = new Map<number, Entry>();
  #strangers = new Map<number, Entry>();
  #strangerCount = 0;
  #dhCount = 0;

  /** Binds this node's private key; nothing is derived until a member is seen. */
  constructor(opts: PathCryptoOptions) {
    if (opts.privateKey.length !== 32) throw new RangeError("a private key is 32 bytes");
    this.#dh = opts.dh;
    this.#aead = opts.aead ?? defaultXAead;
    this.#private = opts.privateKey.slice();
    this.#public = opts.dh.publicKey(this.#private);
    this.#isMember = opts.isMember;
    this.#random = opts.random ?? ((b) => crypto.getRandomValues(b));
    this.#now = opts.now ?? (() => performance.now());
  }

  /** This node's public key. */
  get publicKey(): Uint8Array {
    return this.#public.slice();
  }

  /** Datagrams dropped by {@link open}, by reason (a copy). */
  get drops(): Record<ProbeDropReason, number> {
    return this.#drops.snapshot();
  }

  /** X25519 computations made: one per member key, until it is forgotten. */
  get dhCount(): number {
    return this.#dhCount;
  }

  /** A ping to `peerKey` (base64) and its txid; throws when the key is not a member's. */
  ping(peerKey: string): { bytes: Uint8Array; txid: string } {
    const txid = new Uint8Array(TXID_SIZE);
    this.#random(txid);
    const bytes = this.#seal(peerKey, MSG_PATH_PING, txid);
    return { bytes, txid: hex(txid, 0, TXID_SIZE) };
  }

  /** The pong answering ping `txid` from `peerKey`, telling it where its ping came from. */
  pong(peerKey: string, txid: string, observed: ObservedAddress): Uint8Array {
    const plain = new Uint8Array(TXID_SIZE + OBSERVED_SIZE);
    plain.set(txidBytes(txid));
    writeObserved(plain, TXID_SIZE, observed);
    return this.#seal(peerKey, MSG_PATH_PONG, plain);
  }

  /** Opens a received probe, or says (and counts) why it is dropped. */
  open(bytes: Uint8Array): OpenResult {
    if (bytes.length < 4) return this.#drop("short");
    const type = readU32(bytes, 0);
    let size: number;
    if (type === MSG_PATH_PING) size = PING_SIZE;
    else if (type === MSG_PATH_PONG) size = PONG_SIZE;
    else return this.#drop("unknown-type");
    if (bytes.length !== size) return this.#drop("short");
    const entry = this.#lookup(bytes, SENDER);
    if (entry === null) return this.#drop("not-member");
    if (entry.pairKey === null) return this.#drop("auth");
    const plain = this.#aead.open(
      entry.pairKey,
      bytes.subarray(NONCE, PROBE_HEADER_SIZE),
      bytes.subarray(PROBE_HEADER_SIZE),
      bytes.subarray(0, PROBE_HEADER_SIZE),
    );
    if (plain === null) return this.#drop("auth");
    const txid = hex(plain, 0, TXID_SIZE);
    if (type === MSG_PATH_PING) return { type: "ping", peerKey: entry.base64, txid };
    return { type: "pong", peerKey: entry.base64, txid, observed: readObserved(plain, TXID_SIZE) };
  }

  /** Drops what is cached for `peerKey` (base64): call it when a member leaves. */
  forget(peerKey: string): void {
    const raw = decodeBase64(peerKey);
    if (raw === null || raw.length !== 32) return;
    const h = keyHash(raw, 0, this.#seed);
    this.#unlink(this.#members, h, raw, true);
    this.#unlink(this.#strangers, h, raw, false);
  }

  /**
   * Says membership changed: keys refused before are asked about again at once, and cached
   * members that `isMember` no longer accepts are forgotten.
   */
  membersChanged(): void {
    this.#strangers = new Map();
    this.#strangerCount = 0;
    const gone: string[] = [];
    for (const head of this.#members.values()) {
      for (let e: Entry | null = head; e !== null; e = e.next) {
        if (!this.#isMember(e.base64)) gone.push(e.base64);
      }
    }
    for (const k of gone) this.forget(k);
  }

  #drop(reason: ProbeDropReason): ProbeDrop {
    this.#drops.add(reason);
    return DROPS[reason];
  }

  #seal(peerKey: string, type: number, plain: Uint8Array): Uint8Array {
    const raw = decodeBase64(peerKey);
    if (raw === null || raw.length !== 32) throw new RangeError("a peer key is 32 bytes, base64");
    const entry = this.#lookup(raw, 0);
    if (entry === null) throw new RangeError("not a member's key");
    if (entry.pairKey === null) throw new RangeError("the peer's key is unusable (low order)");
    const out = new Uint8Array(PROBE_HEADER_SIZE + plain.length + TAG);
    writeU32(out, 0, type);
    out.set(this.#public, SENDER);
    const nonce = out.subarray(NONCE, PROBE_HEADER_SIZE);
    this.#random(nonce);
    const sealed = this.#aead.seal(entry.pairKey, nonce, plain, out.subarray(0, PROBE_HEADER_SIZE));
    out.set(sealed, PROBE_HEADER_SIZE);
    return out;
  }

  /** The member entry for the key in `b` at `off`, creating it (one DH) for a new member. */
  #lookup(b: Uint8Array, off: number): Entry | null {
    const h = keyHash(b, off, this.#seed);
    for (let e = this.#members.get(h) ?? null; e !== null; e = e.next) {
      if (sameKey(e.publicKey, b, off)) return e;
    }
    const now = this.#now();
    for (let e = this.#strangers.get(h) ?? null; e !== null; e = e.next) {
      if (sameKey(e.publicKey, b, off)) {
        if (e.expires > now) return null;
        this.#unlink(this.#strangers, h, e.publicKey, false);
        break;
      }
    }
    // First sight of this key (or a stale refusal): ask, then remember the answer.
    const publicKey = b.slice(off, off + 32);
    const base64 = encodeBase64(publicKey);
    const self = sameKey(publicKey, this.#public);
    if (self || !this.#isMember(base64)) {
      if (this.#strangerCount >= NOT_MEMBER_MAX) {
        this.#strangers = new Map();
        this.#strangerCount = 0;
      }
      const e: Entry = {
        publicKey,
        base64,
        pairKey: null,
        expires: now + NOT_MEMBER_TTL_MS,
        next: this.#strangers.get(h) ?? null,
      };
      this.#strangers.set(h, e);
      this.#strangerCount++;
      return null;
    }
    const e: Entry = {
      publicKey,
      base64,
      pairKey: this.#derive(publicKey),
      expires: Infinity,
      next: this.#members.get(h) ?? null,
    };
    this.#members.set(h, e);
    return e;
  }

  /** The pair key: the same on both sides, bound to both public keys in a fixed order. */
  #derive(peer: Uint8Array): Uint8Array | null {
    this.#dhCount++;
    let shared: Uint8Array;
    try {
      shared = this.#dh.shared(this.#private, peer);
    } catch {
      return null; // a low-order key: no secret to share, every probe under it fails
    }
    const [lo, hi] = compareKeys(this.#public, peer) < 0
      ? [this.#public, peer]
      : [peer, this.#public];
    const key = hmac(LABEL, shared, lo, hi);
    shared.fill(0);
    return key;
  }

  #unlink(map: Map<number, Entry>, h: number, key: Uint8Array, wipe: boolean): void {
    let prev: Entry | null = null;
    for (let e = map.get(h) ?? null; e !== null; prev = e, e = e.next) {
      if (!sameKey(e.publicKey, key)) continue;
      if (prev === null) {
        if (e.next === null) map.delete(h);
        else map.set(h, e.next);
      } else {
        prev.next = e.next;
      }
      if (wipe) e.pairKey?.fill(0);
      else this.#strangerCount--;
      return;
    }
  }
}

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
