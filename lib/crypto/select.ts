/**
 * Picks the crypto backends a device uses: by name when configured, otherwise the fastest ones
 * that load here. Preference orders come from scripts/bench/crypto.ts.
 * @module
 */

import type { Aead, BackendName, CryptoSuite, Dh } from "./types.ts";
import { nobleAead, nobleDh } from "./noble.ts";
import { nodeAead, nodeDh } from "./node.ts";
import { loadSodium } from "./sodium.ts";
import { equalBytes } from "./bytes.ts";

/** Every backend name weft knows. */
export const BACKEND_NAMES: readonly BackendName[] = ["noble", "node", "sodium"];

/**
 * AEAD preference, fastest first. libsodium works in place with no per-call allocation; node's
 * cipher objects cost a few allocations per packet but run native code; noble is pure JS.
 * Measured (Deno 2.9, x86_64, 1420-byte in-place seal): sodium ~575k, node ~130k, noble ~34k pkt/s.
 */
const AEAD_ORDER: readonly BackendName[] = ["sodium", "node", "noble"];

/**
 * X25519 preference, fastest first. Measured shared() rate (Deno 2.9, x86_64): sodium ~33k,
 * node ~15k, noble ~2.5k ops/s.
 */
const DH_ORDER: readonly BackendName[] = ["sodium", "node", "noble"];

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
 * DH, named "aead+dh" when they differ.
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
        : "node:crypto lacks chacha20-poly1305 or X25519 in this runtime";
      throw new Error(
        `crypto backend "${force}" is not available: ${why}; available: ${
          availableBackends().join(", ")
        }`,
      );
    }
    return s;
  }
  const aead = first(AEAD_ORDER).aead;
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
