/**
 * A member's side of carried pushes (./carried.ts): it keeps the push keys its leaders gave it,
 * checks each carried part against them (signature, a delta and nothing else, the policy version
 * it holds), and passes parts on to the members a leader's `carry` message names. What it takes is handed
 * on as the signing leader's own word.
 * @module
 */

import type { ControlMessage } from "./protocol.ts";
import { parseMessage } from "./protocol.ts";
import {
  type CarriedPart,
  CARRY_PARTS_MAX,
  type PushKey,
  pushKeyOf,
  verifyCarried,
} from "./carried.ts";
import { RateLimiter } from "../../protocol/ratelimiter.ts";
import { equalBytes } from "../../crypto/bytes.ts";

/** A delta message. */
export type DeltaMessage = Extract<ControlMessage, { t: "delta" }>;

/** What a {@link Carrier} works with. */
export interface CarrierDeps {
  /** Sends a carried part (its bytes as they came) to a member's overlay address. */
  send(address: string, c: CarriedPart): void;
  /** Monotonic ms, for the senders' rate (default `performance.now`). */
  now?: () => number;
  /** The version of the policy the node holds (0: none). */
  policyVersion(): number;
}

/** What a carrier counted, for `/metrics`. */
export interface CarrierCounts {
  /** Carried parts taken (checked). */
  taken: number;
  /** Parts passed on (one per member told). */
  passed: number;
  /** Carried parts dropped: no key known by their id. */
  unknownKey: number;
  /** Dropped: made under another policy version than the one held. */
  otherPolicy: number;
  /** Dropped: the signature does not hold. */
  forged: number;
  /** Dropped: no delta inside. */
  notDelta: number;
  /** Dropped unchecked: a member (not a leader) sent more than {@link CARRIED_PER_SECOND}. */
  rate: number;
}

/**
 * Carried parts a second taken from one member (not a leader), and at once: a carrier passes a
 * push's parts (at most {@link CARRY_PARTS_MAX}) a few times a second at most; past that a member
 * could only be making this node check signatures (some 50 µs each) for nothing.
 */
export const CARRIED_PER_SECOND = 64;
const CARRIED_BURST = 4 * CARRY_PARTS_MAX;

// Leaders a node keeps push keys of, at most (a fleet has a few).
const KEYS_MAX = 16;
// Carry lists kept at once: a push's, and the next's while it overlaps.
const CARRIES_MAX = 4;
// Signatures that held, remembered: a part carried twice (a retry, a replay) is checked once.
const VERIFIED_MAX = 256;

interface Carry {
  to: string[];
  left: number;
}

/** A member's carried pushes. See the module docs. */
export class Carrier {
  readonly #deps: CarrierDeps;
  // By leader address, and by key id.
  readonly #byLeader = new Map<string, PushKey>();
  readonly #byId = new Map<string, { leader: string; key: PushKey }>();
  // By "f|v", in order of arrival; only from the leader that signs the parts.
  readonly #carries = new Map<string, Carry>();
  // Datagrams whose signature held, by signature: a hit counts only with the same bytes.
  readonly #verified = new Map<string, Uint8Array>();
  readonly #counts: CarrierCounts = {
    taken: 0,
    passed: 0,
    unknownKey: 0,
    otherPolicy: 0,
    forged: 0,
    notDelta: 0,
    rate: 0,
  };
  readonly #senders: RateLimiter;

  /** A carrier over `deps`. */
  constructor(deps: CarrierDeps) {
    this.#deps = deps;
    this.#senders = new RateLimiter({
      perSecond: CARRIED_PER_SECOND,
      burst: CARRIED_BURST,
      maxEntries: 4096,
      ...(deps.now ? { now: deps.now } : {}),
    });
  }

  /** The id of the push key held of the leader at `address` ("" when none), for hellos. */
  keyIdOf(address: string): string {
    return this.#byLeader.get(address)?.id ?? "";
  }

  /** The push key the leader at `address` gave (a `pushkey` message from it, checked by the caller). */
  key(address: string, text: string): void {
    const key = pushKeyOf(text);
    if (!key) return;
    const old = this.#byLeader.get(address);
    if (old) this.#byId.delete(old.id);
    this.#byLeader.delete(address);
    if (this.#byLeader.size >= KEYS_MAX) {
      const [first, k] = this.#byLeader.entries().next().value!;
      this.#byLeader.delete(first);
      this.#byId.delete(k.id);
    }
    this.#byLeader.set(address, key);
    this.#byId.set(key.id, { leader: address, key });
  }

  /** Forgets the keys of the addresses `isLeader` no longer says are leaders. */
  keep(isLeader: (address: string) => boolean): void {
    for (const [address, key] of this.#byLeader) {
      if (isLeader(address)) continue;
      this.#byLeader.delete(address);
      this.#byId.delete(key.id);
    }
  }

  /** The leader at `from` asks this node to pass a push's parts on (the caller checked it is a leader). */
  carry(msg: Extract<ControlMessage, { t: "carry" }>, from: string): void {
    if (!this.#byLeader.has(from) || msg.to.length === 0 || msg.n === 0) return;
    const id = `${msg.f}|${msg.v}`;
    this.#carries.delete(id);
    if (this.#carries.size >= CARRIES_MAX) {
      this.#carries.delete(this.#carries.keys().next().value!);
    }
    this.#carries.set(id, { to: msg.to, left: msg.n });
  }

  /**
   * A carried part from `from`: checked, passed on where its leader asked this node to, and
   * returned as the delta it holds with the signing leader's address; null when dropped.
   */
  take(c: CarriedPart, from: string): { msg: DeltaMessage; leader: string } | null {
    const counts = this.#counts;
    if (!this.#byLeader.has(from) && !this.#senders.allow(from)) return void counts.rate++, null;
    const signer = this.#byId.get(c.keyId);
    if (!signer) return void counts.unknownKey++, null;
    const sigKey = sigText(c.sig);
    const seen = this.#verified.get(sigKey);
    if (!seen || !equalBytes(seen, c.bytes)) {
      if (!verifyCarried(signer.key, c)) return void counts.forged++, null;
      if (this.#verified.size >= VERIFIED_MAX) {
        this.#verified.delete(this.#verified.keys().next().value!);
      }
      this.#verified.set(sigKey, c.bytes.slice());
    }
    const msg = parseMessage(c.part);
    if (!msg || msg.t !== "delta") return void counts.notDelta++, null;
    // Passed on only as its signer asked (a `carry` from it, for this push): no other member can
    // have this node send anything. Passed on whatever policy this node holds (the new one's
    // parts may still be coming): the members it goes to check their own.
    if (from === signer.leader) {
      const id = `${msg.from}|${msg.v}`;
      const carry = this.#carries.get(id);
      if (carry) {
        for (const to of carry.to) this.#deps.send(to, c);
        counts.passed += carry.to.length;
        if (--carry.left <= 0) this.#carries.delete(id);
      }
    }
    if (c.pv !== this.#deps.policyVersion()) return void counts.otherPolicy++, null;
    counts.taken++;
    return { msg, leader: signer.leader };
  }

  /** What this carrier counted. */
  counts(): CarrierCounts {
    return { ...this.#counts };
  }
}

// A signature's identity in the set of checked ones (its bytes as text: exact, no hashing).
function sigText(sig: Uint8Array): string {
  return String.fromCharCode(...sig);
}
