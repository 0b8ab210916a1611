/**
 * An exact-match table from overlay addresses (IPv4 and IPv6) to small integer ids, in typed
 * arrays with open addressing, so a per-packet lookup is a hash, a probe or two and no allocation.
 * @module
 */

const EMPTY = -1;

function capacityFor(n: number): number {
  let c = 8;
  while (c < n * 2) c *= 2;
  return c;
}

function hashV4(a: number): number {
  let h = Math.imul(a, 0x9e3779b1);
  h ^= h >>> 15;
  return Math.imul(h, 0x85ebca6b);
}

function hashV6(a0: number, a1: number, a2: number, a3: number): number {
  let h = Math.imul(a0 ^ 0x27d4eb2f, 0x9e3779b1);
  h = Math.imul(h ^ a1 ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ a2 ^ (h >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ a3 ^ (h >>> 16), 0x9e3779b1);
  return h ^ (h >>> 15);
}

/** Address-to-id lookups; build with `add`, then look up from the packet path. */
export class AddressTable {
  #v4Keys: Int32Array;
  #v4Ids: Int32Array;
  #v4Mask: number;
  #v4Count = 0;
  #v6Keys: Int32Array;
  #v6Ids: Int32Array;
  #v6Mask: number;
  #v6Count = 0;

  /** A table sized for up to `v4` IPv4 and `v6` IPv6 addresses. */
  constructor(v4: number, v6: number) {
    const c4 = capacityFor(v4);
    const c6 = capacityFor(v6);
    this.#v4Keys = new Int32Array(c4);
    this.#v4Ids = new Int32Array(c4).fill(EMPTY);
    this.#v4Mask = c4 - 1;
    this.#v6Keys = new Int32Array(c6 * 4);
    this.#v6Ids = new Int32Array(c6).fill(EMPTY);
    this.#v6Mask = c6 - 1;
  }

  /**
   * Maps the address in `words` (at `off`: one word for IPv4, four for IPv6) to `id` (>= 0).
   * Returns false, leaving the first mapping, when the address is already present.
   */
  add(family: number, words: Int32Array, off: number, id: number): boolean {
    if (family === 4) {
      if (this.#v4Count * 2 >= this.#v4Ids.length) throw new RangeError("address table is full");
      const a = words[off];
      for (let i = hashV4(a) & this.#v4Mask;; i = (i + 1) & this.#v4Mask) {
        if (this.#v4Ids[i] === EMPTY) {
          this.#v4Keys[i] = a;
          this.#v4Ids[i] = id;
          this.#v4Count++;
          return true;
        }
        if (this.#v4Keys[i] === a) return false;
      }
    }
    if (this.#v6Count * 2 >= this.#v6Ids.length) throw new RangeError("address table is full");
    if (this.lookup(6, words, off) !== EMPTY) return false;
    const k = this.#v6Keys;
    for (
      let i = hashV6(words[off], words[off + 1], words[off + 2], words[off + 3]) & this.#v6Mask;;
      i = (i + 1) & this.#v6Mask
    ) {
      if (this.#v6Ids[i] === EMPTY) {
        for (let j = 0; j < 4; j++) k[i * 4 + j] = words[off + j];
        this.#v6Ids[i] = id;
        this.#v6Count++;
        return true;
      }
    }
  }

  /** The id of the address in `words` at `off`, or -1. */
  lookup(family: number, words: Int32Array, off: number): number {
    if (family === 4) {
      const a = words[off];
      const keys = this.#v4Keys;
      const ids = this.#v4Ids;
      for (let i = hashV4(a) & this.#v4Mask;; i = (i + 1) & this.#v4Mask) {
        const id = ids[i];
        if (id === EMPTY || keys[i] === a) return id;
      }
    }
    const a0 = words[off];
    const a1 = words[off + 1];
    const a2 = words[off + 2];
    const a3 = words[off + 3];
    const keys = this.#v6Keys;
    const ids = this.#v6Ids;
    for (let i = hashV6(a0, a1, a2, a3) & this.#v6Mask;; i = (i + 1) & this.#v6Mask) {
      const id = ids[i];
      if (id === EMPTY) return EMPTY;
      const b = i * 4;
      if (keys[b] === a0 && keys[b + 1] === a1 && keys[b + 2] === a2 && keys[b + 3] === a3) {
        return id;
      }
    }
  }
}
