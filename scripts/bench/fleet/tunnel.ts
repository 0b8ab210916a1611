/**
 * One simulated member's WireGuard session with the leader, without a Device: the initiator's
 * half of the Noise handshake (lib/protocol/noise.ts) with MACs and cookies, and transport data
 * carrying IPv4/UDP packets between the member's overlay address and the leader's control port.
 * The same class makes a member's session with another member (shared views: a joiner asks a
 * holder for pieces), the peer's key in the leader's place; either side may start it.
 * A session is a few small objects: ten thousand fit in one process.
 * @module
 */

import type { Aead, AeadKey, Dh } from "../../../lib/crypto/types.ts";
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  Handshake,
  type LocalIdentity,
} from "../../../lib/protocol/noise.ts";
import { CookieChecker, CookieGenerator } from "../../../lib/protocol/cookie.ts";
import {
  DEFAULT_TIMERS,
  INITIATION_SIZE,
  MSG_TRANSPORT,
  PADDING,
  RESPONSE_SIZE,
  TAG_SIZE,
  TRANSPORT_HEADER_SIZE,
} from "../../../lib/protocol/constants.ts";
import { readCounter, readU32, writeCounter, writeU32 } from "../../../lib/protocol/bytes.ts";
import { newIpInfo, parseAddress } from "../../../lib/net/ip.ts";
import { parseIp } from "../../../lib/net/packet.ts";
import { newUdpInfo, parseUdp, writeUdpPacket } from "../../../lib/net/udp.ts";
import { CONTROL_PORT } from "../../../lib/members/ports.ts";

