/**
 * A member's side of relaying: the sessions relays granted it, the wrapping of WireGuard
 * messages for a peer into relay packets, the unwrapping of what relays forward, and the choice
 * of relay when several granted a session with the same peer (the lowest RTT, kept until another
 * is clearly better or it fails, so the path does not flap).
 *
 * Pure: time is injected, RTTs and failures are fed from outside, and it neither sends nor
 * receives (lib/relay/transport.ts does, over a transport). The per-packet calls allocate
 * nothing: results are one reused object each, valid until the next call.
 * @module
 */

import type { Endpoint } from "../io/driver.ts";
import { parseKey } from "../crypto/keys.ts";
import { RelayMacKey } from "./mac.ts";
import type { RelayClosed, RelayNotice, RelaySession } from "./messages.ts";
import { type RelayEndpoint, RelayEndpointTable } from "./endpoint.ts";
import {
  isFromRelay,
  openRelay,
  RELAY_HEADER_SIZE,
  RELAY_MIN_INNER,
  relayId,
  sealRelay,
  sealRelayInPlace,
} from "./wire.ts";
import { ReasonCounter } from "../metrics/reasons.ts";

/** Why the client dropped a packet, going out or coming in. */
export const RELAY_CLIENT_DROPS = [
  /** Out: no usable session with the peer (none granted, or its relay has no endpoint). */
  "no-session",
  /** Out: the message does not fit the largest relay packet. */
  "too-large",
  /** In: not a relay-to-member packet, or too short. */
  "malformed",
  /** In: an id no relay granted us (or one since closed). */
  "unknown-session",
  /** In: the MAC is wrong. */
  "mac",
] as const;

/** Why the client dropped a packet. */
export type RelayClientDrop = typeof RELAY_CLIENT_DROPS[number];

/** Why the client refused a grant. */
export const RELAY_GRANT_REFUSALS = [
  /** It came from a relay the client was not told about. */
  "unknown-relay",
  /** It names ourselves as the peer. */
  "self",
  /** Its receive id is one another session already receives on. */
  "id-collision",
  /** This client did not ask that relay for a session with that peer lately. */
  "not-asked",
  /** The relay already holds as many of our sessions as a relay may. */
  "too-many",
] as const;

/** Why the client refused a grant. */
export type RelayGrantRefusal = typeof RELAY_GRANT_REFUSALS[number];

/** A session is asked of a relay again this often while none is held (ms). */
export const SESSION_RETRY_MS = 2_000;
/** ...and this often while one is held or some relay has not granted one yet (a grant is renewed). */
export const SESSION_REFRESH_MS = 10_000;

/** What a client is built from. */
export interface RelayClientOptions {
  /** Monotonic milliseconds. */
  now: () => number;
  /** Our own public key (grants naming it are refused). */
  selfKey?: string;
  /**
   * Sessions with no packet either way for this long are forgotten by `sweep`. Default 120,000
   * ms, the relay's own idle time: by then it has dropped them too.
   */
  idleMs?: number;
  /** The most sessions one relay may hold with us. Default 4,096. */
  maxSessionsPerRelay?: number;
  /** How long after an ask a relay's grant is taken, ms. Default 30,000. */
  askWindowMs?: number;
  /** The longest relay packet `wrap` builds. Default 65,535 (the largest TCP frame). */
  maxPacket?: number;
  /**
   * How much lower another relay's RTT must be to move a peer to it: by `ms` and by `ratio` of
   * the current one's, whichever is more. Default 5 ms and 20%.
   */
  switchMargin?: { ms: number; ratio: number };
}

/** A wrapped packet: send `bytes` to `relayEndpoint`. Reused by the next `wrap`. */
export interface Wrapped {
  /** The relay packet. */
  readonly bytes: Uint8Array;
  /** The relay's underlay endpoint. */
  readonly relayEndpoint: Endpoint;
  /** The relay's public key. */
  readonly relayKey: string;
}

