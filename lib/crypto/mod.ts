/**
 * Keys and crypto backends: WireGuard keys as base64 text or bytes, and the suites (X25519 and
 * ChaCha20-Poly1305 implementations) a device can run on.
 *
 * @example A key pair, as `wg genkey | wg pubkey` would make
 * ```ts
 * import { encodeKey, generatePrivateKey, publicKeyOf } from "@weft/weft/crypto";
 *
 * const privateKey = generatePrivateKey();
 * console.log(encodeKey(privateKey), encodeKey(publicKeyOf(privateKey)));
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
