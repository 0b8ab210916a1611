/**
 * Small byte helpers shared by the crypto backends: argument checks, X25519 clamping, and
 * constant-time comparisons.
 * @module
 */

/** Throws unless `raw` is a 32-byte Uint8Array; `what` names it in the message. */
export function assertKey32(raw: Uint8Array, what = "key"): void {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) {
    const got = raw instanceof Uint8Array ? `${raw.length} bytes` : typeof raw;
    throw new Error(`${what} must be 32 bytes, got ${got}`);
  }
}

/** Clamps an X25519 scalar in place (RFC 7748 §5) and returns it. */
export function clamp(k: Uint8Array): Uint8Array {
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return k;
}

/** True when every byte of `b` is zero, in time independent of the contents. */
export function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i];
  return acc === 0;
}

/**
 * True when `a` and `b` hold the same bytes. The time depends only on the lengths, never on
 * where the first difference is (lengths are not secret for keys, MACs or tags).
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i] ^ b[i];
  return acc === 0;
}

/** The error every DH backend throws for a low-order public key, so callers see one message. */
export function lowOrderError(): Error {
  return new Error("X25519: low-order public key (all-zero shared secret)");
}
