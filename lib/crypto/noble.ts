/**
 * Pure-TypeScript backends on @noble/ciphers (ChaCha20-Poly1305) and @noble/curves (X25519).
 * Always available; the slowest, but the reference the other backends are tested against.
 * @module
 */

import { chacha20poly1305 } from "npm:@noble/ciphers@^2.4.0/chacha.js";
import { x25519 } from "npm:@noble/curves@^2.4.0/ed25519.js";
import type { Dh } from "./types.ts";
import { assertKey32, clamp, isZero, lowOrderError } from "./bytes.ts";
import { CounterNonceKey, type ExplicitNonceAead, type ExplicitNonceKey } from "./nonce.ts";

const TAG = 16;

/**
 * A ChaCha20-Poly1305 key on noble. noble's encrypt/decrypt with an `output` argument tolerate
 * exact aliasing (output[0..n] being the input itself): encrypt copies the input onto itself and
 * XORs in place; decrypt computes the tag over the ciphertext before it writes anything. So no
 * scratch buffer is needed and a forged packet leaves `src` untouched.
 */
class NobleKey extends CounterNonceKey {
  readonly #key: Uint8Array;

  constructor(raw: Uint8Array) {
    super();
    assertKey32(raw);
    this.#key = raw.slice();
  }

  sealWithNonce(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void {
    chacha20poly1305(this.#key, nonce, ad).encrypt(src, dst);
  }

  openWithNonce(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean {
    if (src.length < TAG || dst.length !== src.length - TAG) return false;
    try {
      chacha20poly1305(this.#key, nonce, ad).decrypt(src, dst);
      return true;
    } catch (e) {
      // A forgery is an answer; anything else is a fault the caller must hear of.
      if (e instanceof Error && e.message === "invalid tag") return false;
      throw e;
    }
  }

  destroy(): void {
    this.#key.fill(0);
  }
}

/** ChaCha20-Poly1305 on @noble/ciphers. */
export const nobleAead: ExplicitNonceAead = {
  name: "noble",
  key: (raw: Uint8Array): ExplicitNonceKey => new NobleKey(raw),
};

/** X25519 on @noble/curves. */
export const nobleDh: Dh = {
  name: "noble",
  generatePrivate: (): Uint8Array => clamp(crypto.getRandomValues(new Uint8Array(32))),
  publicKey: (privateKey: Uint8Array): Uint8Array => {
    assertKey32(privateKey, "private key");
    return x25519.getPublicKey(privateKey);
  },
  shared: (privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array => {
    assertKey32(privateKey, "private key");
    assertKey32(publicKey, "public key");
    let out: Uint8Array;
    try {
      out = x25519.getSharedSecret(privateKey, publicKey);
    } catch {
      // noble rejects low-order points before the ladder; its only failure for 32-byte inputs.
      throw lowOrderError();
    }
    if (isZero(out)) throw lowOrderError();
    return out;
  },
};
