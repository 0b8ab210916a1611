/**
 * The browser build's lib/crypto/xchacha_sodium.ts: no FFI in a page, so no libsodium;
 * XChaCha20-Poly1305 is @noble/ciphers' (lib/crypto/xchacha.ts falls back to it on null).
 * @module
 */

import type { XChaChaCalls } from "../../crypto/sodium.ts";

/** No libsodium in a page. */
export const SODIUM_XCHACHA: XChaChaCalls | null = null;
