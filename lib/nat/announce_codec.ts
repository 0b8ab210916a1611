/**
 * LAN announcements: the datagram a member multicasts on its LAN to say "this key listens on
 * this port here", so that members on the same LAN find each other's LAN address even when
 * neither knows it (both behind one NAT, addresses handed out by DHCP). They carry nothing
 * secret. The sender signs each with its own static key (XEdDSA, lib/crypto/xeddsa.ts), so no
 * member can speak for another (and pull that member's traffic to itself); a mesh-wide LAN key
 * (sent by the leader inside the tunnels) MACs it, so strangers' datagrams cost no signature
 * check; a time and a per-sender last-seen time keep them from being replayed.
 *
 * Wire format (131 bytes, integers big-endian):
 *
 * ```text
 * "weftLAN1" (8) | version (1) = 2 | sender public key (32) | listen port (2) |
 * unix time ms (8) | signature (64): the sender's, over everything before it |
 * MAC (16): keyed BLAKE2s-128 under the LAN key over everything before it
 * ```
 * @module
 */

import { mac } from "../crypto/blake2s.ts";
import { encodeBase64 } from "../crypto/base64.ts";
import { equalBytes } from "../crypto/bytes.ts";
import { xeddsaSign, xeddsaVerify } from "../crypto/xeddsa.ts";
import { RateLimiter } from "../protocol/ratelimiter.ts";
import { ReasonCounter } from "../metrics/reasons.ts";

/** The first 8 bytes of every announcement. */
export const ANNOUNCE_MAGIC = "weftLAN1";
/** The format version this code writes and reads (1 had no signature). */
export const ANNOUNCE_VERSION = 2;
/** Size of every announcement. */
export const ANNOUNCE_SIZE = 8 + 1 + 32 + 2 + 8 + 64 + 16;
/** How far an announcement's time may be from ours, either way. */
export const ANNOUNCE_WINDOW_MS = 120_000;
/** At most this many senders' last-seen times are kept (the least recent goes first). */
export const MAX_SENDERS = 4096;

const MAGIC = new TextEncoder().encode(ANNOUNCE_MAGIC);
const KEY = 9;
const PORT = KEY + 32;
const TIME = PORT + 2;
const SIG = TIME + 8;
const MAC_AT = SIG + 64;
const TWO32 = 0x1_0000_0000;

/** What an announcement says. */
export interface Announcement {
  /** The sender's static public key (32 bytes). */
  publicKey: Uint8Array;
  /** The sender's WireGuard UDP port. */
  port: number;
  /** When it was made, unix milliseconds. */
  timeMs: number;
}

/** A decoded announcement, with what its signature covers. */
export interface SignedAnnouncement extends Announcement {
  /** The signed bytes (everything before the signature). */
  signed: Uint8Array;
  /** The sender's signature. */
  signature: Uint8Array;
}

/** Why an announcement was not accepted. */
export const ANNOUNCE_DROP_REASONS = [
  "short",
  "magic",
  "version",
  "mac",
  "stale",
  "replay",
  "self",
  "signature",
  "rate",
] as const;

/** Why an announcement was not accepted. */
export type AnnounceDropReason = typeof ANNOUNCE_DROP_REASONS[number];

/** A refused announcement. */
export interface AnnounceDrop {
  /** Why. */
  readonly drop: AnnounceDropReason;
}

function checkKey(lanKey: Uint8Array): void {
  if (!(lanKey instanceof Uint8Array) || lanKey.length !== 32) {
    throw new RangeError("a LAN key is 32 bytes");
  }
}

/**
 * Builds the announcement of `a`, signed with the sender's X25519 `privateKey` (the key of
 * `a.publicKey`) and MACed with the 32-byte `lanKey`.
 */
export function encodeAnnouncement(
  a: Announcement,
  lanKey: Uint8Array,
  privateKey: Uint8Array,
): Uint8Array {
  checkKey(lanKey);
  if (a.publicKey.length !== 32) throw new RangeError("a public key is 32 bytes");
  if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535) {
    throw new RangeError(`bad port ${a.port}`);
  }
  if (!Number.isSafeInteger(a.timeMs) || a.timeMs < 0) throw new RangeError("bad time");
  const out = new Uint8Array(ANNOUNCE_SIZE);
  out.set(MAGIC, 0);
  out[8] = ANNOUNCE_VERSION;
  out.set(a.publicKey, KEY);
  out[PORT] = a.port >>> 8;
  out[PORT + 1] = a.port & 0xff;
  const view = new DataView(out.buffer);
  view.setUint32(TIME, Math.floor(a.timeMs / TWO32));
  view.setUint32(TIME + 4, a.timeMs >>> 0);
  out.set(xeddsaSign(privateKey, out.subarray(0, SIG)), SIG);
  out.set(mac(lanKey, out.subarray(0, MAC_AT)), MAC_AT);
  return out;
}

