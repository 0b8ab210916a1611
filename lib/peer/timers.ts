/**
 * A peer's protocol timers as deadlines (the wireguard-go timer set: retransmit handshake, send
 * keepalive, new handshake, zero key material, persistent keepalive). Per-packet events only
 * write numbers; the device's periodic tick fires what is due. That keeps timer churn off the
 * hot path.
 * @module
 */

import type { ProtocolTimers } from "../protocol/constants.ts";

/** Which timer fired. */
export type TimerKind =
  | "retransmit-handshake"
  | "send-keepalive"
  | "new-handshake"
  | "zero-key-material"
  | "persistent-keepalive";

/**
 * The state of the jitter generator (xorshift32) when no random source is injected. Jitter
 * spreads handshakes over time; it needs no cryptographic quality, and Math.random would cost a
 * heap number per draw, on a path taken for every packet sent after one received. Kept in a typed
 * array so the state is never boxed either.
 */
const jitterState = crypto.getRandomValues(new Uint32Array(1));
if (jitterState[0] === 0) jitterState[0] = 0x9e3779b9;

/**
 * Deadlines (monotonic ms, 0 when off) and the event hooks that move them.
 *
 * No constructor parameter properties here: with them, every field is first defined as
 * `undefined`, so V8 keeps the deadlines as tagged fields and each time stored in one (on the
 * packet path) costs a new heap number.
 */
export class PeerTimers {
  /** Retransmit the initiation if no response came. */
  retransmitHandshake = 0;
  /** Send a keepalive since we received data and sent nothing back. */
  sendKeepalive = 0;
  /** Start a handshake since we sent data and heard nothing back. */
  newHandshake = 0;
  /** Wipe all keys of a peer that went quiet. */
  zeroKeyMaterial = 0;
  /** Send a keepalive on the persistent-keepalive interval. */
  persistentKeepalive = 0;
  /** Initiations sent for the current handshake attempt. */
  handshakeAttempts = 0;
  /** Whether the receive-side "last minute" rekey was already asked for this session. */
  sentLastMinuteHandshake = false;
  /** Persistent keepalive interval in ms, 0 when off. */
  persistentKeepaliveMs = 0;
  readonly #t: ProtocolTimers;
  readonly #random: (() => number) | null;

  /**
   * Timers for `t`, with a persistent keepalive every `persistentKeepaliveMs` (0: off); `random`
   * gives numbers in [0, 1) for the jitter (by default a fast generator of its own).
   */
  constructor(t: ProtocolTimers, persistentKeepaliveMs: number, random?: () => number) {
    this.#t = t;
    this.persistentKeepaliveMs = persistentKeepaliveMs;
    this.#random = random ?? null;
  }

  /** Milliseconds in [0, rekeyJitter). */
  #jitter(): number {
    const span = this.#t.rekeyJitter;
    if (this.#random !== null) return Math.floor(this.#random() * span);
    let x = jitterState[0];
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    jitterState[0] = x;
    return span > 0 ? jitterState[0] % span : 0;
  }

  /** We sent transport data (not a keepalive). */
  dataSent(now: number): void {
    if (this.newHandshake === 0) {
      this.newHandshake = now + this.#t.keepaliveTimeout + this.#t.rekeyTimeout + this.#jitter();
    }
  }

  /** We received transport data (not a keepalive). */
  dataReceived(now: number): void {
    if (this.sendKeepalive === 0) this.sendKeepalive = now + this.#t.keepaliveTimeout;
  }

  /** We sent any authenticated packet: it carries our liveness, no keepalive needed. */
  anyAuthenticatedPacketSent(): void {
    this.sendKeepalive = 0;
  }

  /** We received any authenticated packet: the peer is alive, no new handshake needed. */
  anyAuthenticatedPacketReceived(): void {
    this.newHandshake = 0;
  }

  /** Any authenticated packet went either way: restart the persistent keepalive interval. */
  anyAuthenticatedPacketTraversal(now: number): void {
    if (this.persistentKeepaliveMs > 0) this.persistentKeepalive = now + this.persistentKeepaliveMs;
  }

  /** We sent an initiation. */
  handshakeInitiated(now: number): void {
    this.retransmitHandshake = now + this.#t.rekeyTimeout + this.#jitter();
  }

  /** A handshake finished (response received, or first data on the responder's new session). */
  handshakeComplete(): void {
    this.retransmitHandshake = 0;
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
  }

  /** New session keys exist: wipe everything if no fresher ones follow in time. */
  sessionDerived(now: number): void {
    this.zeroKeyMaterial = now + this.#t.rejectAfterTime * 3;
  }

  /** How many retransmissions before giving up. */
  get maxAttempts(): number {
    return Math.max(1, Math.floor(this.#t.rekeyAttemptTime / this.#t.rekeyTimeout));
  }

  /** Returns the first due timer (and turns it off), or null. Call repeatedly until null. */
  due(now: number): TimerKind | null {
    if (this.retransmitHandshake && now >= this.retransmitHandshake) {
      this.retransmitHandshake = 0;
      return "retransmit-handshake";
    }
    if (this.sendKeepalive && now >= this.sendKeepalive) {
      this.sendKeepalive = 0;
      return "send-keepalive";
    }
    if (this.newHandshake && now >= this.newHandshake) {
      this.newHandshake = 0;
      return "new-handshake";
    }
    if (this.zeroKeyMaterial && now >= this.zeroKeyMaterial) {
      this.zeroKeyMaterial = 0;
      return "zero-key-material";
    }
    if (this.persistentKeepalive && now >= this.persistentKeepalive) {
      this.persistentKeepalive = 0;
      return "persistent-keepalive";
    }
    return null;
  }

  /** True when every timer is off: nothing will fire until an event arms one. */
  get idle(): boolean {
    return this.retransmitHandshake === 0 && this.sendKeepalive === 0 && this.newHandshake === 0 &&
      this.zeroKeyMaterial === 0 && this.persistentKeepalive === 0;
  }

  /** Turns every timer off (peer removed or device closing). */
  stopAll(): void {
    this.retransmitHandshake = 0;
    this.sendKeepalive = 0;
    this.newHandshake = 0;
    this.zeroKeyMaterial = 0;
    this.persistentKeepalive = 0;
  }
}
