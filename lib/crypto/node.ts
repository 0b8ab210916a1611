/**
 * Backends on Deno's node:crypto (OpenSSL/Rust underneath): ChaCha20-Poly1305 through
 * createCipheriv/createDecipheriv and X25519 through diffieHellman on KeyObjects
 * imported from DER-wrapped raw keys.
 * node's streaming API allocates a cipher object and output Buffers per call; this module keeps
 * everything else (nonce buffer, key copy) out of the hot path.
 * @module
 */

import {
  type CipherGCM,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  type DecipherGCM,
  diffieHellman,
  type KeyObject,
} from "node:crypto";
import { Buffer } from "node:buffer";
import type { Dh } from "./types.ts";
import { assertKey32, clamp, isZero, lowOrderError } from "./bytes.ts";
import { CounterNonceKey, type ExplicitNonceAead, type ExplicitNonceKey } from "./nonce.ts";

const ALG = "chacha20-poly1305";
const TAG = 16;
const OPTS = { authTagLength: TAG } as const;

/**
 * A ChaCha20-Poly1305 key on node:crypto. The raw bytes are handed to createCipheriv each call:
 * in Deno 2.9 that measured ~20% faster than a createSecretKey() KeyObject made once.
 */
class NodeKey extends CounterNonceKey {
  readonly #key: Uint8Array;
  #live = true;

  constructor(raw: Uint8Array) {
    super();
    assertKey32(raw);
    this.#key = raw.slice();
  }

  sealWithNonce(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void {
    const n = src.length;
    if (dst.length !== n + TAG) throw new RangeError(`seal: dst must be ${n + TAG} bytes`);
    // Typed as GCM: same setAAD/getAuthTag surface; node's CCM typing would demand plaintextLength.
    const c = createCipheriv(ALG, this.#checked(), nonce, OPTS) as CipherGCM;
    if (ad !== undefined) c.setAAD(ad);
    // update() returns a fresh Buffer, so writing it into dst is safe even when dst aliases src.
    const body = c.update(src);
    c.final();
    dst.set(body, 0);
    dst.set(c.getAuthTag(), n);
  }

  openWithNonce(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean {
    const n = src.length - TAG;
    if (n < 0 || dst.length !== n) return false;
    const key = this.#checked();
    try {
      const d = createDecipheriv(ALG, key, nonce, OPTS) as DecipherGCM;
      if (ad !== undefined) d.setAAD(ad);
      d.setAuthTag(src.subarray(n));
      const body = d.update(src.subarray(0, n));
      d.final(); // throws on a bad tag, before anything reaches dst
      dst.set(body, 0);
      return true;
    } catch (e) {
      // A forgery is an answer; anything else is a fault the caller must hear of.
      if ((e as { code?: string }).code === "ERR_CRYPTO_DECIPHER") return false;
      throw e;
    }
  }

  destroy(): void {
    this.#key.fill(0);
    this.#live = false;
  }

  #checked(): Uint8Array {
    if (!this.#live) throw new Error("AEAD key used after destroy()");
    return this.#key;
  }
}

/** ChaCha20-Poly1305 on node:crypto. */
export const nodeAead: ExplicitNonceAead = {
  name: "node",
  key: (raw: Uint8Array): ExplicitNonceKey => new NodeKey(raw),
};

/** DER prefixes that wrap a raw 32-byte X25519 key (RFC 8410) as PKCS#8 and SPKI. */
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

function wrap(prefix: Buffer, raw: Uint8Array): Buffer {
  const der = Buffer.allocUnsafe(prefix.length + 32);
  der.set(prefix, 0);
  der.set(raw, prefix.length);
  return der;
}

/**
 * Imports a raw private key. Done per call: caching the last KeyObject measured no faster, the
 * import being small next to the scalar multiplication.
 */
function privateKeyObject(raw: Uint8Array): KeyObject {
  const der = wrap(PKCS8_PREFIX, raw);
  try {
    return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } finally {
    der.fill(0);
  }
}

/** X25519 on node:crypto. */
export const nodeDh: Dh = {
  name: "node",
  generatePrivate: (): Uint8Array => clamp(crypto.getRandomValues(new Uint8Array(32))),
  publicKey: (privateKey: Uint8Array): Uint8Array => {
    assertKey32(privateKey, "private key");
    const spki = createPublicKey(privateKeyObject(privateKey)).export({
      format: "der",
      type: "spki",
    });
    return new Uint8Array(spki.subarray(spki.length - 32));
  },
  shared: (privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array => {
    assertKey32(privateKey, "private key");
    assertKey32(publicKey, "public key");
    const priv = privateKeyObject(privateKey);
    const pub = createPublicKey({
      key: wrap(SPKI_PREFIX, publicKey),
      format: "der",
      type: "spki",
    });
    let out: Uint8Array;
    try {
      // OpenSSL refuses an all-zero result ("failed during derivation"): that is the low-order case.
      out = new Uint8Array(diffieHellman({ privateKey: priv, publicKey: pub }));
    } catch {
      throw lowOrderError();
    }
    if (isZero(out)) throw lowOrderError();
    return out;
  },
};
