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

/** Deadlines (monotonic ms, 0 when off) and the event hooks that move them. */
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

  constructor(
    private readonly t: ProtocolTimers,
    /** Persistent keepalive interval in ms, 0 when off. */
    public persistentKeepaliveMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  #jitter(): number {
    return Math.floor(this.random() * this.t.rekeyJitter);
  }

  /** We sent transport data (not a keepalive). */
  dataSent(now: number): void {
    if (this.newHandshake === 0) {
      this.newHandshake = now + this.t.keepaliveTimeout + this.t.rekeyTimeout + this.#jitter();
    }
  }

  /** We received transport data (not a keepalive). */
  dataReceived(now: number): void {
    if (this.sendKeepalive === 0) this.sendKeepalive = now + this.t.keepaliveTimeout;
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
    this.retransmitHandshake = now + this.t.rekeyTimeout + this.#jitter();
  }

  /** A handshake finished (response received, or first data on the responder's new session). */
  handshakeComplete(): void {
    this.retransmitHandshake = 0;
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
  }

  /** New session keys exist: wipe everything if no fresher ones follow in time. */
  sessionDerived(now: number): void {
    this.zeroKeyMaterial = now + this.t.rejectAfterTime * 3;
  }

  /** How many retransmissions before giving up. */
  get maxAttempts(): number {
    return Math.max(1, Math.floor(this.t.rekeyAttemptTime / this.t.rekeyTimeout));
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

  /** Turns every timer off (peer removed or device closing). */
  stopAll(): void {
    this.retransmitHandshake = 0;
    this.sendKeepalive = 0;
    this.newHandshake = 0;
    this.zeroKeyMaterial = 0;
    this.persistentKeepalive = 0;
  }
}
