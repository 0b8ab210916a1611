/**
 * ML-KEM key pairs shared by the offers one member starts close together. A leader starts an
 * offer for every member it initiates with as each joins (and again each rotation): one
 * ML-KEM-768 key pair made per offer was a millisecond or more of its JS thread per join, as
 * much as the rest of a join. ML-KEM is secure against chosen ciphertexts with a key pair used
 * for many encapsulations (FIPS 203 makes no key single-use), and each answer's ciphertext
 * carries a shared secret of its own; the preshared key's salt binds both members' keys, the
 * run, the rotation and the ciphertext (kem.ts), so pairs that share an encapsulation key still
 * get unrelated keys. So a key pair serves the offers started within {@link SHARED_KEM_MS}, at
 * most {@link SHARED_KEM_USES} of them, and its decapsulation key is wiped once the last offer
 * holding it was answered or given up and its time for new offers is over ({@link
 * SharedKemKeys.sweep}, each tick): forward secrecy as before, give or take a second (the key
 * lives as long as the offers that use it), and one key pair a second at most, whatever joins.
 * @module
 */

import { type KemKeys, kemKeys } from "./kem.ts";

/** The longest a key pair is given to new offers, ms. */
export const SHARED_KEM_MS = 1000;

/** The most offers a key pair is given to. */
export const SHARED_KEM_USES = 64;

/** One offer's hold on a key pair: released when the offer is answered or given up. */
export interface KemLease {
  /** The key pair (its `dk` wiped once every lease on it is released and it is retired). */
  readonly keys: KemKeys;
  /** Lets go of the key pair (once; again is a no-op). */
  release(): void;
}

/** A lease on a key pair of its own, wiped when released (no sharing). */
export function ownKemLease(make: () => KemKeys = kemKeys): KemLease {
  const keys = make();
  return { keys, release: () => keys.dk.fill(0) };
}

interface Held {
  keys: KemKeys;
  leases: number;
  retired: boolean;
}

/** Options of {@link SharedKemKeys}. */
export interface SharedKemKeysOptions {
  /** How long a key pair is given to new offers, ms (default {@link SHARED_KEM_MS}). */
  ms?: number;
  /** Offers a key pair is given to at most (default {@link SHARED_KEM_USES}). */
  uses?: number;
  /** Monotonic ms (default `performance.now`). */
  now?: () => number;
  /** Makes a key pair (default ML-KEM-768's, kem.ts). */
  make?: () => KemKeys;
}

/** Hands out key pairs shared by offers started close together. See the module docs. */
export class SharedKemKeys {
  readonly #ms: number;
  readonly #uses: number;
  readonly #now: () => number;
  readonly #make: () => KemKeys;
  #current: Held | null = null;
  #madeAt = 0;
  #given = 0;
  /** Key pairs made. */
  made = 0;

  /** A source of shared key pairs. */
  constructor(opts: SharedKemKeysOptions = {}) {
    this.#ms = opts.ms ?? SHARED_KEM_MS;
    this.#uses = opts.uses ?? SHARED_KEM_USES;
    this.#now = opts.now ?? (() => performance.now());
    this.#make = opts.make ?? kemKeys;
  }

  /** A lease on the key pair of the moment (a new one when it is too old or too used). */
  take(): KemLease {
    const now = this.#now();
    let h = this.#current;
    if (h === null || now - this.#madeAt >= this.#ms || this.#given >= this.#uses) {
      if (h !== null) this.#retire(h);
      h = this.#current = { keys: this.#make(), leases: 0, retired: false };
      this.#madeAt = now;
      this.#given = 0;
      this.made++;
    }
    this.#given++;
    h.leases++;
    const held = h;
    let released = false;
    return {
      keys: held.keys,
      release: () => {
        if (released) return;
        released = true;
        held.leases--;
        if (held.leases > 0) return;
        if (held.retired) held.keys.dk.fill(0);
        else this.sweep();
      },
    };
  }

  /**
   * Retires the key pair of the moment once it is too old for new offers, wiping it if no offer
   * holds it: called each tick, so a key pair nobody holds lives at most a tick past its time.
   */
  sweep(): void {
    const h = this.#current;
    if (h !== null && this.#now() - this.#madeAt >= this.#ms) {
      this.#current = null;
      this.#retire(h);
    }
  }

  /** Gives out no more leases on the key pair held; wiped once none is held (now, if none). */
  close(): void {
    if (this.#current !== null) this.#retire(this.#current);
    this.#current = null;
  }

  #retire(h: Held): void {
    h.retired = true;
    if (h.leases === 0) h.keys.dk.fill(0);
  }
}
