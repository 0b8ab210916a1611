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
  readonly bytes: Uint8Array = new Uint8Array(12);
  readonly #view: DataView = new DataView(this.bytes.buffer);

  /** Writes `counter` (0 ≤ counter ≤ 2^53 - 1) as little-endian 64 bits at offset 4. */
  set(counter: number): Uint8Array {
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

/** An Aead whose keys are {@link ExplicitNonceKey}s. */
export interface ExplicitNonceAead extends Aead {
  /** Binds a 32-byte key (copied). */
  key(raw: Uint8Array): ExplicitNonceKey;
}
