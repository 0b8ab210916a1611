/**
 * A packet device that sets aside weft's own traffic: UDP to this node's overlay address on the
 * control port (membership sync, probes) or another port of weft's (the service layer's) goes to
 * an in-process stack, everything else to the real device (TUN or the userspace stack). Works
 * the same in both modes, and the kernel never sees those ports.
 * @module
 */

import type { PacketDevice, PacketSink } from "../lib/io/driver.ts";
import { UserspaceStack } from "./userspace.ts";
import { parseAddress } from "../lib/net/ip.ts";

/** True for UDP to or from `port` (the mesh's control port: sync and probes, which policies never block). */
export function isControlTraffic(p: Uint8Array, port: number): boolean {
  const version = p[0] >> 4;
  let off: number;
  if (version === 4 && p.length >= 28 && p[9] === 17) off = (p[0] & 15) * 4;
  else if (version === 6 && p.length >= 48 && p[6] === 17) off = 40;
  else return false;
  if (p.length < off + 4) return false;
  return ((p[off] << 8) | p[off + 1]) === port || ((p[off + 2] << 8) | p[off + 3]) === port;
}

/** Splits control traffic from a device. */
export class SplitDevice implements PacketDevice {
  /** The in-process stack serving the control port (and weft's other ports). */
  readonly control: UserspaceStack;
  readonly #inner: PacketDevice;

  readonly #v4: Uint8Array | null;
  readonly #v6: Uint8Array | null;
  // At most two ports (the control and service ports), in fields: one compare each per packet.
  readonly #port: number;
  readonly #port2: number;
  /** The inner device's slot lent through {@link reserve}, until committed. */
  #lent: Uint8Array | null = null;

  /**
   * Sets aside UDP to `ports` (one, or two); `onError` gets the exceptions of the control
   * stack's datagram listeners.
   */
  constructor(
    inner: PacketDevice,
    addresses: { ipv4?: string; ipv6?: string },
    ports: number | readonly number[],
    onError?: (error: unknown) => void,
  ) {
    this.#inner = inner;
    const list = typeof ports === "number" ? [ports] : ports;
    if (list.length < 1 || list.length > 2) throw new RangeError("one or two ports are set aside");
    this.#port = list[0];
    this.#port2 = list.length > 1 ? list[1] : list[0];
    this.#v4 = addresses.ipv4 ? parseAddress(addresses.ipv4) : null;
    this.#v6 = addresses.ipv6 ? parseAddress(addresses.ipv6) : null;
    this.control = new UserspaceStack({
      ipv4: addresses.ipv4,
      ipv6: addresses.ipv6,
      mtu: inner.mtu,
      name: "control",
      onError,
    });
  }

  /** The inner device's name. */
  get name(): string {
    return this.#inner.name;
  }

  /** The inner device's MTU. */
  get mtu(): number {
    return this.#inner.mtu;
  }

  /** The wrapped device. */
  get inner(): PacketDevice {
    return this.#inner;
  }

  /** Starts both sides; both send into the same sink. */
  start(sink: PacketSink): void {
    this.control.start(sink);
    this.#inner.start(sink);
  }

  /** Routes a packet from the tunnel to the control stack or the inner device. */
  write(data: Uint8Array): void {
    this.#lent = null;
    if (this.#isControl(data, data.length)) this.control.write(data);
    else this.#inner.write(data);
  }

  /**
   * Lends the inner device's next write slot, when it lends any (PacketDevice.reserve). A packet
   * built there for the control stack goes to the stack at {@link commit} instead, copied (control
   * traffic is a few packets a second), and the slot is left to the next reservation.
   */
  reserve(max: number): Uint8Array | null {
    const inner = this.#inner;
    this.#lent = inner.reserve === undefined ? null : inner.reserve(max);
    return this.#lent;
  }

  /** Hands the packet built in the slot just lent to the control stack or the inner device. */
  commit(length: number): void {
    const slot = this.#lent;
    this.#lent = null;
    if (slot === null) throw new Error(`${this.name}: commit without a reserved slot`);
    if (this.#isControl(slot, length)) this.control.write(slot.slice(0, length));
    else this.#inner.commit!(length);
  }

  /** Ends a batch of writes on the inner device (the control stack writes at once). */
  flush(): void {
    this.#lent = null;
    this.#inner.flush?.();
  }

  /** Whether the `len` bytes at the start of `p` are control traffic for this node. */
  #isControl(p: Uint8Array, len: number): boolean {
    const version = p[0] >> 4;
    if (version === 4 && this.#v4 && len >= 28 && p[9] === 17) {
      const ihl = (p[0] & 15) * 4;
      if (len < ihl + 8) return false;
      if (!this.#ours((p[ihl + 2] << 8) | p[ihl + 3])) return false;
      const a = this.#v4;
      return p[16] === a[0] && p[17] === a[1] && p[18] === a[2] && p[19] === a[3];
    }
    if (version === 6 && this.#v6 && len >= 48 && p[6] === 17) {
      if (!this.#ours((p[42] << 8) | p[43])) return false;
      const a = this.#v6;
      for (let i = 0; i < 16; i++) if (p[24 + i] !== a[i]) return false;
      return true;
    }
    return false;
  }

  #ours(port: number): boolean {
    return port === this.#port || port === this.#port2;
  }

  /** Closes both sides. */
  async close(): Promise<void> {
    await Promise.allSettled([this.control.close(), this.#inner.close()]);
  }
}
