/**
 * The key a per-source rate limit counts an underlay address under: IPv6 sources by their /64.
 * @module
 */

import { formatAddressV4, parseAddressV6 } from "./ip.ts";

/**
 * The key a source address is limited by: an IPv4 address itself, an IPv6 address its /64 (as
 * the kernel's WireGuard keys its limiter). A host commonly holds a whole /64: counted per
 * address it could pass for 2^64 sources, each with a fresh burst, and fill the table.
 * @example
 * ```ts
 * import { sourceKey } from "./source_key.ts";
 * sourceKey("192.0.2.7"); // "192.0.2.7"
 * sourceKey("2001:db8:0:1::7"); // "2001:db8:0:1::/64"
 * sourceKey("::ffff:192.0.2.7"); // "192.0.2.7"
 * ```
 */
export function sourceKey(address: string): string {
  if (!address.includes(":")) return address;
  const zone = address.indexOf("%");
  const b = parseAddressV6(zone < 0 ? address : address.slice(0, zone));
  if (b === null) return address;
  // IPv4-mapped (::ffff:a.b.c.d): the IPv4 address it carries.
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return formatAddressV4(b, 12);
  }
  const group = (i: number) => ((b[i] << 8) | b[i + 1]).toString(16);
  return `${group(0)}:${group(2)}:${group(4)}:${group(6)}::/64`;
}