/** An unwrapped packet: `inner` from `peerKey` through `relayKey`. Reused by the next `unwrap`. */
export interface Unwrapped {
  /** The peer that sent it. */
  readonly peerKey: string;
  /** The relay it came through. */
  readonly relayKey: string;
  /** The virtual endpoint to hand `inner` to the device with. */
  readonly virtualEndpoint: RelayEndpoint;
  /** The WireGuard message, a view into the packet. */
  readonly inner: Uint8Array;
}

/** A relay as the client knows it. */
export interface RelayInfo {
  /** Its public key. */
  key: string;
  /** Its underlay endpoint, if known. */
  endpoint: string | null;
  /** The last RTT fed in, in ms (null: none yet). */
  rttMs: number | null;
  /** Marked failed and not heard from since. */
  failed: boolean;
  /** The peers it granted sessions with. */
  peers: string[];
}

/** The client's counters. */
export interface RelayClientStats {
  /** Sessions held now. */
  sessions: number;
  /** Packets wrapped, and their relay packet bytes. */
  wrapped: { packets: number; bytes: number };
  /** Packets unwrapped, and their relay packet bytes. */
  unwrapped: { packets: number; bytes: number };
  /** Times a peer moved from one relay to another. */
  switches: number;
  /** Packets dropped, by reason. */
  drops: Record<RelayClientDrop, number>;
  /** Grants refused, by reason. */
  refusals: Record<RelayGrantRefusal, number>;
}

interface RelayState {
  key: string;
  endpoint: Endpoint | null;
  rtt: number;
  failed: boolean;
  sessions: Map<string, Session>;
  /** When we last asked this relay for a session with each peer (a grant needs a recent ask). */
  asked: Map<string, number>;
}

interface Session {
  relay: RelayState;
  peer: string;
  sendId: number;
  sendMac: RelayMacKey;
  /** The relay's grant offers the head-and-tag MAC form on our direction: we sign in it. */
  sendHeadTag: boolean;
  recvId: number;
  recvMac: RelayMacKey;
  lastActive: number;
  virtual: RelayEndpoint;
}

interface PeerState {
  sessions: Map<string, Session>;
  chosen: Session | null;
  /** The client generation `chosen` was picked in; stale when the client changed since. */
  gen: number;
}

class WrapResult implements Wrapped {
  bytes: Uint8Array = new Uint8Array(0);
  relayEndpoint: Endpoint = null as unknown as Endpoint;
  relayKey = "";
}

class UnwrapResult implements Unwrapped {
  peerKey = "";
  relayKey = "";
  virtualEndpoint: RelayEndpoint = null as unknown as RelayEndpoint;
  inner: Uint8Array = new Uint8Array(0);
}

/** A member's relay sessions. See the module docs. */
export class RelayClient {
  readonly #now: () => number;
  readonly #selfKey: string | undefined;
  readonly #idleMs: number;
  readonly #maxPerRelay: number;
  readonly #askWindowMs: number;
  readonly #marginMs: number;
  readonly #marginRatio: number;
  readonly #relays = new Map<string, RelayState>();
  readonly #peers = new Map<string, PeerState>();
  readonly #byRecvId = new Map<number, Session>();
  readonly #endpoints = new RelayEndpointTable();
  readonly #out: Uint8Array;
  // Views of #out per packet length, and of received packets' inner messages per packet
  // object: made once, so the per-packet path allocates nothing.
  readonly #outViews = new Map<number, Uint8Array>();
  readonly #innerViews = new WeakMap<Uint8Array, Uint8Array>();
  readonly #wrapped = new WrapResult();
  /** The session {@link reserve} picked, until {@link sealReserved}. */
  #reserved: Session | null = null;
  readonly #unwrapped = new UnwrapResult();
  #gen = 1;
  #wrappedPackets = 0;
  #wrappedBytes = 0;
  #unwrappedPackets = 0;
  #unwrappedBytes = 0;
  #switches = 0;
  readonly #drops = new ReasonCounter(RELAY_CLIENT_DROPS);
  readonly #refusals = new ReasonCounter(RELAY_GRANT_REFUSALS);