// Scratch buffers: every packet is built and opened in one of these, synchronously.
const plain = new Uint8Array(65_536);
const sealed = new Uint8Array(65_536 + TRANSPORT_HEADER_SIZE + TAG_SIZE);
const ipInfo = newIpInfo();
const udpInfo = newUdpInfo();
const ZERO_PSK = new Uint8Array(32);
const MAX_PENDING = 4;

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A handshake with the leader whose DH(our static, the leader's static) is the tunnel's, made
 * once: a node keeps it per peer too, where the simulator makes a handshake per initiation.
 */
class LeaderHandshake extends Handshake {
  readonly #ss: Uint8Array;

  constructor(leaderKey: Uint8Array, local: LocalIdentity, ss: Uint8Array) {
    super(leaderKey, ZERO_PSK, local);
    this.#ss = ss;
  }

  override get staticStatic(): Uint8Array {
    return this.#ss;
  }
}

/** A member's tunnel to the leader: handshake state and the current session's keys. */
export class Tunnel {
  readonly local: LocalIdentity;
  readonly #leaderKey: Uint8Array;
  readonly #staticStatic: Uint8Array;
  // The initiations in flight, newest last. A member resends after 5 s, as a device; the
  // simulator, one process for thousands, may read an answer seconds after it came, and resend
  // meanwhile where a node would have taken it. The leader then answers both and keeps the session
  // of the last it answered (its next): the member takes each answer that comes, the older one
  // first, and then the newer one, and so ends on the session the leader kept. (It kept the first
  // answer and dropped the rest: it sent on a session the leader had dropped, `unknown-index`
  // there, went unheard, and the leader started a handshake of its own 15 s later.)
  #pending: Handshake[] = [];
  // The leader's own initiations (it starts one when our session is old): their replay guard.
  readonly #answering: Handshake;
  // A session we answered: used once the leader's first packet on it arrives, as WireGuard.
  #next: { send: AeadKey; recv: AeadKey; remoteIndex: number; localIndex: number } | null = null;
  readonly #cookies: CookieGenerator;
  #send: AeadKey | null = null;
  #recv: AeadKey | null = null;
  // The session before a rekey: the leader sends on it until our first packet on the new one.
  #prevRecv: AeadKey | null = null;
  #prevIndex = 0;
  #remoteIndex = 0;
  #counter = 0;
  /** Our index of the session in use (the leader's transport data names it). */
  sessionIndex = 0;
  /** performance.now() when the session in use was made (0: none). */
  sessionAt = 0;
  /** performance.now() of the last initiation sent. */
  initiatedAt = 0;
  #src: Uint8Array = new Uint8Array(4);
  #dst: Uint8Array = new Uint8Array(4);

  constructor(
    privateKey: Uint8Array,
    publicKey: Uint8Array,
    leaderKey: Uint8Array,
    dh: Dh,
    aead: Aead,
  ) {
    this.local = { privateKey, publicKey, dh, aead };
    this.#leaderKey = leaderKey;
    this.#staticStatic = dh.shared(privateKey, leaderKey);
    this.#answering = new LeaderHandshake(leaderKey, this.local, this.#staticStatic);
    this.#cookies = new CookieGenerator(leaderKey, DEFAULT_TIMERS.cookieRefreshTime);
  }

  /** Sets the overlay addresses of the packets: ours and the leader's. */
  address(own: string, leader: string): void {
    this.#src = parseAddress(own)!;
    this.#dst = parseAddress(leader)!;
  }

  /** Whether a session is up. */
  get up(): boolean {
    return this.#send !== null;
  }

  /**
   * A handshake initiation (148 bytes, MACs set) with our index `index`; `resend`: of the same
   * attempt (the ones before it stay in flight), otherwise a new one (they are dropped).
   */
  initiation(index: number, resend = false): Uint8Array {
    const msg = new Uint8Array(INITIATION_SIZE);
    const hs = new LeaderHandshake(this.#leaderKey, this.local, this.#staticStatic);
    createInitiation(this.local, hs, index, Date.now(), msg);
    if (!resend) this.#dropPending(this.#pending.length);
    this.#pending.push(hs);
    if (this.#pending.length > MAX_PENDING) this.#dropPending(1);
    this.#cookies.addMacs(msg, performance.now());
    this.initiatedAt = performance.now();
    return msg;
  }

  #dropPending(n: number): void {
    for (const h of this.#pending.splice(0, n)) h.clear();
  }

  /** Takes a cookie reply to our last initiation; true when it opened. */
  cookie(reply: Uint8Array): boolean {
    return this.#cookies.consumeReply(reply, performance.now());
  }

  /** Our indexes of the initiations in flight. */
  get pendingIndexes(): number[] {
    return this.#pending.map((h) => h.localIndex);
  }

  /**
   * Takes the leader's response to an initiation in flight; true when it made the session in
   * use (the old one is dropped). The initiations before it are answered no more; the newer ones
   * stay in flight: the leader may answer them too, and keeps the last session it answered.
   */
  response(msg: Uint8Array): boolean {
    const receiver = readU32(msg, 8);
    const k = this.#pending.findIndex((h) => h.localIndex === receiver);
    const keys = k < 0 ? null : consumeResponse(this.local, this.#pending[k], msg);
    if (!keys) return false;
    this.#dropPending(k + 1);
    this.#send?.destroy();
    this.#prevRecv?.destroy();
    this.#prevRecv = this.#recv;
    this.#prevIndex = this.sessionIndex;
    this.#send = this.local.aead.key(keys.send);
    this.#recv = this.local.aead.key(keys.receive);
    this.#remoteIndex = keys.remoteIndex;
    this.#counter = 0;
    this.sessionIndex = keys.localIndex;
    this.sessionAt = performance.now();
    return true;
  }

  // Checks the MAC1 of handshakes to this member: keyed by its public key, a hash, not a DH.
  #mac1: CookieChecker | null = null;

  /**
   * Whether a handshake initiation is to this member (its MAC1 is keyed by our public key): the
   * leader's rekeys come to a socket many members share, and a DH for each of them to find the
   * one it is for starved the simulator once runs outlasted the sessions (a loaded machine).
   */
  isFor(msg: Uint8Array): boolean {
    this.#mac1 ??= new CookieChecker(this.local.publicKey, 120_000);
    return this.#mac1.checkMac1(msg);
  }

  /**
   * Answers the leader's handshake initiation if it is to this member (one DH to find out):
   * the response (92 bytes, MACs set) with our index `index`, or null.
   */
  answer(msg: Uint8Array, index: number): Uint8Array | null {
    return this.answerAny(msg, index)?.response ?? null;
  }

  /**
   * Answers a handshake initiation to this member's key from the leader, or from another member
   * whose tunnel `other` gives for its key (undefined: not answered, as WireGuard answers only
   * peers it holds): the tunnel that took the session, and the response with our index `index`.
   */
  answerAny(
    msg: Uint8Array,
    index: number,
    other?: (key: Uint8Array) => Tunnel | undefined,
  ): { tunnel: Tunnel; response: Uint8Array } | null {
    const consumed = consumeInitiation<Tunnel>(
      this.local,
      msg,
      (key) => {
        const t = equal(key, this.#leaderKey) ? this : other?.(key);
        return t ? { peer: t, handshake: t.#answering } : undefined;
      },
      performance.now(),
      0,
    );
    if (!consumed) return null;
    const t = consumed.peer;
    const out = new Uint8Array(RESPONSE_SIZE);
    const keys = createResponse(t.local, consumed, index, out);
    if (!keys) return null;
    t.#cookies.addMacs(out, performance.now());
    t.#next?.send.destroy();
    t.#next?.recv.destroy();
    t.#next = {
      send: t.local.aead.key(keys.send),
      recv: t.local.aead.key(keys.receive),
      remoteIndex: keys.remoteIndex,
      localIndex: index,
    };
    return { tunnel: t, response: out };
  }

  /** Our index of the answered session not in use yet (0: none). */
  get nextIndex(): number {
    return this.#next?.localIndex ?? 0;
  }

  /** A keepalive: transport data with nothing in it (as a device confirms a session with). */
  keepalive(): Uint8Array {
    if (!this.#send) throw new Error("no session");
    writeU32(sealed, 0, MSG_TRANSPORT);
    writeU32(sealed, 4, this.#remoteIndex);
    const counter = this.#counter++;
    writeCounter(sealed, 8, counter);
    const end = TRANSPORT_HEADER_SIZE + TAG_SIZE;
    this.#send.seal(counter, plain.subarray(0, 0), sealed.subarray(TRANSPORT_HEADER_SIZE, end));
    return sealed.subarray(0, end);
  }

  /** Transport data carrying `payload` as UDP from our control port to the peer's `port`. */
  seal(payload: Uint8Array, port: number = CONTROL_PORT): Uint8Array {
    if (!this.#send) throw new Error("no session");
    const n = writeUdpPacket(plain, this.#src, this.#dst, CONTROL_PORT, port, payload);
    const padded = Math.ceil(n / PADDING) * PADDING;
    plain.fill(0, n, padded);
    writeU32(sealed, 0, MSG_TRANSPORT);
    writeU32(sealed, 4, this.#remoteIndex);
    const counter = this.#counter++;
    writeCounter(sealed, 8, counter);
    const end = TRANSPORT_HEADER_SIZE + padded + TAG_SIZE;
    this.#send.seal(
      counter,
      plain.subarray(0, padded),
      sealed.subarray(TRANSPORT_HEADER_SIZE, end),
    );
    return sealed.subarray(0, end);
  }

  /**
   * Why the last `open` gave null: `other-port`, authentic data for a weft port the simulated
   * members do not serve (the leader's post-quantum offers, its service layer's messages), or
   * `unopened` (no key for its index, or it did not authenticate).
   */
  refused: "other-port" | "unopened" = "unopened";

  /**
   * Opens transport data for this session: the UDP payload to our control port (valid until
   * the next call), an empty array for a keepalive, null for anything else (`refused` says why).
   */
  open(msg: Uint8Array): Uint8Array | null {
    this.refused = "unopened";
    if (msg.length < TRANSPORT_HEADER_SIZE + TAG_SIZE) return null;
    const index = readU32(msg, 4);
    if (this.#next && index === this.#next.localIndex) {
      const nx = this.#next;
      const n = msg.length - TRANSPORT_HEADER_SIZE - TAG_SIZE;
      if (
        !nx.recv.open(
          readCounter(msg, 8),
          msg.subarray(TRANSPORT_HEADER_SIZE),
          plain.subarray(0, n),
        )
      ) {
        return null;
      }
      // The leader uses the session we answered: it is ours from now on.
      this.#next = null;
      this.#send?.destroy();
      this.#prevRecv?.destroy();
      this.#prevRecv = this.#recv;
      this.#prevIndex = this.sessionIndex;
      this.#send = nx.send;
      this.#recv = nx.recv;
      this.#remoteIndex = nx.remoteIndex;
      this.#counter = 0;
      this.sessionIndex = nx.localIndex;
      this.sessionAt = performance.now();
      return this.#payload(plain.subarray(0, n));
    }
    const key = index === this.sessionIndex
      ? this.#recv
      : index === this.#prevIndex
      ? this.#prevRecv
      : null;
    if (!key) return null;
    const n = msg.length - TRANSPORT_HEADER_SIZE - TAG_SIZE;
    const out = plain.subarray(0, n);
    if (!key.open(readCounter(msg, 8), msg.subarray(TRANSPORT_HEADER_SIZE), out)) {
      return null;
    }
    return this.#payload(out);
  }

  #payload(out: Uint8Array): Uint8Array | null {
    if (out.length === 0) return out;
    const ip = parseIp(out, ipInfo);
    if (!ip || ip.version !== 4) return null;
    const udp = parseUdp(out, ip, udpInfo);
    if (!udp) return null;
    if (udp.dstPort !== CONTROL_PORT) {
      this.refused = "other-port";
      return null;
    }
    return out.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength);
  }

  /** Wipes the session keys (and the initiation in flight). */
  close(): void {
    this.#dropPending(this.#pending.length);
    this.#send?.destroy();
    this.#recv?.destroy();
    this.#prevRecv?.destroy();
    this.#next?.send.destroy();
    this.#next?.recv.destroy();
    this.#send =
      this.#recv =
      this.#prevRecv =
      this.#next =
        null;
  }
}
