/**
 * WireGuard key text: 32 bytes as standard padded base64 (44 characters), exactly what
 * `wg genkey`, `wg pubkey` and `wg genpsk` print and what wg-quick configs hold.
 * @module
 */

import type { Dh } from "./types.ts";
import { clamp } from "./bytes.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { nobleDh } from "./noble.ts";

export { equalBytes } from "./bytes.ts";

/**
 * 43 base64 characters then "=". The last data character carries 4 bits of the key and 2 zero
 * bits, so only the 16 characters whose low 2 bits are zero are canonical there.
 */
const KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** The base64 text of a 32-byte key (like `wg pubkey` output). */
export function encodeKey(key: Uint8Array): string {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new Error(
      `a key must be 32 bytes, got ${key instanceof Uint8Array ? key.length : typeof key}`,
    );
  }
  return encodeBase64(key);
}

/**
 * Parses base64 key text; surrounding whitespace is ignored. Throws an Error naming `what`
 * (e.g. "private key of peer alice") when the text is not exactly a canonical 32-byte key.
 */
export function parseKey(text: string, what: string): Uint8Array {
  if (typeof text !== "string") {
    throw new Error(`invalid ${what}: expected a base64 string, got ${typeof text}`);
  }
  const t = text.trim();
  if (!KEY_RE.test(t)) {
    const hint = t.length === 44 ? "not canonical base64" : `${t.length} characters instead of 44`;
    throw new Error(
      `invalid ${what}: expected 32 bytes as 44-character base64 (as printed by ${
        printedBy(what)
      }), ${hint}`,
    );
  }
  // KEY_RE admits only canonical base64 of 32 bytes: it decodes.
  return decodeBase64(t)!;
}

/** The wg command that prints a key of the kind `what` names (`peer public key`: wg pubkey). */
function printedBy(what: string): string {
  if (/\bprivate\b/i.test(what)) return "`wg genkey`";
  if (/\bpreshared\b/i.test(what)) return "`wg genpsk`";
  if (/\bpublic\b/i.test(what)) return "`wg pubkey`";
  return "`wg genkey`, `wg pubkey` or `wg genpsk`";
}

/** A fresh, clamped X25519 private key from the platform CSPRNG (like `wg genkey`). */
export function generatePrivateKey(): Uint8Array {
  return clamp(crypto.getRandomValues(new Uint8Array(32)));
}

/** The public key of a private key (like `wg pubkey`); `dh` picks the X25519 backend. */
export function publicKeyOf(privateKey: Uint8Array, dh: Dh = nobleDh): Uint8Array {
  return dh.publicKey(privateKey);
}

/** A fresh random 32-byte preshared key (like `wg genpsk`; not clamped). */
export function generatePresharedKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

/** A fresh key pair, base64 encoded as `wg genkey` / `wg pubkey` print them.
 *
 * @example
 * ```ts run
 * import { generateKeyPair, publicKeyOf } from "@weft/weft";
 * import { encodeKey, parseKey } from "@weft/weft/crypto";
 * const { privateKey, publicKey } = generateKeyPair();
 * console.log(encodeKey(publicKeyOf(parseKey(privateKey, "key"))) === publicKey); // prints: true
 * ```
 */
export function generateKeyPair(): { privateKey: string; publicKey: string } {
  const priv = generatePrivateKey();
  return { privateKey: encodeKey(priv), publicKey: encodeKey(publicKeyOf(priv)) };
}
