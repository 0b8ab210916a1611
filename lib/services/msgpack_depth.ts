/**
 * A walk over MessagePack bytes that builds nothing and says how deep containers nest, so a
 * message nested past a limit is refused before a decoder spends time and memory on it (a
 * 1 MiB run of one-element arrays is a million levels). The walk is linear in the bytes and
 * keeps one number per level, at most the limit's.
 * @module
 */

/**
 * Whether the MessagePack value at the start of `bytes` nests arrays and maps deeper than
 * `max` levels (a scalar is depth 0, `[1]` depth 1). Bytes that end inside a value, or use
 * the reserved 0xc1, are left for the decoder to refuse: for them this answers false.
 * @example
 * ```ts
 * nestedDeeperThan(Uint8Array.of(0x91, 0x91, 0x01), 1); // true: [[1]] is depth 2
 * ```
 */
export function nestedDeeperThan(bytes: Uint8Array, max: number): boolean {
  // left[d]: values still to come in the container open at depth d (a map's are keys and values).
  const left: number[] = [];
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i++];
    let items = -1; // the container's item count, or -1 for a scalar
    let skip = 0; // bytes of the scalar after its first byte
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) skip = 0;
    else if (b <= 0x8f) items = (b & 0x0f) * 2;
    else if (b <= 0x9f) items = b & 0x0f;
    else if (b <= 0xbf) skip = b & 0x1f;
    else {
      switch (b) {
        case 0xc4: // bin 8
        case 0xd9: // str 8
          if (i + 1 > n) return false;
          skip = 1 + bytes[i];
          break;
        case 0xc5:
        case 0xda:
          if (i + 2 > n) return false;
          skip = 2 + ((bytes[i] << 8) | bytes[i + 1]);
          break;
        case 0xc6:
        case 0xdb:
          if (i + 4 > n) return false;
          skip = 4 + readU32(bytes, i);
          break;
        case 0xc7: // ext 8: length, type, data
          if (i + 1 > n) return false;
          skip = 2 + bytes[i];
          break;
        case 0xc8:
          if (i + 2 > n) return false;
          skip = 3 + ((bytes[i] << 8) | bytes[i + 1]);
          break;
        case 0xc9:
          if (i + 4 > n) return false;
          skip = 5 + readU32(bytes, i);
          break;
        case 0xca:
          skip = 4;
          break;
        case 0xcb:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xd4:
          skip = 2;
          break;
        case 0xd5:
          skip = 3;
          break;
        case 0xd6:
          skip = 5;
          break;
        case 0xd7:
          skip = 9;
          break;
        case 0xd8:
          skip = 17;
          break;
        case 0xdc:
          if (i + 2 > n) return false;
          items = (bytes[i] << 8) | bytes[i + 1];
          skip = 2;
          break;
        case 0xdd:
          if (i + 4 > n) return false;
          items = readU32(bytes, i);
          skip = 4;
          break;
        case 0xde:
          if (i + 2 > n) return false;
          items = ((bytes[i] << 8) | bytes[i + 1]) * 2;
          skip = 2;
          break;
        case 0xdf:
          if (i + 4 > n) return false;
          items = readU32(bytes, i) * 2;
          skip = 4;
          break;
        default: // 0xc1: never used
          return false;
      }
    }
    i += skip;
    if (i > n) return false;
    // This value fills one place in the container around it.
    if (left.length > 0) left[left.length - 1]--;
    if (items > 0) {
      if (left.length >= max) return true;
      left.push(items);
    }
    while (left.length > 0 && left[left.length - 1] === 0) left.pop();
    if (left.length === 0) return false; // the value at the start is complete
  }
  return false;
}

function readU32(b: Uint8Array, i: number): number {
  return ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
}
