/**
 * Backends on libsodium through Deno FFI. Typed arrays go straight to C as "buffer" arguments,
 * so seal/open allocate nothing per call. Loading is lazy and optional: without the library (or
 * without FFI permission) {@link loadSodium} returns null and weft falls back to other backends.
 * @module
 */

import type { Dh } from "./types.ts";
import { assertKey32, clamp, isZero, lowOrderError } from "./bytes.ts";
import { type ExplicitNonceAead, type ExplicitNonceKey, NonceBuffer } from "./nonce.ts";

const TAG = 16;

const SYMBOLS = {
  sodium_init: { parameters: [], result: "i32" },
  // int (c, clen_p, m, mlen, ad, adlen, nsec, npub, k): ciphertext then tag, in-place allowed.
  crypto_aead_chacha20poly1305_ietf_encrypt: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "u64",
      "buffer",
      "u64",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  // int (m, mlen_p, nsec, c, clen, ad, adlen, npub, k): verifies the tag before writing m.
  crypto_aead_chacha20poly1305_ietf_decrypt: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "u64",
      "buffer",
      "u64",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  crypto_scalarmult_curve25519: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  crypto_scalarmult_curve25519_base: { parameters: ["buffer", "buffer"], result: "i32" },
  randombytes_buf: { parameters: ["buffer", "usize"], result: "void" },
} as const;

/**
 * The symbols as weft calls them. u64 lengths are passed as BigInts: the runtime takes plain
 * numbers too, but its fast call path for a u64 expects a BigInt, so optimised code given a number
 * deoptimises, over and over (each time slower, and allocating, until optimised again). The
 * BigInts come from {@link bigLength}, made once per length, so no call allocates one.
 */
interface Lib {
  sodium_init(): number;
  crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    clenP: null,
    m: Uint8Array,
    mlen: bigint,
    ad: Uint8Array | null,
    adlen: bigint,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    mlenP: null,
    nsec: null,
    c: Uint8Array,
    clen: bigint,
    ad: Uint8Array | null,
    adlen: bigint,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_scalarmult_curve25519(q: Uint8Array, n: Uint8Array, p: Uint8Array): number;
  crypto_scalarmult_curve25519_base(q: Uint8Array, n: Uint8Array): number;
  randombytes_buf(buf: Uint8Array, size: number): void;
}

/** Where libsodium is looked for, in order; bare names go through the dynamic loader's search. */
function candidates(): string[] {
  switch (Deno.build.os) {
    case "darwin":
      return [
        "libsodium.dylib",
        "libsodium.26.dylib",
        "libsodium.23.dylib",
        "/opt/homebrew/lib/libsodium.dylib",
        "/usr/local/lib/libsodium.dylib",
      ];
    case "windows":
      return ["libsodium.dll", "sodium.dll"];
    default:
      return ["libsodium.so.23", "libsodium.so.26", "libsodium.so"];
  }
}

/** BigInts of the lengths passed so far, by length (see {@link Lib}). */
const bigLengths: bigint[] = [];

/** `n` as a BigInt, made the first time that length is seen and reused after. */
function bigLength(n: number): bigint {
  let b = bigLengths[n];
  if (b === undefined) {
    b = BigInt(n);
    // Packets are at most 64 KiB (and tags): past that, make one each time rather than keep it.
    if (n <= 0x10100) bigLengths[n] = b;
  }
  return b;
}

/** A ChaCha20-Poly1305 key on libsodium. */
class SodiumKey implements ExplicitNonceKey {
  readonly #lib: Lib;
  readonly #key: Uint8Array;
  readonly #nonce = new NonceBuffer();

  constructor(lib: Lib, raw: Uint8Array) {
    assertKey32(raw);
    this.#lib = lib;
    this.#key = raw.slice();
  }

  seal(counter: number, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void {
    this.sealWithNonce(this.#nonce.set(counter), src, dst, ad);
  }

  open(counter: number, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean {
    return this.openWithNonce(this.#nonce.set(counter), src, dst, ad);
  }

  sealWithNonce(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void {
    // C reads and writes blindly, so these lengths are what keeps memory safe here.
    if (nonce.length !== 12) throw new RangeError("nonce must be 12 bytes");
    if (dst.length !== src.length + TAG) {
      throw new RangeError(`seal: dst must be ${src.length + TAG} bytes, got ${dst.length}`);
    }
    this.#lib.crypto_aead_chacha20poly1305_ietf_encrypt(
      dst,
      null,
      src,
      bigLength(src.length),
      ad ?? null,
      bigLength(ad === undefined ? 0 : ad.length),
      null,
      nonce,
      this.#key,
    );
  }

  /**
   * libsodium verifies the tag before decrypting, and on a forgery zeroes `dst`; opened in place,
   * a forged packet's ciphertext is therefore wiped (it is dropped anyway).
   */
  openWithNonce(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean {
    if (nonce.length !== 12) throw new RangeError("nonce must be 12 bytes");
    if (src.length < TAG || dst.length !== src.length - TAG) return false;
    return this.#lib.crypto_aead_chacha20poly1305_ietf_decrypt(
      dst,
      null,
      null,
      src,
      bigLength(src.length),
      ad ?? null,
      bigLength(ad === undefined ? 0 : ad.length),
      nonce,
      this.#key,
    ) === 0;
  }

  destroy(): void {
    this.#key.fill(0);
  }
}

function makeSuite(lib: Lib): { aead: ExplicitNonceAead; dh: Dh } {
  const aead: ExplicitNonceAead = {
    name: "sodium",
    key: (raw: Uint8Array): ExplicitNonceKey => new SodiumKey(lib, raw),
  };
  const dh: Dh = {
    name: "sodium",
    generatePrivate: (): Uint8Array => {
      const k = new Uint8Array(32);
      lib.randombytes_buf(k, 32);
      return clamp(k);
    },
    publicKey: (privateKey: Uint8Array): Uint8Array => {
      assertKey32(privateKey, "private key");
      const out = new Uint8Array(32);
      if (lib.crypto_scalarmult_curve25519_base(out, privateKey) !== 0) {
        throw new Error("X25519: invalid private key");
      }
      return out;
    },
    shared: (privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array => {
      assertKey32(privateKey, "private key");
      assertKey32(publicKey, "public key");
      const out = new Uint8Array(32);
      // libsodium returns -1 exactly when the result is all zeros (a low-order point).
      if (lib.crypto_scalarmult_curve25519(out, privateKey, publicKey) !== 0 || isZero(out)) {
        throw lowOrderError();
      }
      return out;
    },
  };
  return { aead, dh };
}

let loaded: { aead: ExplicitNonceAead; dh: Dh } | null | undefined;

/**
 * libsodium's AEAD and DH, or null when the library cannot be loaded (absent, too old, or FFI
 * not permitted). Never throws for those cases; the result is cached.
 */
export function loadSodium(): { aead: ExplicitNonceAead; dh: Dh } | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  // Checking first avoids an interactive permission prompt when FFI was not granted.
  let state: Deno.PermissionState;
  try {
    state = Deno.permissions.querySync({ name: "ffi" }).state;
  } catch {
    return loaded;
  }
  if (state !== "granted") return loaded;
  for (const path of candidates()) {
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen(path, SYMBOLS);
    } catch {
      continue; // missing file, or a libsodium lacking one of the symbols
    }
    // 0: initialised now, 1: already initialised; -1: failed (no entropy source).
    if (lib.symbols.sodium_init() < 0) {
      lib.close();
      continue;
    }
    loaded = makeSuite(lib.symbols as unknown as Lib);
    break;
  }
  return loaded;
}
