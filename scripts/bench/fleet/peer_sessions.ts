/**
 * The simulated members' WireGuard sessions with each other (shared views: a joiner asks the
 * holders the leader named for pieces, and they answer over sessions of their own): made when
 * first used by either side, a few payloads queued while the handshake runs, the least used
 * dropped when a member has too many, idle ones dropped. Each session is a real one
 * (./tunnel.ts): its own handshake, its own keys, every datagram sealed and opened.
 * @module
 */

import type { Aead, Dh } from "../../../lib/crypto/types.ts";
import type { Endpoint } from "../../../lib/io/driver.ts";
import type { Member as MemberRecord } from "../../../lib/members/member.ts";
import { DEFAULT_TIMERS } from "../../../lib/protocol/constants.ts";
import { readU32 } from "../../../lib/protocol/bytes.ts";
import type { Member, Peer } from "./member.ts";
import { Tunnel } from "./tunnel.ts";

/** Sessions a member keeps with other members at most (the least used goes first). */
export const PEER_SESSIONS = 8;
/** A session with another member unused this long is dropped, ms. */
export const PEER_IDLE_MS = 30_000;
/**
 * A session with another member not made within this is initiated again when used, ms: as a
 * device resends an initiation (5 s). Each is a new attempt (./tunnel.ts): the tunnel takes the
 * answer to the newest only, so sooner, the first's answer would come after the second went, and
 * be dropped.
 */
const PEER_RESEND_MS = DEFAULT_TIMERS.rekeyTimeout;
/** Payloads waiting for a session with another member, at most. */
const PEER_QUEUE = 8;
/** Indexes kept per session: its initiations in flight and the sessions in use. */
const PEER_INDEXES = 6;

/** What the sessions work with. */
export interface PeerSessionsDeps {
  dh: Dh;
  aead: Aead;
  /** The member with this public key (base64), if any. */
  byKey(key: string): Member | undefined;
  /** Where `m`'s socket sends to reach `other` (its socket in the pool). */
  endpointOf(m: Member, other: Member): Endpoint;
  /** Sends a datagram from `m`'s socket. */
  sendTo(m: Member, to: Endpoint, data: Uint8Array): void;
  /** A new local index (unique among the leader's sessions and these). */
  nextIndex(): number;
  /** The opened payload of data from the member at overlay address `from` to `m`. */
  receive(m: Member, from: string, payload: Uint8Array): void;
  /** Counts a drop by kind. */
  count(kind: string): void;
}

/** Sessions between members: made (either side), dropped for room or idle. */
export interface PeerCounts {
  initiated: number;
  answered: number;
  evicted: number;
  idled: number;
}

/** The sessions between simulated members. See the module docs. */
export class PeerSessions {
  readonly #d: PeerSessionsDeps;
  // Sessions by our index (what a response or transport data names).
  readonly #byIndex = new Map<number, { m: Member; p: Peer }>();
  /** What was made and dropped. */
  readonly counts: PeerCounts = { initiated: 0, answered: 0, evicted: 0, idled: 0 };

  constructor(deps: PeerSessionsDeps) {
    this.#d = deps;
  }

  /**
   * Sends `payload` from `m` to the member at overlay `address` over their session; without one,
   * it waits for the session, which `peer` (the other's record: key, endpoint) starts.
   */
  send(m: Member, address: string, payload: Uint8Array, peer?: MemberRecord): void {
    if (m.state !== "up") return;
    let p = m.peers?.get(address);
    if (!p) {
      const other = peer ? this.#d.byKey(peer.publicKey) : undefined;
      if (!peer || !other) return this.#d.count("peer-unknown");
      p = this.#newPeer(m, other);
    }
    p.usedAt = performance.now();
    if (p.tunnel.up) return this.#d.sendTo(m, p.endpoint, p.tunnel.seal(payload));
    if (p.queue.length < PEER_QUEUE) p.queue.push(payload.slice());
    else this.#d.count("peer-queue-full");
    // Initiated at once if never (initiatedAt 0: a process younger than the resend time
    // otherwise waited for it), and again once an initiation went unanswered that long.
    const at = p.tunnel.initiatedAt;
    if (at === 0 || performance.now() - at >= PEER_RESEND_MS) this.#initiate(m, p);
  }

