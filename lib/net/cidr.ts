/**
 * CIDR prefixes (`10.0.0.0/24`, `fd00::/64`), as used for allowed IPs and interface addresses.
 * @module
 */

import { formatAddress, parseAddress, readUint32 } from "./ip.ts";

/** Keeps the first `bits` bits of `bytes` and clears the rest, in place. */
export function maskBytes(bytes: Uint8Array, bits: number): Uint8Array {
  for (let i = 0; i < bytes.length; i++) {
    const keep = bits - 8 * i;
    if (keep >= 8) continue;
    bytes[i] = keep <= 0 ? 0 : bytes[i] & (0xff << (8 - keep));
  }
  return bytes;
}

/** An address prefix: `network` is the address with host bits cleared, `address` as written. */
export class Cidr {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** The prefix length. */
  readonly bits: number;
  /** The address as given, host bits included (an interface address keeps its host part). */
  readonly address: Uint8Array;
  /** The address with the host bits cleared. */
  readonly network: Uint8Array;

  /** A prefix of `bits` bits over a 4- or 16-byte address; throws on a bad length or bit count. */
  constructor(address: Uint8Array, bits: number) {
    if (address.length !== 4 && address.length !== 16) {
      throw new RangeError(`an IP address has 4 or 16 bytes, not ${address.length}`);
    }
    const max = address.length * 8;
    if (!Number.isInteger(bits) || bits < 0 || bits > max) {
      throw new RangeError(`prefix length ${bits} is out of range 0-${max}`);
    }
    this.family = address.length === 4 ? 4 : 6;
    this.bits = bits;
    this.address = address.slice();
    this.network = maskBytes(address.slice(), bits);
  }

  /**
   * Parses `address/bits`; a bare address is a single-host prefix (/32 or /128), as `wg` accepts.
   * Throws an Error naming the problem.
   */
  static parse(text: string): Cidr {
    const t = text.trim();
    const slash = t.indexOf("/");
    const addrText = slash < 0 ? t : t.slice(0, slash);
    const address = parseAddress(addrText);
    if (address === null) throw new Error(`invalid CIDR "${text}": bad IP address "${addrText}"`);
    const max = address.length * 8;
    if (slash < 0) return new Cidr(address, max);
    const bitsText = t.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) {
      throw new Error(`invalid CIDR "${text}": bad prefix length "${bitsText}"`);
    }
    const bits = Number(bitsText);
    if (bits > max) {
      throw new Error(`invalid CIDR "${text}": prefix length ${bits} exceeds ${max}`);
    }
    return new Cidr(address, bits);
  }

  /** Like `parse`, but null instead of throwing. */
  static tryParse(text: string): Cidr | null {
    try {
      return Cidr.parse(text);
    } catch {
      return null;
    }
  }

  /** The number of address bits of the family: 32 or 128. */
  get maxBits(): number {
    return this.family === 4 ? 32 : 128;
  }

  /** True when the address as given has bits set past the prefix (e.g. `10.0.0.1/24`). */
  get hasHostBits(): boolean {
    for (let i = 0; i < this.address.length; i++) {
      if (this.address[i] !== this.network[i]) return true;
    }
    return false;
  }

  /** True when the address of the same family in `bytes` at `offset` is inside this prefix. */
  contains(bytes: Uint8Array, offset = 0): boolean {
    const n = this.network;
    const full = this.bits >> 3;
    for (let i = 0; i < full; i++) if (bytes[offset + i] !== n[i]) return false;
    const rest = this.bits & 7;
    if (rest === 0) return true;
    const mask = 0xff << (8 - rest) & 0xff;
    return (bytes[offset + full] & mask) === n[full];
  }

  /** True when the text address is inside this prefix (false for the other family or bad text). */
  containsText(text: string): boolean {
    const a = parseAddress(text);
    return a !== null && a.length === this.address.length && this.contains(a);
  }

  /** True when the IPv4 address `value` (unsigned 32-bit) is inside this IPv4 prefix. */
  containsV4(value: number): boolean {
    if (this.family !== 4) return false;
    if (this.bits === 0) return true;
    const mask = (-1 << (32 - this.bits)) >>> 0;
    return ((value & mask) >>> 0) === readUint32(this.network, 0);
  }

  /** True when the two prefixes share at least one address. */
  overlaps(other: Cidr): boolean {
    if (other.family !== this.family) return false;
    return this.bits <= other.bits ? this.contains(other.network) : other.contains(this.network);
  }

  /** True when both are the same network and length (host bits of `address` are ignored). */
  equals(other: Cidr): boolean {
    return other.family === this.family && other.bits === this.bits &&
      other.network.every((b, i) => b === this.network[i]);
  }

  /** The number of addresses in the prefix. */
  get size(): bigint {
    return 1n << BigInt(this.maxBits - this.bits);
  }

  /** The address `index` places after the network address; throws if outside the prefix. */
  addressAt(index: bigint | number): Uint8Array {
    const i = BigInt(index);
    if (i < 0n || i >= this.size) throw new RangeError(`index ${i} is outside ${this}`);
    const out = this.network.slice();
    let carry = i;
    for (let k = out.length - 1; k >= 0 && carry > 0n; k--) {
      const sum = BigInt(out[k]) + (carry & 0xffn);
      out[k] = Number(sum & 0xffn);
      carry = (carry >> 8n) + (sum >> 8n);
    }
    return out;
  }

  /**
   * The first assignable host: the address after the network address, except for single-address
   * prefixes and IPv4 /31 (RFC 3021) and IPv6 /127 (RFC 6164), where every address is a host.
   */
  firstHost(): Uint8Array {
    return this.size <= 2n ? this.network.slice() : this.addressAt(1n);
  }

  /**
   * The last assignable host: for IPv4 the address before the broadcast address; for IPv6, which
   * has no broadcast, the last address. Small prefixes as in `firstHost`.
   */
  lastHost(): Uint8Array {
    const size = this.size;
    if (size <= 2n) return this.addressAt(size - 1n);
    return this.addressAt(this.family === 4 ? size - 2n : size - 1n);
  }

  /** Canonical text: the network address and prefix length. */
  toString(): string {
    return `${formatAddress(this.network)}/${this.bits}`;
  }

  /** The address as given with its prefix length, e.g. `10.0.0.1/24` for an interface address. */
  addressString(): string {
    return `${formatAddress(this.address)}/${this.bits}`;
  }
}