  /** A client with no relays. */
  constructor(opts: RelayClientOptions) {
    this.#now = opts.now;
    this.#selfKey = opts.selfKey;
    this.#idleMs = opts.idleMs ?? 120_000;
    this.#maxPerRelay = opts.maxSessionsPerRelay ?? 4096;
    this.#askWindowMs = opts.askWindowMs ?? 30_000;
    const maxPacket = opts.maxPacket ?? 65_535;
    if (!Number.isInteger(maxPacket) || maxPacket < RELAY_HEADER_SIZE + RELAY_MIN_INNER) {
      throw new RangeError(`relay client: maxPacket must be an integer of at least 48`);
    }
    this.#out = new Uint8Array(maxPacket);
    this.#marginMs = opts.switchMargin?.ms ?? 5;
    this.#marginRatio = opts.switchMargin?.ratio ?? 0.2;
  }

  /**
   * Adds relay `key` (base64) or updates its underlay endpoint (null: not known). Only relays
   * added here may grant sessions.
   */
  setRelay(key: string, endpoint: Endpoint | null): void {
    const r = this.#relays.get(key);
    if (r === undefined) {
      this.#relays.set(key, {
        key,
        endpoint,
        rtt: Infinity,
        failed: false,
        sessions: new Map(),
        asked: new Map(),
      });
    } else {
      r.endpoint = endpoint;
    }
    this.#gen++;
  }

  /** Forgets relay `key` and its sessions (it left, or stopped relaying). */
  removeRelay(key: string): void {
    const r = this.#relays.get(key);
    if (r === undefined) return;
    for (const s of [...r.sessions.values()]) this.#forget(s);
    this.#relays.delete(key);
    this.#endpoints.forget(key);
    this.#gen++;
  }

  /** A fresh RTT to relay `key`, in ms: it answers, so it is no longer failed. */
  setRtt(key: string, ms: number): void {
    const r = this.#relays.get(key);
    if (r === undefined || !(ms >= 0)) return;
    r.rtt = ms;
    r.failed = false;
    this.#gen++;
  }

  /**
   * Relay `key` stopped answering: its peers move to another relay with a session, if any.
   * A new RTT or a new grant from it clears this.
   */
  relayFailed(key: string): void {
    const r = this.#relays.get(key);
    if (r === undefined || r.failed) return;
    r.failed = true;
    this.#gen++;
  }

  /**
   * We ask relay `relayKey` for a session with `peerKey` (a member): a grant from that relay
   * naming that peer is taken only within the ask window after this. False when the relay is
   * not one the client knows.
   */
  asked(relayKey: string, peerKey: string): boolean {
    const r = this.#relays.get(relayKey);
    if (r === undefined) return false;
    // Re-inserted, so the map's order is the asks' order and the sweep stops at the first fresh one.
    r.asked.delete(peerKey);
    r.asked.set(peerKey, this.#now());
    return true;
  }

  /** Handles a notice from relay `relayKey` (as the tunnel it came through says). */
  onNotice(msg: RelayNotice, relayKey: string): RelayGrantRefusal | null {
    if (msg.t === "relay-session") return this.onSession(msg, relayKey);
    this.onClosed(msg, relayKey);
    return null;
  }

  /**
   * Takes a session granted by relay `relayKey`, replacing any earlier one with the same peer
   * through it. Returns null when taken, else why not (also counted).
   */
  onSession(msg: RelaySession, relayKey: string): RelayGrantRefusal | null {
    const relay = this.#relays.get(relayKey);
    if (relay === undefined) return this.#refuse("unknown-relay");
    if (msg.peer === this.#selfKey) return this.#refuse("self");
    // A relay grants what it was asked for: anything else (keys made up by a member that says it
    // relays) would be held for nothing, and hold memory.
    const askedAt = relay.asked.get(msg.peer);
    if (askedAt === undefined || this.#now() - askedAt > this.#askWindowMs) {
      return this.#refuse("not-asked");
    }
    const old = relay.sessions.get(msg.peer);
    if (old === undefined && relay.sessions.size >= this.#maxPerRelay) {
      return this.#refuse("too-many");
    }
    const holder = this.#byRecvId.get(msg.recv.id);
    if (holder !== undefined && holder !== old) return this.#refuse("id-collision");
    if (old !== undefined) this.#forget(old);
    const session: Session = {
      relay,
      peer: msg.peer,
      sendId: msg.send.id,
      sendMac: macKey(msg.send.key),
      sendHeadTag: msg.send.ht === true,
      recvId: msg.recv.id,
      recvMac: macKey(msg.recv.key),
      lastActive: this.#now(),
      virtual: this.#endpoints.get(relayKey, msg.peer),
    };
    relay.sessions.set(msg.peer, session);
    relay.failed = false;
    this.#byRecvId.set(session.recvId, session);
    let p = this.#peers.get(msg.peer);
    if (p === undefined) {
      p = { sessions: new Map(), chosen: null, gen: 0 };
      this.#peers.set(msg.peer, p);
    }
    p.sessions.set(relayKey, session);
    this.#gen++;
    return null;
  }

  /** Relay `relayKey` ended our session with `msg.peer`. */
  onClosed(msg: RelayClosed, relayKey: string): void {
    const s = this.#relays.get(relayKey)?.sessions.get(msg.peer);
    if (s !== undefined) this.#forget(s);
  }

  /**
   * Forgets every session with `peerKey` (we stop relaying to it) and returns the relays to
   * send `{t: "relay-close", to: peerKey}` to.
   */
  closePeer(peerKey: string): string[] {
    for (const r of this.#relays.values()) r.asked.delete(peerKey);
    this.#endpoints.forgetPeer(peerKey);
    const p = this.#peers.get(peerKey);
    if (p === undefined) return [];
    const relays = [...p.sessions.keys()];
    for (const s of [...p.sessions.values()]) this.#forget(s);
    return relays;
  }

  /** True when some relay granted a session with `peerKey`. */
  hasSession(peerKey: string): boolean {
    return (this.#peers.get(peerKey)?.sessions.size ?? 0) > 0;
  }

  /** The relay `wrap` would use for `peerKey` now, or null. */
  relayFor(peerKey: string): string | null {
    const p = this.#peers.get(peerKey);
    return p === undefined ? null : this.#choose(p)?.relay.key ?? null;
  }

  /**
   * Wraps `inner` (a WireGuard message) for `peerKey` through the chosen relay. Null when there
   * is no usable session or it does not fit (counted). The result is reused by the next call.
   */
  wrap(peerKey: string, inner: Uint8Array): Wrapped | null {
    const p = this.#peers.get(peerKey);
    const s = p === undefined ? null : this.#choose(p);
    if (s === null) {
      this.#drops.add("no-session");
      return null;
    }
    const total = RELAY_HEADER_SIZE + inner.length;
    if (total > this.#out.length) {
      this.#drops.add("too-large");
      return null;
    }
    sealRelay(s.sendId, s.sendMac, inner, this.#out, s.sendHeadTag);
    s.lastActive = this.#now();
    this.#wrappedPackets++;
    this.#wrappedBytes += total;
    const w = this.#wrapped;
    w.bytes = this.#outView(total);
    w.relayEndpoint = s.relay.endpoint!;
    w.relayKey = s.relay.key;
    return w;
  }

  /**
   * The relay endpoint a message of `innerLen` bytes for `peerKey` would go to now (the chosen
   * session's relay), for a caller that builds the message in place, 16 bytes into a buffer of
   * its own (a send slot of the underlay), and then calls {@link sealReserved}. Null when there
   * is no usable session or it would not fit: the caller then goes through {@link wrap}, which
   * counts the drop.
   */
  reserve(peerKey: string, innerLen: number): Endpoint | null {
    this.#reserved = null;
    if (RELAY_HEADER_SIZE + innerLen > this.#out.length) return null;
    const p = this.#peers.get(peerKey);
    const s = p === undefined ? null : this.#choose(p);
    if (s === null) return null;
    this.#reserved = s;
    return s.relay.endpoint;
  }

  /**
   * Writes the relay header and MAC of the session {@link reserve} picked into `buf`, whose
   * bytes from 16 on hold the inner message of `innerLen` bytes; returns the packet's length.
   * Throws when nothing is reserved (a caller's bug).
   */
  sealReserved(buf: Uint8Array, innerLen: number): number {
    const s = this.#reserved;
    this.#reserved = null;
    if (s === null) throw new Error("relay client: sealReserved without reserve");
    const total = sealRelayInPlace(s.sendId, s.sendMac, buf, innerLen, s.sendHeadTag);
    s.lastActive = this.#now();
    this.#wrappedPackets++;
    this.#wrappedBytes += total;
    return total;
  }

  /**
   * Unwraps a relay-to-member packet from the underlay (`from`, the relay's address, is not
   * trusted: the MAC is what counts). Returns the inner message with its peer and virtual
   * endpoint (a reused object, its `inner` a view into `data`), or why it was dropped. Either
   * MAC form is taken on any session, whatever its grant said: the key is the session's either
   * way, the relay decides which form it forwards, and a grant that moved a session to the
   * head-and-tag form may have reached the peer before us.
   */
  unwrap(data: Uint8Array, _from: Endpoint): Unwrapped | RelayClientDrop {
    if (
      data.length < RELAY_HEADER_SIZE + RELAY_MIN_INNER || !isFromRelay(data)
    ) {
      return this.#drop("malformed");
    }
    const s = this.#byRecvId.get(relayId(data));
    if (s === undefined) return this.#drop("unknown-session");
    if (!openRelay(data, s.recvMac)) return this.#drop("mac");
    s.lastActive = this.#now();
    this.#unwrappedPackets++;
    this.#unwrappedBytes += data.length;
    let inner = this.#innerViews.get(data);
    if (inner === undefined) {
      inner = data.subarray(RELAY_HEADER_SIZE);
      this.#innerViews.set(data, inner);
    }
    const u = this.#unwrapped;
    u.peerKey = s.peer;
    u.relayKey = s.relay.key;
    u.virtualEndpoint = s.virtual;
    u.inner = inner;
    return u;
  }

  /**
   * Forgets sessions with no packet either way for `idleMs` (the relay has ended them too) and
   * returns them as `{relay, peer}` so the caller can ask again if it still needs them.
   */
  sweep(now: number = this.#now()): { relay: string; peer: string }[] {
    for (const r of this.#relays.values()) {
      for (const [peer, at] of r.asked) {
        if (now - at <= this.#askWindowMs) break;
        r.asked.delete(peer);
      }
    }
    const gone: { relay: string; peer: string }[] = [];
    for (const s of [...this.#byRecvId.values()]) {
      if (now - s.lastActive < this.#idleMs) continue;
      this.#forget(s);
      gone.push({ relay: s.relay.key, peer: s.peer });
    }
    return gone;
  }

  /** The virtual endpoint of `peerKey` through `relayKey`. */
  endpoint(relayKey: string, peerKey: string): RelayEndpoint {
    return this.#endpoints.get(relayKey, peerKey);
  }

  /**
   * Parses `relay://<relay>/<peer>` text (short ids or whole URL-safe keys) among the relays
   * and the peers known here; throws when it names none or is ambiguous.
   */
  parseEndpoint(text: string): RelayEndpoint {
    return this.#endpoints.parse(text, this.#relays.keys(), this.#peers.keys());
  }

  /** Every relay with its state. */
  relays(): RelayInfo[] {
    return [...this.#relays.values()].map((r) => ({
      key: r.key,
      endpoint: r.endpoint === null ? null : r.endpoint.toString(),
      rttMs: Number.isFinite(r.rtt) ? r.rtt : null,
      failed: r.failed,
      peers: [...r.sessions.keys()],
    }));
  }

  /** The counters (a copy). */
  get stats(): RelayClientStats {
    return {
      sessions: this.#byRecvId.size,
      wrapped: { packets: this.#wrappedPackets, bytes: this.#wrappedBytes },
      unwrapped: { packets: this.#unwrappedPackets, bytes: this.#unwrappedBytes },
      switches: this.#switches,
      drops: this.#drops.snapshot(),
      refusals: this.#refusals.snapshot(),
    };
  }

  #drop(reason: RelayClientDrop): RelayClientDrop {
    this.#drops.add(reason);
    return reason;
  }

  #refuse(reason: RelayGrantRefusal): RelayGrantRefusal {
    this.#refusals.add(reason);
    return reason;
  }

  #outView(length: number): Uint8Array {
    let v = this.#outViews.get(length);
    if (v === undefined) {
      v = this.#out.subarray(0, length);
      this.#outViews.set(length, v);
    }
    return v;
  }

  #forget(s: Session): void {
    s.relay.sessions.delete(s.peer);
    if (this.#byRecvId.get(s.recvId) === s) this.#byRecvId.delete(s.recvId);
    const p = this.#peers.get(s.peer);
    if (p !== undefined) {
      // `chosen` may stay pointing at it: #choose checks it is still held, and counts the move.
      p.sessions.delete(s.relay.key);
      if (p.sessions.size === 0) this.#peers.delete(s.peer);
    }
    s.sendMac.destroy();
    s.recvMac.destroy();
    this.#gen++;
  }

  /**
   * The session to send to a peer on: the one chosen before, unless it is gone or unusable or
   * another is clearly faster; otherwise the lowest RTT among relays with an endpoint that have
   * not failed (or, when all have, among those that failed: trying beats dropping). Recomputed
   * only when something changed since the last choice.
   */
  #choose(p: PeerState): Session | null {
    if (p.gen === this.#gen) return p.chosen;
    let best: Session | null = null;
    let fallback: Session | null = null;
    for (const s of p.sessions.values()) {
      if (s.relay.endpoint === null) continue;
      if (s.relay.failed) {
        if (fallback === null || s.relay.rtt < fallback.relay.rtt) fallback = s;
      } else if (best === null || s.relay.rtt < best.relay.rtt) {
        best = s;
      }
    }
    best ??= fallback;
    const cur = p.chosen;
    if (
      cur !== null && best !== null && cur !== best && p.sessions.get(cur.relay.key) === cur &&
      cur.relay.endpoint !== null && !cur.relay.failed && !this.#clearlyBetter(best, cur)
    ) {
      best = cur;
    }
    if (cur !== null && best !== null && best !== cur) this.#switches++;
    p.chosen = best;
    p.gen = this.#gen;
    return best;
  }

  #clearlyBetter(s: Session, than: Session): boolean {
    const a = s.relay.rtt;
    const b = than.relay.rtt;
    if (!Number.isFinite(a)) return false;
    if (!Number.isFinite(b)) return true;
    return a < b - Math.max(this.#marginMs, b * this.#marginRatio);
  }
}

/** A MAC key from base64 (validated already by the message check), the raw bytes wiped. */
function macKey(text: string): RelayMacKey {
  const raw = parseKey(text, "relay session key");
  const k = new RelayMacKey(raw);
  raw.fill(0);
  return k;
}