  /**
   * The tunnel that answers an initiation to `m` from the member of public key `key`, as
   * WireGuard answers a peer it holds: one up, in `m`'s view (every member up is), not `m`.
   * Undefined: not a member's. Call {@link answered} once the response is made.
   */
  tunnelFor(m: Member, key: string): { tunnel: Tunnel; peer: Peer } | undefined {
    if (m.state !== "up") return undefined;
    const other = this.#d.byKey(key);
    if (!other || other.state !== "up" || other === m) return undefined;
    const p = m.peers?.get(other.address) ?? this.#newPeer(m, other);
    return { tunnel: p.tunnel, peer: p };
  }

  /** `m` answered `p`'s initiation with our index `index`: the response goes. */
  answered(m: Member, p: Peer, index: number, response: Uint8Array): void {
    this.#keepIndex(m, p, index);
    p.usedAt = performance.now();
    this.counts.answered++;
    this.#d.sendTo(m, p.endpoint, response);
  }

  /**
   * A handshake response or transport data whose receiver index is a session's (true: taken;
   * false: not a session between members).
   */
  onDatagram(type: "response" | "transport", data: Uint8Array): boolean {
    const s = this.#byIndex.get(readU32(data, type === "response" ? 8 : 4));
    if (!s) return false;
    const { m, p } = s;
    if (type === "response") {
      if (!p.tunnel.response(data)) this.#d.count("peer-response-unopened");
      else this.#up(m, p);
      return true;
    }
    const payload = p.tunnel.open(data);
    if (payload === null) {
      this.#d.count("peer-transport-unopened");
      return true;
    }
    p.usedAt = performance.now();
    if (payload.length > 0 && m.state === "up") this.#d.receive(m, p.address, payload);
    return true;
  }

  /** Drops `m`'s sessions unused for {@link PEER_IDLE_MS} (`t`: performance.now()). */
  idle(m: Member, t: number): void {
    if (!m.peers) return;
    for (const p of [...m.peers.values()]) {
      if (t - p.usedAt < PEER_IDLE_MS) continue;
      this.#drop(m, p);
      this.counts.idled++;
    }
  }

  /** Drops every session of `m` (it left). */
  dropAll(m: Member): void {
    for (const p of [...(m.peers?.values() ?? [])]) this.#drop(m, p);
  }

  /**
   * A session of `m` with member `other` (none made yet): its tunnel, and its endpoint, the
   * socket the simulator put it on (a node dials the record's endpoints: for a simulated member
   * the leader saw that socket, but a member moved lately may show an older one). The least used
   * of `m`'s sessions goes when it has too many.
   */
  #newPeer(m: Member, other: Member): Peer {
    const peers = m.peers ??= new Map();
    if (peers.size >= PEER_SESSIONS) {
      let oldest: Peer | null = null;
      for (const q of peers.values()) if (!oldest || q.usedAt < oldest.usedAt) oldest = q;
      this.#drop(m, oldest!);
      this.counts.evicted++;
    }
    const tunnel = new Tunnel(
      m.priv,
      m.tunnel.local.publicKey,
      other.tunnel.local.publicKey,
      this.#d.dh,
      this.#d.aead,
    );
    tunnel.address(m.address, other.address);
    const p: Peer = {
      tunnel,
      address: other.address,
      endpoint: this.#d.endpointOf(m, other),
      queue: [],
      indexes: [],
      usedAt: performance.now(),
    };
    peers.set(other.address, p);
    return p;
  }

  #drop(m: Member, p: Peer): void {
    for (const i of p.indexes) this.#byIndex.delete(i);
    p.tunnel.close();
    m.peers?.delete(p.address);
  }

  #keepIndex(m: Member, p: Peer, index: number): void {
    this.#byIndex.set(index, { m, p });
    p.indexes.push(index);
    // Indexes past the initiations in flight and the session in use are answered no more.
    while (p.indexes.length > PEER_INDEXES) this.#byIndex.delete(p.indexes.shift()!);
  }

  #initiate(m: Member, p: Peer): void {
    this.counts.initiated++;
    const index = this.#d.nextIndex();
    this.#keepIndex(m, p, index);
    this.#d.sendTo(m, p.endpoint, p.tunnel.initiation(index));
  }

  /** A session with another member came up: what waited goes (or a keepalive confirms it). */
  #up(m: Member, p: Peer): void {
    if (p.queue.length === 0) return this.#d.sendTo(m, p.endpoint, p.tunnel.keepalive());
    for (const payload of p.queue.splice(0)) {
      this.#d.sendTo(m, p.endpoint, p.tunnel.seal(payload));
    }
  }
}
