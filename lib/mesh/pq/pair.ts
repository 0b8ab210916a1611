/**
 * One pair of members' post-quantum preshared keys and the exchange that rotates them. The
 * member with the smaller public key initiates: it offers a fresh ML-KEM-768 encapsulation key,
 * the other answers with a ciphertext, both derive the rotation's key (kem.ts), the initiator
 * confirms.
 *
 * Each side holds two keys: `current`, which it answers handshakes with and tries first as
 * initiator, and `alternate`, tried second (WireGuard mixes the preshared key only into the
 * response, so the initiator can try both; device/peers.ts). The rule that keeps every
 * handshake working through a switch: each side's current key is one of the other's two.
 * - The responder, on an offer, makes the key the offer says the initiator uses (`have`) its
 *   current and the new one its alternate.
 * - The initiator, on the answer, makes the new key its current and the one it had its
 *   alternate, and confirms.
 * - The responder, on the confirmation, makes the new key its current, the other its alternate,
 *   and starts a handshake: from then on sessions are made with the new key.
 * A lost message leaves a state in which the rule holds; the initiator sends its offer again
 * (the same key: the answer is the same ciphertext) with backoff, then gives up until the next
 * rotation. Messages of an older rotation or another run (a restarted initiator) are counted
 * and dropped, never applied.
 * @module
 */

import { compare, derivePsk, kemDecapsulate, kemEncapsulate } from "./kem.ts";
import { type KemLease, ownKemLease } from "./shared_keys.ts";
import type { PqMessage } from "./wire.ts";
import { hash } from "../../crypto/blake2s.ts";
import { equalBytes } from "../../crypto/bytes.ts";

/** A preshared key with its rotation (0: the base key, none) and when it was made (ms). */
export interface KeySlot {
  /** 32 bytes. */
  key: Uint8Array;
  /** The rotation that made it; 0 for the base key (all zeros: no preshared key). */
  rotation: number;
  /** Monotonic ms it was made (the base key: when the pair began). */
  at: number;
}

/** Why an exchange message or a rotation failed (`weft_pq_failures_total{reason}`). */
export const PQ_FAILURE_REASONS = [
  "no-answer",
  "malformed",
  "not-member",
  "wrong-role",
  "stale",
  "unknown-key",
  "rate-limited",
  "kem-error",
  "handshake-failed",
  "peer-lost-keys",
] as const;

/** A reason of {@link PQ_FAILURE_REASONS}. */
export type PqFailure = typeof PQ_FAILURE_REASONS[number];

/** What a pair works with. */
export interface PairDeps {
  /** Our public key and the peer's (32 bytes each). */
  me: Uint8Array;
  /** The peer's public key. */
  peer: Uint8Array;
  /** Sends a message to the peer. */
  send(m: PqMessage): void;
  /** Installs the keys of the next handshakes (copied by the callee). */
  install(current: KeySlot, alternate: KeySlot | null): void;
  /** Starts a handshake now: sessions from here on use the new key. */
  rehandshake(): void;
  /** The rotation interval, ms. */
  rotateMs: number;
  /** A random u32 (the initiator's run); crypto.getRandomValues by default. */
  random?: () => number;
  /**
   * The key pair of an offer, released once it is answered or given up (default: one of its
   * own; a member's pairs share them: shared_keys.ts).
   */
  kemKeys?: () => KemLease;
}

/** Retries of an unanswered offer: after 1, 2, 4, 8, 16 s, then given up. */
export const OFFER_RETRY_MS = [1000, 2000, 4000, 8000, 16000];

interface Pending {
  rotation: number;
  lease: KemLease;
  tries: number;
  nextAt: number;
}

interface Answered {
  rotation: number;
  /** The offer's key, hashed: a duplicate offer is told from another. */
  ek: Uint8Array;
  /** The answer, until confirmed (then no offer of that rotation needs it again). */
  ct: Uint8Array | null;
}

const ZERO = new Uint8Array(32);

