/**
 * Recognises a node's own control traffic in plaintext IP packets: UDP addressed to one of its
 * overlay addresses on one of weft's ports (inbound), or sent from one of them and such a port
 * (outbound). Only that is weft's; a datagram that merely uses the port number toward or from
 * another address is ordinary traffic, which a network policy judges like any other.
 * @module
 */

import { parseAddress } from "./ip.ts";

/** Matches UDP to or from a node's own overlay addresses on its control ports. */
export class ControlTraffic {
  readonly #v4: Uint8Array | null;
  readonly #v6: Uint8Array | null;
  // At most three ports, in fields: one compare each per packet and no loop.
  readonly #port: number;
  readonly #port2: number;
  readonly #port3: number;

  /**
   * The node's overlay addresses (without prefix length) and its control ports (one to three).
   * @example
   * ```ts
   * const own = new ControlTraffic({ ipv4: "10.200.0.2" }, 51821);
   * own.toSelf(packet, packet.length); // UDP to 10.200.0.2:51821
   * ```
   */
  constructor(addresses: { ipv4?: string; ipv6?: string }, ports: number | readonly number[]) {
    const list = typeof ports === "number" ? [ports] : ports;
    if (list.length < 1 || list.length > 3) {
      throw new RangeError("one to three ports are set aside");
    }
    this.#port = list[0];
    this.#port2 = list.length > 1 ? list[1] : list[0];
    this.#port3 = list.length > 2 ? list[2] : list[0];
    this.#v4 = addresses.ipv4 ? parseAddress(addresses.ipv4) : null;
    this.#v6 = addresses.ipv6 ? parseAddress(addresses.ipv6) : null;
    if (addresses.ipv4 && this.#v4?.length !== 4) {
      throw new RangeError("ipv4 is not an IPv4 address");
    }
    if (addresses.ipv6 && this.#v6?.length !== 16) {
      throw new RangeError("ipv6 is not an IPv6 address");
    }
  }

  /** Whether the first `len` bytes of `p` are UDP to one of the ports at one of the addresses. */
  toSelf(p: Uint8Array, len: number): boolean {
    return this.#match(p, len, true);
  }

  /** Whether the first `len` bytes of `p` are UDP from one of the ports at one of the addresses. */
  fromSelf(p: Uint8Array, len: number): boolean {
    return this.#match(p, len, false);
  }

  #match(p: Uint8Array, len: number, to: boolean): boolean {
    if (len < 1) return false;
    const version = p[0] >> 4;
    if (version === 4) {
      const a = this.#v4;
      if (a === null || len < 28 || p[9] !== 17) return false;
      const ihl = (p[0] & 15) * 4;
      if (ihl < 20 || len < ihl + 8) return false;
      const at = ihl + (to ? 2 : 0);
      if (!this.#ours((p[at] << 8) | p[at + 1])) return false;
      const o = to ? 16 : 12;
      return p[o] === a[0] && p[o + 1] === a[1] && p[o + 2] === a[2] && p[o + 3] === a[3];
    }
    if (version === 6) {
      const a = this.#v6;
      // Extension headers are not followed: weft's own datagrams never carry any.
      if (a === null || len < 48 || p[6] !== 17) return false;
      const at = to ? 42 : 40;
      if (!this.#ours((p[at] << 8) | p[at + 1])) return false;
      const o = to ? 24 : 8;
      for (let i = 0; i < 16; i++) if (p[o + i] !== a[i]) return false;
      return true;
    }
    return false;
  }

  #ours(port: number): boolean {
    return port === this.#port || port === this.#port2 || port === this.#port3;
  }
}
