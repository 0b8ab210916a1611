/**
 * The fleet simulator's hash of binary messages (see {@link hash53}).
 * @module
 */

/**
 * A 53-bit hash of `b` (cyrb53, over 32-bit words: a fourth of the multiplications of a byte at a
 * time) mixed with its length and first byte: the fleet simulator caches the binary messages it
 * parses by it. Every view part, manifest and piece a member receives from the leader is hashed
 * (what members hand each other is not: ./peer_links.ts), so it is the simulator's own cost per
 * such datagram.
 */
export function hash53(b: Uint8Array): number {
  let h1 = 0xdeadbeef ^ b.length;
  let h2 = 0x41c6ce57 ^ (b[0] << 16);
  const words = b.length & ~3;
  let i = 0;
  for (; i < words; i += 4) {
    const w = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
    h1 = Math.imul(h1 ^ w, 2654435761);
    h2 = Math.imul(h2 ^ w, 1597334677);
  }
  for (; i < b.length; i++) {
    h1 = Math.imul(h1 ^ b[i], 2654435761);
    h2 = Math.imul(h2 ^ b[i], 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
