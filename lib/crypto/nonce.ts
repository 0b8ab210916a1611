/**
 * WireGuard's 12-byte ChaCha20-Poly1305 nonce: four zero bytes, then the 64-bit little-endian
 * packet counter. Shared by every AEAD backend so they all lay the counter out identically.
 * @module
 */

import type { Aead, AeadKey } from "./types.ts";

/** 2^32, to split a counter (a safe integer up to 2^53 - 1) into two 32-bit halves. */
const TWO32 = 0x1_0000_0000;

/** A reusable nonce buffer plus a writer that fills in a counter without allocating. */
export class NonceBuffer {
  /** The 12 nonce bytes; the first four stay zero for WireGuard. */
  readonly bytes: Uint8Array;
  readonly #view: DataView;

  /** Over `bytes` (12 of them, zero), or 12 bytes of its own. */
  constructor(bytes: Uint8Array = new Uint8Array(12)) {
    if (bytes.length !== 12) throw new RangeError("a nonce buffer is 12 bytes");
    this.bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, 12);
  }

  /** Writes `counter` (0 ≤ counter ≤ 2^53 - 1) as little-endian 64 bits at offset 4. */
  set(counter: number): Uint8Array {
    // The first four too: bytes shared with a key's explicit-nonce calls may hold others.
    this.#view.setUint32(0, 0, true);
    // `>>> 0` keeps the low 32 bits even above 2^32, where bitwise ops would otherwise truncate.
    this.#view.setUint32(4, counter >>> 0, true);
    this.#view.setUint32(8, Math.floor(counter / TWO32), true);
    return this.bytes;
  }
}

/**
 * An AeadKey that also takes a whole 12-byte nonce. WireGuard only needs the counter form; this
 * one exists so the RFC 8439 vectors, whose nonces do not start with four zero bytes, can be run
 * against every backend's real code path.
 */
export interface ExplicitNonceKey extends AeadKey {
  /** {@link AeadKey.seal} with an explicit 12-byte nonce. */
  sealWithNonce(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void;
  /** {@link AeadKey.open} with an explicit 12-byte nonce. */
  openWithNonce(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean;
}

/**
 * What every backend's key shares: `seal` and `open` write the counter into one nonce buffer the
 * key reuses (no nonce made per packet) and hand it to the backend's own
 * `sealWithNonce`/`openWithNonce`, so each backend writes only those two and `destroy`.
 */
export abstract class CounterNonceKey implements ExplicitNonceKey {
  readonly #nonce = new NonceBuffer();

  /** {@link AeadKey.seal}: `sealWithNonce` with the counter's nonce. */
  seal(counter: number, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void {
    this.sealWithNonce(this.#nonce.set(counter), src, dst, ad);
  }

  /** {@link AeadKey.open}: `openWithNonce` with the counter's nonce. */
  open(counter: number, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean {
    return this.openWithNonce(this.#nonce.set(counter), src, dst, ad);
  }

  /** {@link ExplicitNonceKey.sealWithNonce}, as the backend does it. */
  abstract sealWithNonce(
    nonce: Uint8Array,
    src: Uint8Array,
    dst: Uint8Array,
    ad?: Uint8Array,
  ): void;
  /** {@link ExplicitNonceKey.openWithNonce}, as the backend does it. */
  abstract openWithNonce(
    nonce: Uint8Array,
    src: Uint8Array,
    dst: Uint8Array,
    ad?: Uint8Array,
  ): boolean;
  /** {@link AeadKey.destroy}, as the backend does it. */
  abstract destroy(): void;
}

/** An Aead whose keys are {@link ExplicitNonceKey}s. */
export interface ExplicitNonceAead extends Aead {
  /** Binds a 32-byte key (copied). */
  key(raw: Uint8Array): ExplicitNonceKey;
}