/** One pair's keys and exchange. See the module docs. */
export class PqPair {
  /** True when this side initiates the exchange (its public key is the smaller). */
  readonly initiator: boolean;
  /** Rotations completed on this side. */
  rotations = 0;
  /** Whether the last offer went unanswered (the peer runs without it, or is older). */
  unanswered = false;
  #current: KeySlot;
  #alternate: KeySlot | null = null;
  readonly #d: PairDeps;
  // The initiator's run and last rotation number, its offer in flight, its next rotation.
  readonly #sid: number;
  #rotation = 0;
  #pending: Pending | null = null;
  #nextAt = 0;
  // The responder's view of the initiator's run and the last offer it answered.
  #peerSid = -1;
  #answered: Answered | null = null;

  /** A pair with the base key only, at `now`. */
  constructor(deps: PairDeps, now: number) {
    this.#d = deps;
    this.initiator = compare(deps.me, deps.peer) < 0;
    this.#current = { key: ZERO, rotation: 0, at: now };
    this.#sid = deps.random?.() ?? crypto.getRandomValues(new Uint32Array(1))[0];
  }

  /** The key sessions are answered with now. */
  get current(): Readonly<KeySlot> {
    return this.#current;
  }

  /** The key tried second. */
  get alternate(): Readonly<KeySlot> | null {
    return this.#alternate;
  }

  /** Whether an offer waits for its answer. */
  get pending(): boolean {
    return this.#pending !== null;
  }

