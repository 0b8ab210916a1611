/**
 * The browser build's lib/crypto/ed25519.ts: Ed25519 on @noble/curves (a page has no
 * node:crypto), with the same exports.
 * @module
 */

import { ed25519 } from "npm:@noble/curves@^2.4.0/ed25519.js";
import type { Ed25519Signer, Ed25519Verifier } from "../../crypto/ed25519.ts";

/** A new key pair. */
export function ed25519Signer(): Ed25519Signer {
  const secret = ed25519.utils.randomSecretKey();
  return {
    publicKey: ed25519.getPublicKey(secret),
    sign: (msg) => ed25519.sign(msg, secret),
  };
}

/** The verifier of a public key's 32 raw bytes; null when they are no key. */
export function ed25519Verifier(publicKey: Uint8Array): Ed25519Verifier | null {
  if (publicKey.length !== 32) return null;
  try {
    ed25519.Point.fromBytes(publicKey);
  } catch {
    return null;
  }
  return {
    verify(msg, sig) {
      try {
        return sig.length === 64 && ed25519.verify(sig, msg, publicKey);
      } catch {
        return false;
      }
    },
  };
}
