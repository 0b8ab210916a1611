/**
 * libsodium's XChaCha20-Poly1305 for lib/crypto/xchacha.ts, opened when this module loads, or
 * null where libsodium does not load. The one place that question is asked: the browser build
 * swaps this module for lib/browser/platform/xchacha_sodium.ts (no FFI in a page).
 * @module
 */

import { loadSodiumXChaCha, type XChaChaCalls } from "./sodium.ts";

/** libsodium's XChaCha20-Poly1305, or null when libsodium cannot be loaded here. */
export const SODIUM_XCHACHA: XChaChaCalls | null = loadSodiumXChaCha();
