/**
 * A packet device that sets aside weft's own traffic: UDP to this node's overlay address on the
 * control port (membership sync, probes) or another port of weft's (the service layer's) goes to
 * an in-process stack, everything else to the real device (TUN or the userspace stack). Works
 * the same in both modes, and the kernel never sees those ports.
 * @module
 */

import type { PacketDevice, PacketDriverStats, PacketSink } from "../lib/io/driver.ts";
import { UserspaceStack } from "./userspace.ts";
import { ControlTraffic } from "../lib/net/control_traffic.ts";

/** Splits control traffic from a device. */
export class SplitDevice implements PacketDevice {
  /** The in-process stack serving the control port (and weft's other ports). */
  readonly control: UserspaceStack;
  readonly #inner: PacketDevice;

  /** UDP to this node's overlay addresses on the ports set aside. */
  readonly #ours: ControlTraffic;
  readonly #ports: number | readonly number[];
  /** The inner device's slot lent through {@link reserve}, until committed. */
  #lent: Uint8Array | null = null;

  /**
   * Sets aside UDP to `ports` (one to three); `onError` gets the exceptions of the control
   * stack's datagram listeners.
   */
  constructor(
    inner: PacketDevice,
    addresses: { ipv4?: string; ipv6?: string },
    ports: number | readonly number[],
    onError?: (error: unknown) => void,
  ) {
    this.#inner = inner;
    this.#ports = ports;
    this.#ours = new ControlTraffic(addresses, ports);
    this.control = new UserspaceStack({
      ipv4: addresses.ipv4,
      ipv6: addresses.ipv6,
      mtu: inner.mtu,
      name: "control",
      onError,
    });
  }

  /**
   * A split of the same ports around another device at other addresses, its control stack's
   * errors dropped: the agent's warm-up runs its packets through one (lib/agent/warm_up.ts).
   */
  twin(inner: PacketDevice, addresses: { ipv4?: string; ipv6?: string }): SplitDevice {
    return new SplitDevice(inner, addresses, this.#ports, () => {});
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
    if (this.#ours.toSelf(data, data.length) || this.#pingReply(data, data.length)) {
      this.control.write(data);
    } else this.#inner.write(data);
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
    if (this.#ours.toSelf(slot, length) || this.#pingReply(slot, length)) {
      this.control.write(slot.slice(0, length));
    } else this.#inner.commit!(length);
  }

  // A reply to the control stack's own ping (`weft ping` in TUN mode): looked at only while one
  // is pending, so the data path pays one comparison per packet otherwise.
  #pingReply(data: Uint8Array, length: number): boolean {
    return this.control.pingsPending > 0 && this.control.isPingReply(data, length);
  }

  /** Ends a batch of writes on the inner device (the control stack writes at once). */
  flush(): void {
    this.#lent = null;
    this.#inner.flush?.();
  }

  /** The inner device's report (the control stack's figures are the agent's to show). */
  driverStats(): PacketDriverStats | null {
    return this.#inner.driverStats?.() ?? null;
  }

  /** Closes both sides. */
  async close(): Promise<void> {
    await Promise.allSettled([this.control.close(), this.#inner.close()]);
  }
}