  /**
   * Time passes: the initiator, with a session to the peer (`up`), starts a rotation when one
   * is due, sends an unanswered offer again, or gives it up. Returns a failure to count.
   */
  tick(now: number, up: boolean): PqFailure | null {
    if (!this.initiator) return null;
    const p = this.#pending;
    if (p !== null) {
      if (now < p.nextAt) return null;
      if (p.tries >= OFFER_RETRY_MS.length) {
        this.#dropPending();
        this.unanswered = true;
        this.#nextAt = now + this.#d.rotateMs;
        return "no-answer";
      }
      p.nextAt = now + OFFER_RETRY_MS[p.tries++];
      this.#sendOffer(p);
      return null;
    }
    if (up && now >= this.#nextAt) this.#startRotation(now);
    return null;
  }

  /** A message from the peer (its sender checked); returns a failure to count, or null. */
  handle(m: PqMessage, now: number): PqFailure | null {
    if ((m.t === "answer") !== this.initiator) return "wrong-role";
    if (m.t === "answer") return this.#onAnswer(m, now);
    if (m.t === "offer") return this.#onOffer(m, now);
    return this.#onConfirm(m);
  }

  /**
   * Back to the base key (the peer restarted, or no handshake works with the keys held): it
   * answers handshakes from now, and the key held until now is the one tried second, in case
   * the other side still has it after all; a rotation starts at the next tick with a session.
   */
  reset(now: number): void {
    this.#dropPending();
    this.#wipe(this.#alternate);
    const held = this.#current.rotation !== 0 ? this.#current : null;
    this.#current = { key: ZERO, rotation: 0, at: now };
    this.#alternate = held;
    this.#answered = null;
    this.#peerSid = -1;
    this.#nextAt = 0;
    this.#d.install(this.#current, this.#alternate);
  }

  /** Wipes every key and the offer in flight (the pair is gone). */
  close(): void {
    this.#dropPending();
    this.#wipe(this.#alternate);
    if (this.#current.rotation !== 0) this.#wipe(this.#current);
  }

  #startRotation(now: number): void {
    this.#rotation = this.#rotation >= 0xffff_ffff ? 1 : this.#rotation + 1;
    const p: Pending = {
      rotation: this.#rotation,
      lease: this.#d.kemKeys?.() ?? ownKemLease(),
      tries: 0,
      nextAt: now + OFFER_RETRY_MS[0],
    };
    p.tries = 1;
    this.#pending = p;
    this.#sendOffer(p);
  }

  #sendOffer(p: Pending): void {
    this.#d.send({
      t: "offer",
      sid: this.#sid,
      rotation: p.rotation,
      have: this.#current.rotation,
      ek: p.lease.keys.ek,
    });
  }

  #onAnswer(m: Extract<PqMessage, { t: "answer" }>, now: number): PqFailure | null {
    if (m.sid !== this.#sid) return "stale";
    const p = this.#pending;
    if (p === null || m.rotation !== p.rotation) {
      // Our answer's confirmation was lost and the offer sent again: confirm again.
      if (m.rotation === this.#current.rotation && this.#current.rotation !== 0) {
        this.#d.send({ t: "confirm", sid: this.#sid, rotation: m.rotation });
        return null;
      }
      return "stale";
    }
    let ss: Uint8Array;
    try {
      ss = kemDecapsulate(m.ct, p.lease.keys.dk);
    } catch {
      return "kem-error";
    }
    const key = derivePsk(ss, {
      keys: [this.#d.me, this.#d.peer],
      sid: this.#sid,
      rotation: p.rotation,
      ek: p.lease.keys.ek,
      ct: m.ct,
    });
    ss.fill(0);
    this.#dropPending();
    this.#wipe(this.#alternate);
    this.#alternate = this.#current;
    this.#current = { key, rotation: m.rotation, at: now };
    this.#d.install(this.#current, this.#alternate);
    this.rotations++;
    this.unanswered = false;
    // Earlier than the interval, spread: a thousand pairs do not all rotate in one second.
    this.#nextAt = now + this.#d.rotateMs * (0.9 + 0.1 * Math.random());
    this.#d.send({ t: "confirm", sid: this.#sid, rotation: m.rotation });
    return null;
  }

  #onOffer(m: Extract<PqMessage, { t: "offer" }>, now: number): PqFailure | null {
    if (m.sid !== this.#peerSid) {
      // A new run of the initiator (its first offer, or it restarted): what it answered before
      // is of no use, and its rotations start again.
      this.#peerSid = m.sid;
      this.#answered = null;
    }
    const last = this.#answered;
    if (last !== null && m.rotation === last.rotation) {
      if (!equalBytes(hash(m.ek), last.ek)) return "stale";
      // The answer was lost: the same ciphertext again, nothing changes.
      if (last.ct) this.#d.send({ t: "answer", sid: m.sid, rotation: m.rotation, ct: last.ct });
      return null;
    }
    if (last !== null && m.rotation < last.rotation) return "stale";
    const have = this.#slot(m.have, now);
    if (have === null) return "unknown-key";
    let ct: Uint8Array;
    let ss: Uint8Array;
    try {
      ({ ct, ss } = kemEncapsulate(m.ek));
    } catch {
      return "kem-error";
    }
    const key = derivePsk(ss, {
      keys: [this.#d.me, this.#d.peer],
      sid: m.sid,
      rotation: m.rotation,
      ek: m.ek,
      ct,
    });
    ss.fill(0);
    const fresh: KeySlot = { key, rotation: m.rotation, at: now };
    for (const s of [this.#current, this.#alternate]) if (s !== null && s !== have) this.#wipe(s);
    this.#current = have;
    this.#alternate = fresh;
    this.#d.install(this.#current, this.#alternate);
    this.#answered = { rotation: m.rotation, ek: hash(m.ek), ct };
    this.#d.send({ t: "answer", sid: m.sid, rotation: m.rotation, ct });
    return null;
  }

  #onConfirm(m: Extract<PqMessage, { t: "confirm" }>): PqFailure | null {
    if (m.sid !== this.#peerSid) return "stale";
    if (m.rotation === this.#current.rotation) return null; // a duplicate
    const alt = this.#alternate;
    if (alt === null || alt.rotation !== m.rotation) return "stale";
    this.#alternate = this.#current;
    this.#current = alt;
    this.#d.install(this.#current, this.#alternate);
    if (this.#answered) this.#answered.ct = null;
    this.rotations++;
    this.#d.rehandshake();
    return null;
  }

  /** The key of rotation `r` this side holds: the base key for 0. */
  #slot(r: number, now: number): KeySlot | null {
    if (r === 0) {
      return this.#current.rotation === 0 ? this.#current : { key: ZERO, rotation: 0, at: now };
    }
    if (this.#current.rotation === r) return this.#current;
    if (this.#alternate?.rotation === r) return this.#alternate;
    return null;
  }

  #dropPending(): void {
    this.#pending?.lease.release();
    this.#pending = null;
  }

  #wipe(s: KeySlot | null): void {
    if (s !== null && s.key !== ZERO) s.key.fill(0);
  }
}
