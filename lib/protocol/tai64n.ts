/**
 * TAI64N timestamps for handshake initiations: 8 bytes of big-endian TAI64 label (2^62 + 10 + Unix
 * seconds, libtai's mapping, as the kernel and wireguard-go write it) and 4 bytes of big-endian
 * nanoseconds. Replay protection compares them as byte strings.
 * @module
 */

/** Size of a TAI64N timestamp. */
export const TAI64N_SIZE = 12;

const TAI_OFFSET_HI = 0x40000000; // 2^62 expressed as the high 32 bits
// TAI was 10 s ahead of UTC at the Unix epoch. Peers only compare our timestamps with each other,
// but the same key run by another implementation must not look 10 s older.
const TAI_MINUS_UTC = 10;
// Nanoseconds are rounded down to this so the timestamp does not leak a precise clock.
const WHITENING_NS = 0x1000000;

/** Writes the TAI64N form of `unixMs` into `dst` at `offset`. */
export function writeTai64n(unixMs: number, dst: Uint8Array, offset = 0): void {
  const unixSecs = Math.floor(unixMs / 1000);
  const nanos = Math.floor((unixMs - unixSecs * 1000) * 1e6);
  const whitened = nanos - (nanos % WHITENING_NS);
  const secs = unixSecs + TAI_MINUS_UTC;
  const hi = TAI_OFFSET_HI + Math.floor(secs / 2 ** 32);
  const lo = secs >>> 0;
  const v = new DataView(dst.buffer, dst.byteOffset + offset, TAI64N_SIZE);
  v.setUint32(0, hi);
  v.setUint32(4, lo);
  v.setUint32(8, whitened);
}

/** A fresh TAI64N timestamp of `unixMs`. */
export function tai64n(unixMs: number): Uint8Array {
  const out = new Uint8Array(TAI64N_SIZE);
  writeTai64n(unixMs, out);
  return out;
}

/** True when timestamp `a` is strictly later than `b` (both 12 bytes). */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TAI64N_SIZE; i++) {
    if (a[i] !== b[i]) return a[i] > b[i];
  }
  return false;
}