/** Reads and authenticates an announcement; says why when it is not one made with `lanKey`. */
export function decodeAnnouncement(
  bytes: Uint8Array,
  lanKey: Uint8Array,
): SignedAnnouncement | AnnounceDrop {
  checkKey(lanKey);
  if (bytes.length !== ANNOUNCE_SIZE) return { drop: "short" };
  for (let i = 0; i < 8; i++) if (bytes[i] !== MAGIC[i]) return { drop: "magic" };
  if (bytes[8] !== ANNOUNCE_VERSION) return { drop: "version" };
  if (!equalBytes(mac(lanKey, bytes.subarray(0, MAC_AT)), bytes.subarray(MAC_AT))) {
    return { drop: "mac" };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hi = view.getUint32(TIME);
  const port = (bytes[PORT] << 8) | bytes[PORT + 1];
  // Past 2^53 ms is no time we will see; port 0 is no port: both only a broken sender makes.
  if (hi >= 0x200000 || port === 0) return { drop: "stale" };
  return {
    publicKey: bytes.slice(KEY, KEY + 32),
    port,
    timeMs: hi * TWO32 + view.getUint32(TIME + 4),
    signed: bytes.subarray(0, SIG),
    signature: bytes.subarray(SIG, MAC_AT),
  };
}

/** Options of {@link AnnounceFilter}. */
export interface AnnounceFilterOptions {
  /** The mesh's LAN key. */
  lanKey: Uint8Array;
  /** Our own public key: our announcements echoed back are dropped. */
  selfKey?: Uint8Array;
  /** Unix time in milliseconds; default `Date.now`. */
  now?: () => number;
  /** Signature checks per source address: default 20 a second, 40 at once. */
  verifyRate?: { perSecond: number; burst: number };
  /** Checks a sender's signature; default XEdDSA (tests of other rules may stand one in). */
  verify?: (publicKey: Uint8Array, signed: Uint8Array, signature: Uint8Array) => boolean;
}

/**
 * Accepts announcements that carry the LAN key's MAC, are within ±120 s of our clock, are newer
 * than the last one accepted from the same sender (so a replay of an older one is ignored) and
 * bear the sender's own signature (checked last, at most `verifyRate` a second per source
 * address: a signature check costs a scalar multiplication). Drops are counted by reason.
 */
export class AnnounceFilter {
  readonly #drops = new ReasonCounter(ANNOUNCE_DROP_REASONS);

  /** Announcements refused, by reason (a copy). */
  get drops(): Record<AnnounceDropReason, number> {
    return this.#drops.snapshot();
  }

  #key: Uint8Array;
  readonly #self: string | null;
  readonly #now: () => number;
  /** sender (base64) → the time of its last accepted announcement; least recent first. */
  readonly #lastSeen = new Map<string, number>();
  readonly #verifyLimit: RateLimiter;
  readonly #verify: (publicKey: Uint8Array, signed: Uint8Array, signature: Uint8Array) => boolean;

  /** A filter for the given LAN key. */
  constructor(opts: AnnounceFilterOptions) {
    checkKey(opts.lanKey);
    this.#key = opts.lanKey.slice();
    this.#self = opts.selfKey ? encodeBase64(opts.selfKey) : null;
    this.#now = opts.now ?? Date.now;
    this.#verifyLimit = new RateLimiter({
      ...(opts.verifyRate ?? { perSecond: 20, burst: 40 }),
      maxEntries: 1024,
    });
    this.#verify = opts.verify ?? xeddsaVerify;
  }

  /** Replaces the LAN key (the leader rotated it). */
  setKey(lanKey: Uint8Array): void {
    checkKey(lanKey);
    this.#key = lanKey.slice();
  }

  /** The announcement if it is to be believed, else why not; `source` is its source address. */
  accept(bytes: Uint8Array, source = ""): Announcement | AnnounceDrop {
    const a = decodeAnnouncement(bytes, this.#key);
    if ("drop" in a) return this.#drop(a.drop);
    if (Math.abs(a.timeMs - this.#now()) > ANNOUNCE_WINDOW_MS) return this.#drop("stale");
    const sender = encodeBase64(a.publicKey);
    if (sender === this.#self) return this.#drop("self");
    const last = this.#lastSeen.get(sender);
    if (last !== undefined && a.timeMs <= last) return this.#drop("replay");
    if (!this.#verifyLimit.allow(source)) return this.#drop("rate");
    if (!this.#verify(a.publicKey, a.signed, a.signature)) return this.#drop("signature");
    this.#lastSeen.delete(sender);
    this.#lastSeen.set(sender, a.timeMs);
    if (this.#lastSeen.size > MAX_SENDERS) {
      this.#lastSeen.delete(this.#lastSeen.keys().next().value!);
    }
    return { publicKey: a.publicKey, port: a.port, timeMs: a.timeMs };
  }

  #drop(reason: AnnounceDropReason): AnnounceDrop {
    this.#drops.add(reason);
    return { drop: reason };
  }
}
