/**
 * The browser build's lib/crypto/openssl_blake2s.ts: no FFI in a page, so no OpenSSL; BLAKE2s is
 * @noble/hashes' (lib/crypto/blake2s.ts falls back to it when this answers null).
 * @module
 */

/** No OpenSSL in a page. */
export function loadOpensslBlake2s(): null {
  return null;
}
