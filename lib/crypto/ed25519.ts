/**
 * Ed25519 signatures for what a leader signs once and members check (the pushes members carry
 * for each other, lib/mesh/sync/carried.ts), on Deno's node:crypto: some 30 µs a signature and
 * 50 µs a check, against some 2.4 ms each for @noble/curves. The browser build swaps this module
 * for lib/browser/platform/ed25519.ts (@noble/curves), with the same exports.
 * @module
 */

import { createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto";
import { decodeBase64, encodeBase64 } from "./base64.ts";

/** A key pair that signs. */
export interface Ed25519Signer {
  /** The public key's 32 raw bytes. */
  readonly publicKey: Uint8Array;
  /** A 64-byte signature of `msg`. */
  sign(msg: Uint8Array): Uint8Array;
}

/** A public key that checks signatures. */
export interface Ed25519Verifier {
  /** Whether `sig` is this key's signature of `msg`. */
  verify(msg: Uint8Array, sig: Uint8Array): boolean;
}

const b64url = (raw: Uint8Array) =>
  encodeBase64(raw).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

/** A new key pair. */
export function ed25519Signer(): Ed25519Signer {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const jwk = publicKey.export({ format: "jwk" }) as { x?: string };
  const raw = decodeBase64(jwk.x!.replaceAll("-", "+").replaceAll("_", "/") + "=")!;
  return { publicKey: raw, sign: (msg) => new Uint8Array(sign(null, msg, privateKey)) };
}

/** The verifier of a public key's 32 raw bytes; null when they are no key. */
export function ed25519Verifier(publicKey: Uint8Array): Ed25519Verifier | null {
  if (publicKey.length !== 32) return null;
  let key: KeyObject;
  try {
    key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: b64url(publicKey) },
      format: "jwk",
    });
  } catch {
    return null;
  }
  return {
    verify(msg, sig) {
      try {
        return sig.length === 64 && verify(null, msg, key, sig);
      } catch {
        return false;
      }
    },
  };
}
