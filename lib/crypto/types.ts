/**
 * The small interfaces every crypto backend implements. The protocol code only talks to these,
 * so backends (pure TS, node:crypto, libsodium over FFI) can be swapped and tested against each
 * other.
 * @module
 */

/** The names of the AEAD/DH backends weft knows. */
export type BackendName = "noble" | "node" | "sodium" | "openssl";

/**
 * A ChaCha20-Poly1305 (RFC 8439) key bound to one backend. The nonce is WireGuard's: four zero
 * bytes followed by the 64-bit little-endian counter.
 *
 * `src` and `dst` may be the very same bytes (in-place, same offset) or disjoint; they must not
 * partially overlap. Implementations must not allocate per call where the backend allows it.
 */
export interface AeadKey {
  /** Encrypts `src` into `dst`, which is `src.length + 16` bytes long (ciphertext then tag). */
  seal(counter: number, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void;
  /** Decrypts `src` (ciphertext then tag) into `dst` (`src.length - 16` bytes); false when forged. */
  open(counter: number, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean;
  /** Overwrites the key material held by this object; it must not be used afterwards. */
  destroy(): void;
}

/** A ChaCha20-Poly1305 implementation. */
export interface Aead {
  /** Which backend this is. */
  readonly name: BackendName;
  /** Binds a 32-byte key; the returned object keeps its own copy of the key. */
  key(raw: Uint8Array): AeadKey;
}

/** An X25519 (RFC 7748) implementation. */
export interface Dh {
  /** Which backend this is. */
  readonly name: BackendName;
  /** A fresh, clamped 32-byte private key from a CSPRNG. */
  generatePrivate(): Uint8Array;
  /** The public key of a private key. */
  publicKey(privateKey: Uint8Array): Uint8Array;
  /**
   * The shared secret of `privateKey` and `publicKey`. Throws when the result is all zeros
   * (a low-order public key), as the WireGuard paper requires.
   */
  shared(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
}

/** The crypto a device uses: transport AEAD and handshake DH, chosen together or apart. */
export interface CryptoSuite {
  /** The transport-data cipher. */
  readonly aead: Aead;
  /** The handshake key agreement. */
  readonly dh: Dh;
}
