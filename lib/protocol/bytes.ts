/**
 * Little-endian field access on packet buffers without a DataView per packet.
 * @module
 */

/** Reads an unsigned 32-bit little-endian integer. */
export function readU32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

/** Writes an unsigned 32-bit little-endian integer. */
export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v;
  b[off + 1] = v >>> 8;
  b[off + 2] = v >>> 16;
  b[off + 3] = v >>> 24;
}

/** Reads a 64-bit little-endian counter; returns -1 when it does not fit a safe integer. */
export function readCounter(b: Uint8Array, off: number): number {
  const lo = readU32(b, off);
  const hi = readU32(b, off + 4);
  if (hi >= 0x200000) return -1;
  return hi * 0x100000000 + lo;
}

/** Writes a counter (a safe integer) as 64-bit little-endian. */
export function writeCounter(b: Uint8Array, off: number, v: number): void {
  writeU32(b, off, v >>> 0);
  writeU32(b, off + 4, Math.floor(v / 0x100000000));
}

/** Overwrites a buffer with zeros (for key material). */
export function wipe(...bufs: (Uint8Array | null | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}
