/**
 * The browser build's `node:crypto`, for lib/crypto/blake2s.ts alone: it asks whether
 * node:crypto has BLAKE2s, and a page has no node:crypto, so the answer is no and @noble/hashes
 * is used.
 * @module
 */

function absent(): never {
  throw new Error("node:crypto is not available in a browser");
}

/** Throws: there is no node:crypto in a page. */
export const createHash: (algorithm: string) => never = absent;
/** Throws: there is no node:crypto in a page. */
export const createHmac: (algorithm: string, key: Uint8Array) => never = absent;
