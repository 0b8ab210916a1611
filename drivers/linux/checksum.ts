/**
 * The Internet checksum (RFC 1071) for the TUN offload paths, where it runs over up to 64 KB per
 * packet: 16 bytes per loop step as four 32-bit loads, no allocation.
 *
 * Sums are one's complement sums folded to 16 bits (0..0xffff) and compose: the result of one call
 * is the `initial` of the next, so a pseudo-header, a header and a payload may be summed apart (all
 * pieces but the last must have an even length). {@link checksumFinish} complements the result into
 * the value to store.
 *
 * The fast path reads aligned 32-bit words in the host's byte order through a `Uint32Array` over
 * the buffer (cached per buffer, so a caller that keeps its packets in one ArrayBuffer never makes
 * a view) and byte-swaps the folded result, which RFC 1071 (section 2.B) allows.
 * @module
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

let cachedBuffer: ArrayBufferLike | null = null;
let cachedWords: Uint32Array = new Uint32Array(0);
/**
 * Every buffer's words, so callers alternating between buffers (two TUNs' arenas in one process,
 * say) make no view each time they switch; a buffer's entry goes with the buffer.
 */
const wordsByBuffer = new WeakMap<ArrayBufferLike, Uint32Array>();

function wordsOf(buffer: ArrayBufferLike): Uint32Array {
  if (buffer !== cachedBuffer) {
    let words = wordsByBuffer.get(buffer);
    if (words === undefined) {
      words = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
      wordsByBuffer.set(buffer, words);
    }
    cachedWords = words;
    cachedBuffer = buffer;
  }
  return cachedWords;
}

/** Folds a non-negative sum (below 2^53) to 16 bits with end-around carry. */
export function checksumFold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The value to store in a checksum field for a folded (or unfolded) sum: its complement. */
export function checksumFinish(sum: number): number {
  return ~checksumFold(sum) & 0xffff;
}

function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/**
 * The one's complement sum of `length` bytes of `data` from `offset` (big-endian 16-bit words; an
 * odd last byte is the high byte of a zero-padded word) added to `initial`, folded to 16 bits.
 * The range must lie within `data`.
 */
export function checksumAdd(
  data: Uint8Array,
  offset: number,
  length: number,
  initial = 0,
): number {
  if (length < 32 || !LITTLE_ENDIAN) return sumBytes(data, offset, length, initial);
  const base = data.byteOffset;
  let i = offset;
  const end = offset + length;
  // Bytes before the first 4-aligned address, paired from `offset`.
  let head = 0;
  let odd = 0;
  while (((base + i) & 3) !== 0) {
    head += odd ? data[i] : data[i] << 8;
    odd ^= 1;
    i++;
  }
  const words = wordsOf(data.buffer);
  let k = (base + i) >>> 2;
  const kEnd = (base + end) >>> 2;
  const kEnd4 = kEnd - 3;
  let s = 0;
  for (; k < kEnd4; k += 4) s += words[k] + words[k + 1] + words[k + 2] + words[k + 3];
  for (; k < kEnd; k++) s += words[k];
  // Little-endian words sum to the byte-swapped big-endian sum; an odd head shifts the pairing,
  // which swaps it back.
  let mid = checksumFold(s);
  if (!odd) mid = swap16(mid);
  i = (k << 2) - base;
  let tail = 0;
  for (; i < end; i++) {
    tail += odd ? data[i] : data[i] << 8;
    odd ^= 1;
  }
  return checksumFold(initial + head + mid + tail);
}

/** The plain byte loop, for short ranges and big-endian hosts. */
function sumBytes(data: Uint8Array, offset: number, length: number, initial: number): number {
  let s = initial;
  let i = offset;
  const end2 = offset + (length & ~1);
  for (; i < end2; i += 2) s += (data[i] << 8) | data[i + 1];
  if (length & 1) s += data[i] << 8;
  return checksumFold(s);
}

/**
 * The folded sum of the IPv4 pseudo-header of the packet whose IP header starts at `ip` in `pkt`:
 * its addresses, `protocol` and the transport `length`.
 */
export function pseudoHeaderV4(pkt: Uint8Array, ip: number, protocol: number, length: number) {
  return checksumFold(
    ((pkt[ip + 12] << 8) | pkt[ip + 13]) + ((pkt[ip + 14] << 8) | pkt[ip + 15]) +
      ((pkt[ip + 16] << 8) | pkt[ip + 17]) + ((pkt[ip + 18] << 8) | pkt[ip + 19]) +
      protocol + length,
  );
}

/**
 * The folded sum of the IPv6 pseudo-header of the packet whose IP header starts at `ip` in `pkt`:
 * its addresses, the 32-bit transport `length` and `nextHeader`.
 */
export function pseudoHeaderV6(pkt: Uint8Array, ip: number, nextHeader: number, length: number) {
  let s = nextHeader + (length >>> 16) + (length & 0xffff);
  for (let i = ip + 8; i < ip + 40; i += 2) s += (pkt[i] << 8) | pkt[i + 1];
  return checksumFold(s);
}

/**
 * The checksum of the IPv4 header at `ip` of `ihl` bytes, computed as if its checksum field were
 * zero: the value to store.
 */
export function ipv4HeaderChecksum(pkt: Uint8Array, ip: number, ihl: number): number {
  let s = 0;
  for (let i = ip; i < ip + ihl; i += 2) if (i !== ip + 10) s += (pkt[i] << 8) | pkt[i + 1];
  return checksumFinish(s);
}
