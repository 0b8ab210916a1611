/**
 * Picks the crypto backends a device uses: by name when configured, otherwise the fastest ones
 * that load here. Preference orders come from scripts/bench/crypto.ts.
 * @module
 */

import type { Aead, BackendName, CryptoSuite, Dh } from "./types.ts";
import { nobleAead, nobleDh } from "./noble.ts";
import { nodeAead, nodeDh } from "./node.ts";
import { loadSodium } from "./sodium.ts";
import { loadOpenssl } from "./openssl.ts";
import { splitAead } from "./split.ts";
import { equalBytes } from "./bytes.ts";

/** Every backend name weft knows. */
export const BACKEND_NAMES: readonly BackendName[] = ["noble", "node", "openssl", "sodium"];

/**
 * AEAD preference, fastest first. OpenSSL's stitched ChaCha20-Poly1305 assembly and libsodium
 * both work in place with no per-call allocation; node's cipher objects cost a few allocations
 * per packet but run native code; noble is pure JS. Measured (Deno 2.9, x86_64, 1420-byte
 * in-place seal, CPU-µs): openssl 1.43, sodium 1.85 (seal and open: 2.9 and 3.6); node ~7.5,
 * noble ~30.
 */
const AEAD_ORDER: readonly BackendName[] = ["openssl", "sodium", "node", "noble"];

/**
 * X25519 preference, fastest first. Measured shared() (Deno 2.9, x86_64, CPU-µs): sodium ~35,
 * openssl ~98 (four EVP_PKEY objects made per call); node and noble slower still
 * (scripts/bench/crypto.ts).
 */
const DH_ORDER: readonly BackendName[] = ["sodium", "openssl", "node", "noble"];

let nodeOk: boolean | undefined;

/** True when node:crypto here has ChaCha20-Poly1305 and X25519 that actually work. */
function nodeWorks(): boolean {
  if (nodeOk !== undefined) return nodeOk;
  try {
    const k = nodeAead.key(new Uint8Array(32));
    const ct = new Uint8Array(17);
    k.seal(0, Uint8Array.of(42), ct);
    const pt = new Uint8Array(1);
    const priv = nobleDh.generatePrivate();
    nodeOk = k.open(0, ct, pt) && pt[0] === 42 &&
      equalBytes(nodeDh.publicKey(priv), nobleDh.publicKey(priv));
  } catch {
    nodeOk = false;
  }
  return nodeOk;
}

/** The AEAD and DH of one backend, or null when it is not available here. */
function backend(name: BackendName): { aead: Aead; dh: Dh } | null {
  switch (name) {
    case "noble":
      return { aead: nobleAead, dh: nobleDh };
    case "node":
      return nodeWorks() ? { aead: nodeAead, dh: nodeDh } : null;
    case "sodium":
      return loadSodium();
    case "openssl":
      return loadOpenssl();
    default:
      return null;
  }
}

/** The backends that load and work in this process, fastest AEAD first. */
export function availableBackends(): BackendName[] {
  return AEAD_ORDER.filter((n) => backend(n) !== null);
}

/** One backend's AEAD and DH as a suite, or null when that backend is not available here. */
export function suiteByName(name: BackendName): (CryptoSuite & { name: string }) | null {
  const b = backend(name);
  return b === null ? null : { name, aead: b.aead, dh: b.dh };
}

/**
 * The suite to use. With `force`, exactly that backend for both AEAD and DH (throws when it is
 * unknown or cannot load here); without, the fastest available AEAD and the fastest available
 * DH, named "aead+dh" when they differ. Unforced with both OpenSSL and libsodium here, the AEAD is
 * OpenSSL's for messages of `SPLIT_AT` (128) bytes and more and libsodium's below (lib/crypto/split.ts).
 */
export function selectSuite(force?: BackendName): CryptoSuite & { name: string } {
  if (force !== undefined) {
    if (!BACKEND_NAMES.includes(force)) {
      throw new Error(
        `unknown crypto backend "${force}" (expected one of: ${BACKEND_NAMES.join(", ")})`,
      );
    }
    const s = suiteByName(force);
    if (s === null) {
      const why = force === "sodium"
        ? "libsodium could not be loaded (not installed, or FFI not permitted: run with --allow-ffi)"
        : force === "openssl"
        ? "libcrypto 3 could not be loaded (not installed, or FFI not permitted: run with --allow-ffi)"
        : "node:crypto lacks chacha20-poly1305 or X25519 in this runtime";
      throw new Error(
        `crypto backend "${force}" is not available: ${why}; available: ${
          availableBackends().join(", ")
        }`,
      );
    }
    return s;
  }
  const best = first(AEAD_ORDER).aead;
  const ossl = best.name === "openssl" ? loadOpenssl() : null;
  const sodium = ossl !== null ? loadSodium() : null;
  // With both libraries, short messages (a ping, a TCP ACK) go to libsodium: one FFI call.
  const aead = ossl !== null && sodium !== null ? splitAead(sodium.aead, ossl.aead) : best;
  const dh = first(DH_ORDER).dh;
  const name = aead.name === dh.name ? aead.name : `${aead.name}+${dh.name}`;
  return { name, aead, dh };
}

function first(order: readonly BackendName[]): { aead: Aead; dh: Dh } {
  for (const n of order) {
    const b = backend(n);
    if (b !== null) return b;
  }
  // noble is pure TS and always present, so this is unreachable in practice.
  return { aead: nobleAead, dh: nobleDh };
}
