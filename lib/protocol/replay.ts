/**
 * The sliding replay window for transport counters, a bitmap ring in the style of RFC 6479:
 * moving the window forward clears whole words instead of shifting bits.
 * @module
 */

const WORD_BITS = 32;
const RING_WORDS = 128; // a power of two
const RING_MASK = RING_WORDS - 1;

/** How far behind the highest counter seen a packet may arrive and still be accepted. */
export const REPLAY_WINDOW_SIZE: number = (RING_WORDS - 1) * WORD_BITS;

/** Tracks which counters of one receive key have been seen. */
export class ReplayWindow {
  #ring = new Uint32Array(RING_WORDS);
  #last = 0;

  /**
   * Accepts `counter` (marking it seen) or rejects it as replayed or too old. Call it only after
   * the packet authenticated, or forged packets could move the window.
   */
  accept(counter: number, limit: number): boolean {
    if (counter >= limit || counter < 0) return false;
    const block = Math.floor(counter / WORD_BITS);
    if (counter > this.#last) {
      const current = Math.floor(this.#last / WORD_BITS);
      const diff = Math.min(block - current, RING_WORDS);
      for (let i = 1; i <= diff; i++) this.#ring[(current + i) & RING_MASK] = 0;
      this.#last = counter;
    } else if (this.#last - counter > REPLAY_WINDOW_SIZE) {
      return false;
    }
    const index = block & RING_MASK;
    const bit = 1 << (counter & (WORD_BITS - 1));
    const old = this.#ring[index];
    if (old & bit) return false;
    this.#ring[index] = old | bit;
    return true;
  }

  /** The highest counter accepted (0 before any). */
  get highest(): number {
    return this.#last;
  }

  /** Forgets everything seen. */
  reset(): void {
    this.#ring.fill(0);
    this.#last = 0;
  }
}
