/**
 * Keys and crypto backends: WireGuard keys as base64 text or bytes, and the suites (X25519 and
 * ChaCha20-Poly1305 implementations) a device can run on.
 *
 * @example A key pair, as `wg genkey | wg pubkey` would make
 * ```ts run
 * import { encodeKey, generatePrivateKey, parseKey, publicKeyOf } from "@weft/weft/crypto";
 *
 * const privateKey = generatePrivateKey(); // 32 bytes
 * const publicKey = encodeKey(publicKeyOf(privateKey)); // base64, as `wg pubkey` prints it
 * console.log(publicKey.length, parseKey(publicKey, "key").length); // prints: 44 32
 * ```
 * @module
 */

export type { Aead, AeadKey, BackendName, CryptoSuite, Dh } from "./types.ts";
export { availableBackends, BACKEND_NAMES, selectSuite, suiteByName } from "./select.ts";
export {
  encodeKey,
  generateKeyPair,
  generatePresharedKey,
  generatePrivateKey,
  parseKey,
  publicKeyOf,
} from "./keys.ts";
