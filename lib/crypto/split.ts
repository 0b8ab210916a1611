/**
 * One ChaCha20-Poly1305 key on two backends: short messages sealed and opened with one, long
 * ones with the other. Both compute the same function, so which one handled a message is
 * invisible on the wire. weft pairs libsodium (one FFI call per message: cheapest for short
 * ones) with OpenSSL (three or four calls, but faster per byte): measured here, libsodium seals
 * and opens a 64-byte message in 0.85 CPU-µs against OpenSSL's 1.27, and a 1420-byte one in 3.6
 * against 2.9.
 * @module
 */

import type { ExplicitNonceAead, ExplicitNonceKey } from "./nonce.ts";

/**
 * Messages (plaintext bytes) shorter than this go to the short-message backend. Where OpenSSL
 * (three or four calls, AVX-512) overtakes libsodium (one call, AVX2) on this kind of machine:
 * seal + open at 112 bytes 1.28 CPU-µs against libsodium's 1.16, at 128 0.93 against 1.14, and at
 * every size measured from there to 496 (144, 208, 272, 304, 400, 464) OpenSSL's was lower, by up
 * to 31% (docs/performance.md, "Fewer calls a message").
 */
export const SPLIT_AT = 128;

class SplitKey implements ExplicitNonceKey {
  readonly #short: ExplicitNonceKey;
  // Made at the first long message: most sessions (a leader's with each of thousands of
  // members, a member's control traffic) carry short messages only, and the long backend's
  // key costs native memory (OpenSSL: two cipher contexts) that nothing would use.
  #long: ExplicitNonceKey | null = null;
  #raw: Uint8Array | null;
  readonly #longAead: ExplicitNonceAead;
  readonly #at: number;

  constructor(short: ExplicitNonceKey, raw: Uint8Array, longAead: ExplicitNonceAead, at: number) {
    this.#short = short;
    this.#raw = raw.slice();
    this.#longAead = longAead;
    this.#at = at;
  }

  #longKey(): ExplicitNonceKey {
    if (this.#long !== null) return this.#long;
    const raw = this.#raw;
    if (raw === null) throw new Error("key used after destroy()");
    try {
      this.#long = this.#longAead.key(raw);
    } catch {
      // Both backends compute the same function: the short one carries long messages too.
      this.#long = this.#short;
    }
    raw.fill(0);
    this.#raw = null;
    return this.#long;
  }

  seal(counter: number, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void {
    (src.length < this.#at ? this.#short : this.#longKey()).seal(counter, src, dst, ad);
  }

  open(counter: number, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean {
    return (dst.length < this.#at ? this.#short : this.#longKey()).open(counter, src, dst, ad);
  }

  sealWithNonce(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void {
    (src.length < this.#at ? this.#short : this.#longKey()).sealWithNonce(nonce, src, dst, ad);
  }

  openWithNonce(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean {
    return (dst.length < this.#at ? this.#short : this.#longKey()).openWithNonce(
      nonce,
      src,
      dst,
      ad,
    );
  }

  destroy(): void {
    this.#short.destroy();
    if (this.#long !== null && this.#long !== this.#short) this.#long.destroy();
    this.#raw?.fill(0);
    this.#raw = null;
  }
}

/**
 * An AEAD that hands messages shorter than `at` bytes to `short` and the rest to `long`; it
 * carries `long`'s name (the backend that carries the bulk).
 *
 * @example
 * ```ts
 * import { splitAead } from "./split.ts";
 * import { loadOpenssl } from "./openssl.ts";
 * import { loadSodium } from "./sodium.ts";
 * const ossl = loadOpenssl(), sodium = loadSodium();
 * if (ossl && sodium) {
 *   const key = splitAead(sodium.aead, ossl.aead).key(new Uint8Array(32));
 *   key.seal(0, new Uint8Array(1400), new Uint8Array(1416)); // by OpenSSL
 *   key.destroy();
 * }
 * ```
 */
export function splitAead(
  short: ExplicitNonceAead,
  long: ExplicitNonceAead,
  at: number = SPLIT_AT,
): ExplicitNonceAead {
  return {
    name: long.name,
    key: (raw: Uint8Array) => new SplitKey(short.key(raw), raw, long, at),
  };
}
