/**
 * The leader's side of carried pushes (../sync/carried.ts): which members take them (their
 * hellos say the id of this leader's push key), and how a push's parts reach them: signed once,
 * sent to one carrier of every few dozen members with the list of those it passes them on to.
 * Members are cut into buckets by their keys (a bucket's members stay together as the mesh grows:
 * the buckets double, each splitting in two), and a bucket's carriers are those of its members
 * heard from lately, in the order of their keys: a carrier keeps sessions with the same few
 * dozen members from push to push, not with the whole mesh. A member with no fresh carrier in
 * its bucket is sent its parts directly.
 * @module
 */

import type { Member } from "../../members/member.ts";
import { CARRY_TO_MAX, PushSigner } from "../sync/carried.ts";
import { encodeMessage } from "../sync/protocol.ts";
import { base64Head24 } from "../../crypto/base64.ts";

/** Members a carrier passes a push on to, about (a bucket's size is from half this to this). */
export const CARRY_FANOUT = 64;
/** Bytes of the addresses a `carry` message names, at most (it stays one datagram). */
export const CARRY_TO_BYTES = 1100;
/**
 * Members of a group that take carried pushes from which its pushes are carried (the default of
 * `WEFT_CARRY_MIN`): below it the leader's pushes cost it little, and members pass nothing on.
 */
export const CARRY_MIN = 1000;

/** A push's carrier and the addresses it passes the parts on to. */
export interface CarryPlan {
  carrier: Pick<Member, "publicKey" | "address">;
  to: string[];
}

/**
 * The first 24 bits of a base64 key: its place among the buckets (keys are random). Read from
 * its first four characters: once a member a push, decoding them (a slice, a regular
 * expression, a byte array) was 3.4 % of a leader of 10,000 in churn.
 */
export function keyHash(key: string): number {
  return Math.max(0, base64Head24(key));
}

/**
 * Plans a push to `members`: carriers (members `fresh` says were heard lately) and whom each
 * passes the parts on to; `direct`: members no carrier reaches (their bucket has none fresh).
 */
export function planCarry<M extends Pick<Member, "publicKey" | "address">>(
  members: M[],
  fresh: (key: string) => boolean,
  fanout = CARRY_FANOUT,
): { plans: CarryPlan[]; direct: M[] } {
  let buckets = 1;
  while (buckets * fanout < members.length) buckets *= 2;
  const byBucket: { m: M; h: number }[][] = Array.from({ length: buckets }, () => []);
  for (const m of members) {
    const h = keyHash(m.publicKey);
    byBucket[h & (buckets - 1)].push({ m, h });
  }
  const plans: CarryPlan[] = [];
  const direct: M[] = [];
  for (const bucket of byBucket) {
    bucket.sort((a, b) => a.h - b.h);
    // The plan being filled, and the bytes of the addresses it names so far.
    let cur: CarryPlan | null = null;
    let bytes = 0;
    const waiting: M[] = [];
    const fits = (m: M) =>
      cur !== null && cur.to.length < CARRY_TO_MAX &&
      bytes + m.address.length + 3 <= CARRY_TO_BYTES;
    const add = (m: M) => {
      cur!.to.push(m.address);
      bytes += m.address.length + 3;
    };
    for (const { m } of bucket) {
      if (fits(m)) {
        add(m);
      } else if (fresh(m.publicKey)) {
        cur = { carrier: m, to: [] };
        bytes = 0;
        plans.push(cur);
        while (waiting.length > 0 && fits(waiting.at(-1)!)) add(waiting.pop()!);
      } else {
        waiting.push(m);
      }
    }
    for (const m of waiting) direct.push(m);
  }
  return { plans, direct };
}

/** What the leader's carried pushes counted, for `/metrics`. */
export interface PushCarryCounts {
  /** Pushes carried (a group's parts signed and handed to carriers). */
  pushes: number;
  /** `carry` messages sent (one a carrier a push). */
  carriers: number;
  /** Members told through a carrier (not counting the carriers). */
  passed: number;
  /** Members of carried pushes sent their parts directly (no fresh carrier in their bucket). */
  direct: number;
}

