/**
 * XChaCha20-Poly1305 (24-byte nonce), for WireGuard cookie replies (whitepaper §5.4.7: the cookie
 * is sealed with a random nonce and mac1 as associated data) and the NAT probes. On libsodium
 * where it loads (a loaded leader seals a cookie reply for every join: about 1 µs there against
 * 30 to 40 on @noble/ciphers), else on @noble/ciphers (a page). Small messages, so allocating
 * results is fine here.
 * @module
 */

import { xchacha20poly1305 } from "npm:@noble/ciphers@^2.4.0/chacha.js";
import { assertKey32 } from "./bytes.ts";
import type { XChaChaCalls } from "./sodium.ts";
import { SODIUM_XCHACHA as SODIUM } from "./xchacha_sodium.ts";

/** Which implementation {@link xchachaSeal} and {@link xchachaOpen} use. */
export const xchachaBackend: "sodium" | "noble" = SODIUM !== null ? "sodium" : "noble";

/** XChaCha20-Poly1305 on @noble/ciphers (tests hold it equal to the libsodium one). */
export const nobleXChaCha: XChaChaCalls = {
  seal: (key, nonce, pt, ad) => xchacha20poly1305(key, nonce, ad).encrypt(pt),
  open: (key, nonce, sealed, ad) => {
    try {
      return xchacha20poly1305(key, nonce, ad).decrypt(sealed);
    } catch {
      return null;
    }
  },
};

const IMPL: XChaChaCalls = SODIUM ?? nobleXChaCha;

function assertNonce(nonce: Uint8Array): void {
  if (!(nonce instanceof Uint8Array) || nonce.length !== 24) {
    throw new Error("XChaCha20-Poly1305 nonce must be 24 bytes");
  }
}

/** Seals `plaintext` under a 32-byte key and 24-byte nonce; returns ciphertext then 16-byte tag. */
export function xchachaSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
): Uint8Array {
  assertKey32(key);
  assertNonce(nonce);
  return IMPL.seal(key, nonce, plaintext, ad);
}

/** Opens ciphertext-then-tag; returns the plaintext, or null when it is forged or too short. */
export function xchachaOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  ad: Uint8Array,
): Uint8Array | null {
  assertKey32(key);
  assertNonce(nonce);
  if (sealed.length < 16) return null;
  return IMPL.open(key, nonce, sealed, ad);
}
