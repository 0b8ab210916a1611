/**
 * Backends on libsodium through Deno FFI. Typed arrays go straight to C as "buffer" arguments,
 * so seal/open allocate nothing per call. Loading is lazy and optional: without the library (or
 * without FFI permission) {@link loadSodium} returns null and weft falls back to other backends.
 * @module
 */

import type { Dh } from "./types.ts";
import { assertKey32, clamp, isZero, lowOrderError } from "./bytes.ts";
import { CounterNonceKey, type ExplicitNonceAead, type ExplicitNonceKey } from "./nonce.ts";
import { u64 } from "../io/u64.ts";
import { openFirstLibrary } from "./ffi_open.ts";

const TAG = 16;

/**
 * libsodium's ChaCha20-Poly1305 (and its initialiser) as weft declares it; the crypto worker pool
 * (lib/crypto/pool_kernel.ts) opens libsodium with just these.
 */
export const SODIUM_AEAD_SYMBOLS = {
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
} as const;

const SYMBOLS = {
  ...SODIUM_AEAD_SYMBOLS,
  crypto_scalarmult_curve25519: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  crypto_scalarmult_curve25519_base: { parameters: ["buffer", "buffer"], result: "i32" },
  randombytes_buf: { parameters: ["buffer", "usize"], result: "void" },
  // XChaCha20-Poly1305 (24-byte nonce), the argument lists of the IETF calls above.
  crypto_aead_xchacha20poly1305_ietf_encrypt:
    SODIUM_AEAD_SYMBOLS.crypto_aead_chacha20poly1305_ietf_encrypt,
  crypto_aead_xchacha20poly1305_ietf_decrypt:
    SODIUM_AEAD_SYMBOLS.crypto_aead_chacha20poly1305_ietf_decrypt,
} as const;

/**
 * The calls of {@link SODIUM_AEAD_SYMBOLS} as weft makes them. The u64 lengths go in as bigints:
 * Deno's fast FFI call takes a u64 as a BigInt, and a plain number sends every call down the slow
 * path (measured: ~20% more CPU per 1420-byte seal). The bigints come from a cache
 * (lib/io/u64.ts), so none is made per packet.
 */
export interface SodiumAeadLib {
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
}

/** Every symbol as weft calls it. */
interface Lib extends SodiumAeadLib {
  crypto_scalarmult_curve25519(q: Uint8Array, n: Uint8Array, p: Uint8Array): number;
  crypto_scalarmult_curve25519_base(q: Uint8Array, n: Uint8Array): number;
  randombytes_buf(buf: Uint8Array, size: number): void;
  crypto_aead_xchacha20poly1305_ietf_encrypt: SodiumAeadLib[
    "crypto_aead_chacha20poly1305_ietf_encrypt"
  ];
  crypto_aead_xchacha20poly1305_ietf_decrypt: SodiumAeadLib[
    "crypto_aead_chacha20poly1305_ietf_decrypt"
  ];
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

/**
 * A ChaCha20-Poly1305 key on libsodium. It keeps the key in `store`: its own copy, or 32 bytes
 * that the caller owns and shares (the crypto worker pool's key table, lib/crypto/worker_pool.ts),
 * wiped by {@link SodiumKey.destroy} either way.
 */
class SodiumKey extends CounterNonceKey {
  readonly #lib: Lib;
  readonly #key: Uint8Array;

  constructor(lib: Lib, store: Uint8Array) {
    super();
    assertKey32(store);
    this.#lib = lib;
    this.#key = store;
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
      u64(src.length),
      ad ?? null,
      u64(ad === undefined ? 0 : ad.length),
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
      u64(src.length),
      ad ?? null,
      u64(ad === undefined ? 0 : ad.length),
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
    key: (raw: Uint8Array): ExplicitNonceKey => new SodiumKey(lib, raw.slice()),
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
let loadedLib: Lib | null = null;

/** The symbols every libsodium opened here must have: the initialiser. */
type WithInit = {
  readonly sodium_init: { readonly parameters: readonly []; readonly result: "i32" };
};

/**
 * Opens libsodium with `symbols` (which must include `sodium_init`) and initialises it, or
 * returns null when it cannot (absent, too old, or FFI not permitted; never an interactive
 * permission prompt). Each call opens the library again: a Worker opens its own.
 */
export function openSodium<S extends Deno.ForeignLibraryInterface & WithInit>(
  symbols: S,
): Deno.DynamicLibrary<S> | null {
  // sodium_init: 0 initialised now, 1 already; -1 failed (no entropy source).
  return openFirstLibrary(
    candidates(),
    symbols,
    (lib) => (lib.symbols.sodium_init as () => number)() >= 0,
  );
}

/**
 * libsodium's AEAD and DH, or null when the library cannot be loaded (absent, too old, or FFI
 * not permitted). Never throws for those cases; the result is cached.
 */
export function loadSodium(): { aead: ExplicitNonceAead; dh: Dh } | null {
  if (loaded !== undefined) return loaded;
  const lib = openSodium(SYMBOLS);
  loadedLib = lib === null ? null : lib.symbols as unknown as Lib;
  loaded = loadedLib === null ? null : makeSuite(loadedLib);
  return loaded;
}

/**
 * A libsodium key that seals and opens with the 32 bytes in `store` in place, never a copy: for
 * key storage shared with other threads, where wiping `store` (as `destroy` does) wipes the only
 * copy. Null when libsodium cannot be loaded.
 */
export function sodiumKeyIn(store: Uint8Array): ExplicitNonceKey | null {
  if (loadSodium() === null) return null;
  return new SodiumKey(loadedLib!, store);
}

/** XChaCha20-Poly1305 in one call each way, allocating only the result. */
export interface XChaChaCalls {
  /** Seals `pt` under `key` (32 bytes) and `nonce` (24): ciphertext then the 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, ad: Uint8Array): Uint8Array;
  /** Opens ciphertext then tag; null when forged. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null;
}

/**
 * libsodium's XChaCha20-Poly1305 (about 1 µs for a cookie where @noble/ciphers takes 30 to 40:
 * a loaded leader seals a cookie reply for every join), or null when libsodium cannot be loaded.
 * The caller checks the key and nonce lengths: C reads them blindly.
 */
export function loadSodiumXChaCha(): XChaChaCalls | null {
  if (loadSodium() === null) return null;
  const lib = loadedLib!;
  return {
    seal(key, nonce, pt, ad) {
      const out = new Uint8Array(pt.length + TAG);
      lib.crypto_aead_xchacha20poly1305_ietf_encrypt(
        out,
        null,
        pt,
        u64(pt.length),
        ad,
        u64(ad.length),
        null,
        nonce,
        key,
      );
      return out;
    },
    open(key, nonce, sealed, ad) {
      if (sealed.length < TAG) return null;
      const out = new Uint8Array(sealed.length - TAG);
      const ok = lib.crypto_aead_xchacha20poly1305_ietf_decrypt(
        out,
        null,
        null,
        sealed,
        u64(sealed.length),
        ad,
        u64(ad.length),
        nonce,
        key,
      ) === 0;
      return ok ? out : null;
    },
  };
}