/** What {@link PushCarry} works with. */
export interface PushCarryOptions {
  /** Members of a group that take carried pushes from which its pushes are carried (0: never). */
  min?: number;
  /** How long after its last hello a member still counts as a carrier, ms. */
  freshMs: () => number;
  /** Monotonic ms (default `performance.now`). */
  now?: () => number;
}

/** The leader's carried pushes. See the module docs. */
export class PushCarry {
  /** The leader's push key (made at its start). */
  readonly signer: PushSigner = new PushSigner();
  /** Members of a group that take carried pushes from which its pushes are carried (0: never). */
  readonly min: number;
  // Members whose latest hello said this leader's key id, with when it came: they carry.
  readonly #able = new Map<string, number>();
  // Members sent the key since a hello that did not say its id: they take carried parts (the
  // key went ahead of any push on the leader's session) but carry nothing until they say it (a
  // carrier without the key would drop its whole bucket's push). A joiner is told through
  // carriers from its first push on, not from its second hello, seconds later at 10,000.
  readonly #keyed = new Set<string>();
  readonly #freshMs: () => number;
  readonly #now: () => number;
  readonly #counts: PushCarryCounts = { pushes: 0, carriers: 0, passed: 0, direct: 0 };
  // Datagrams carriers pass on, since `takePassed` last read them.
  #passed = 0;

  /** Carried pushes with `opts`. */
  constructor(opts: PushCarryOptions) {
    this.min = opts.min ?? CARRY_MIN;
    this.#freshMs = opts.freshMs;
    this.#now = opts.now ?? (() => performance.now());
  }

  /**
   * A hello from member `key` said `ck` (undefined: it takes no carried pushes); true when it
   * should be sent this leader's push key.
   */
  heard(key: string, ck: unknown): boolean {
    if (typeof ck !== "string") {
      this.#able.delete(key);
      this.#keyed.delete(key);
      return false;
    }
    if (ck !== this.signer.keyId) {
      this.#able.delete(key);
      this.#keyed.add(key);
      return true;
    }
    this.#keyed.delete(key);
    this.#able.set(key, this.#now());
    return false;
  }

  /** Whether member `key` takes this leader's carried pushes (it said its id, or was sent the key). */
  able(key: string): boolean {
    return this.#able.has(key) || this.#keyed.has(key);
  }

  /** Forgets member `key` (it left or was removed). */
  forget(key: string): void {
    this.#able.delete(key);
    this.#keyed.delete(key);
  }

  /**
   * Adds to `out` (address, bytes, ...) what carries `parts` (the delta from `from` to `v`, made
   * under policy version `pv`) to `members`; returns the members no carrier reaches, to be sent
   * `parts` directly.
   */
  carry<M extends Pick<Member, "publicKey" | "address">>(
    parts: Uint8Array[],
    members: M[],
    pv: number,
    from: number,
    v: number,
    out: (string | Uint8Array)[],
  ): M[] {
    const now = this.#now();
    const freshMs = this.#freshMs();
    const fresh = (key: string) => now - (this.#able.get(key) ?? -Infinity) <= freshMs;
    const { plans, direct } = planCarry(members, fresh);
    if (plans.length === 0) return direct;
    const signed = parts.map((p) => this.signer.seal(p, pv));
    const c = this.#counts;
    c.pushes++;
    c.carriers += plans.length;
    c.direct += direct.length;
    for (const p of plans) {
      const address = p.carrier.address;
      out.push(address, encodeMessage({ t: "carry", f: from, v, n: signed.length, to: p.to }));
      for (const s of signed) out.push(address, s);
      c.passed += p.to.length;
      this.#passed += p.to.length * signed.length;
    }
    return direct;
  }

  /** The datagrams carriers pass on of the pushes made since the last call (the push schedule's weight). */
  takePassed(): number {
    const n = this.#passed;
    this.#passed = 0;
    return n;
  }

  /** What was counted. */
  counts(): PushCarryCounts {
    return { ...this.#counts };
  }
}
