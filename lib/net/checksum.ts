/**
 * The Internet checksum (RFC 1071) in a form that composes, for the userspace stack and the TUN
 * offload paths alike: a sum of one range is the `initial` of the next, so a pseudo-header, a
 * header and a payload can be summed apart (all pieces but the last of even length); `finish`
 * folds and complements once, and `adjustChecksum` patches a stored checksum after a 16-bit field
 * changes (RFC 1624).
 *
 * Two ways to sum a range, both allocation-free: `sum16`, a byte loop whose sum stays unfolded
 * (exact, for short ranges and any buffer), and `checksumAdd`, folded, which reads 32 bytes per
 * step as eight 32-bit loads for the offload paths' ranges of up to 64 KB. The latter reads aligned
 * words in the host's byte order through a `Uint32Array` over the buffer (made once per buffer and
 * cached, so callers that keep their packets in one ArrayBuffer never make a view) and byte-swaps
 * the folded result, which RFC 1071 (section 2.B) allows. Over a buffer from
 * `simdChecksumBuffer` (./checksum_simd.ts), a WebAssembly memory, it sums in WebAssembly SIMD.
 * @module
 */

import { type SimdSum, simdSumOf } from "./checksum_simd.ts";

export { simdChecksumBuffer } from "./checksum_simd.ts";

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Adds `length` bytes of `data` from `offset`, as big-endian 16-bit words, to `initial` without
 * folding. A trailing odd byte counts as the high byte of a zero-padded word.
 */
export function sum16(data: Uint8Array, offset: number, length: number, initial = 0): number {
  let sum = initial;
  const end = offset + (length & ~1);
  let i = offset;
  for (; i < end; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (length & 1) sum += data[i] << 8;
  return sum;
}

/** Folds a non-negative unfolded sum (below 2^53) into 16 bits with end-around carry. */
export function fold(sum: number): number {
  // Sums can pass 2^32 when callers chain many buffers, so the carry is taken with division.
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** Folds and complements an unfolded sum: the value to store in a checksum field. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

let cachedBuffer: ArrayBufferLike | null = null;
let cachedWords: Uint32Array = new Uint32Array(0);
/** The cached buffer's SIMD sum, when it is a WebAssembly memory (./checksum_simd.ts). */
let cachedSimd: SimdSum | null = null;
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
    cachedSimd = simdSumOf(buffer);
    cachedBuffer = buffer;
  }
  return cachedWords;
}

function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/**
 * The one's complement sum of `length` bytes of `data` from `offset` (as `sum16`) added to
 * `initial` (folded or not), folded to 16 bits: a nonzero sum is never folded to 0, so a range
 * carrying its valid checksum sums to 0xffff. Fast on long ranges of long-lived buffers (see the
 * module docs). The range must lie within `data`.
 */
export function checksumAdd(
  data: Uint8Array,
  offset: number,
  length: number,
  initial = 0,
): number {
  if (length < 32 || !LITTLE_ENDIAN) return fold(sum16(data, offset, length, initial));
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
  let s = 0;
  const simd = cachedSimd;
  if (simd !== null) {
    // A WebAssembly memory (simdChecksumBuffer): 16 bytes a step there, the last words here.
    const bytes = ((kEnd - k) & ~3) << 2;
    s = simd(k << 2, bytes);
    k += bytes >>> 2;
  } else {
    // Eight words a step summed as a tree: the adds within a step do not wait on each other and
    // the loop's own work is paid once per 32 bytes: a fifth less CPU on 1,400-byte packets than
    // four words a step in a chain. Sums stay exact: 64 KB of words is below 2^47.
    const kEnd8 = kEnd - 7;
    for (; k < kEnd8; k += 8) {
      s += ((words[k] + words[k + 1]) + (words[k + 2] + words[k + 3])) +
        ((words[k + 4] + words[k + 5]) + (words[k + 6] + words[k + 7]));
    }
  }
  for (; k < kEnd; k++) s += words[k];
  // Little-endian words sum to the byte-swapped big-endian sum; an odd head shifts the pairing,
  // which swaps it back.
  let mid = fold(s);
  if (!odd) mid = swap16(mid);
  i = (k << 2) - base;
  let tail = 0;
  for (; i < end; i++) {
    tail += odd ? data[i] : data[i] << 8;
    odd ^= 1;
  }
  return fold(initial + head + mid + tail);
}

/** The Internet checksum of `length` bytes of `data` from `offset`. */
export function internetChecksum(
  data: Uint8Array,
  offset = 0,
  length = data.length - offset,
): number {
  return finish(sum16(data, offset, length));
}

/**
 * Updates a stored checksum after one 16-bit word covered by it changed from `oldWord` to
 * `newWord` (RFC 1624, eqn. 3), without re-summing the data.
 */
export function adjustChecksum(checksum: number, oldWord: number, newWord: number): number {
  return finish((~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff));
}

/**
 * The checksum of the IPv4 header at `ip` in `packet` (`headerLength` bytes, by default as its
 * IHL says), computed as if its checksum field (bytes 10-11) were zero: store it there, or compare
 * it with the stored value.
 */
export function ipv4HeaderChecksum(
  packet: Uint8Array,
  ip = 0,
  headerLength: number = (packet[ip] & 0x0f) * 4,
): number {
  return finish(sum16(packet, ip + 12, headerLength - 12, sum16(packet, ip, 10)));
}

/**
 * The folded sum of the IPv4 pseudo-header (RFC 768) of the packet whose IP header starts at `ip`
 * in `packet`: its source and destination addresses, `protocol` and the upper-layer `length`.
 */
export function pseudoHeaderSumV4(
  packet: Uint8Array,
  ip: number,
  protocol: number,
  length: number,
): number {
  return fold(sum16(packet, ip + 12, 8, protocol + length));
}

/**
 * The folded sum of the IPv6 pseudo-header (RFC 8200 section 8.1) of the packet whose IP header
 * starts at `ip` in `packet`: its addresses, the 32-bit upper-layer `length` and `nextHeader`.
 */
export function pseudoHeaderSumV6(
  packet: Uint8Array,
  ip: number,
  nextHeader: number,
  length: number,
): number {
  return fold(sum16(packet, ip + 8, 32, nextHeader + (length >>> 16) + (length & 0xffff)));
}

/**
 * The checksum of an upper-layer segment (UDP, TCP) of an IPv4 packet, pseudo-header included.
 * With the segment's checksum field zeroed this is the value to store; over a segment that
 * carries its checksum it is 0 exactly when that checksum is valid.
 */
export function l4ChecksumV4(
  packet: Uint8Array,
  protocol: number,
  offset: number,
  length: number,
): number {
  // Word loads (checksumAdd): a leader checksums every datagram it tells its members, and the
  // byte loop was a tenth of its time telling a full mesh.
  return finish(
    checksumAdd(packet, offset, length, pseudoHeaderSumV4(packet, 0, protocol, length)),
  );
}

/**
 * The checksum of an upper-layer segment (UDP, TCP, ICMPv6) of an IPv6 packet, pseudo-header
 * included; same conventions as `l4ChecksumV4`.
 */
export function l4ChecksumV6(
  packet: Uint8Array,
  nextHeader: number,
  offset: number,
  length: number,
): number {
  return finish(
    checksumAdd(packet, offset, length, pseudoHeaderSumV6(packet, 0, nextHeader, length)),
  );
}
