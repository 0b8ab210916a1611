/**
 * The Internet checksum (RFC 1071) in a form that composes: `sum16` accumulates an unfolded sum so
 * a pseudo-header and a payload can be summed separately, `finish` folds and complements once, and
 * `adjustChecksum` patches a stored checksum after a 16-bit field changes (RFC 1624).
 * @module
 */

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

/** Folds an unfolded sum into 16 bits with end-around carry. */
export function fold(sum: number): number {
  // Sums can pass 2^32 when callers chain many buffers, so the carry is taken with division.
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** Folds and complements an unfolded sum: the value to store in a checksum field. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
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
 * The checksum of the IPv4 header at the start of `packet`, computed as if its checksum field
 * (bytes 10-11) were zero: store it there, or compare it with the stored value.
 */
export function ipv4HeaderChecksum(
  packet: Uint8Array,
  headerLength: number = (packet[0] & 0x0f) * 4,
): number {
  return finish(sum16(packet, 12, headerLength - 12, sum16(packet, 0, 10)));
}

/**
 * The unfolded sum of the IPv4 pseudo-header (RFC 768) for the packet at the start of `packet`:
 * its source and destination addresses, `protocol` and the upper-layer `length`.
 */
export function pseudoHeaderSumV4(packet: Uint8Array, protocol: number, length: number): number {
  return sum16(packet, 12, 8, protocol + length);
}

/**
 * The unfolded sum of the IPv6 pseudo-header (RFC 8200 section 8.1) for the packet at the start of
 * `packet`: its addresses, the 32-bit upper-layer `length` and `nextHeader`.
 */
export function pseudoHeaderSumV6(packet: Uint8Array, nextHeader: number, length: number): number {
  return sum16(packet, 8, 32, nextHeader + (length >>> 16) + (length & 0xffff));
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
  return finish(sum16(packet, offset, length, pseudoHeaderSumV4(packet, protocol, length)));
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
  return finish(sum16(packet, offset, length, pseudoHeaderSumV6(packet, nextHeader, length)));
}
