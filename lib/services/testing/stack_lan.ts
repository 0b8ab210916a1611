/**
 * Test fixture: real userspace IP stacks (drivers/userspace.ts) joined by a memory router that
 * hands each IPv4 packet to the stack owning its destination, a macrotask later (as a network
 * would). A node can be cut off: its packets, both ways, are then dropped.
 * @module
 */

import { UserspaceStack } from "../../../drivers/userspace.ts";

/** Userspace stacks on one memory network. */
export class StackLan {
  readonly #stacks = new Map<string, UserspaceStack>();
  readonly #cut = new Set<string>();
  /** Packets routed, and dropped (cut off or no such address). */
  readonly counts = { routed: 0, dropped: 0 };

  /** A started stack at `address` (IPv4). */
  stack(address: string): UserspaceStack {
    const s = new UserspaceStack({ ipv4: address, name: `lan-${address}` });
    this.#stacks.set(address, s);
    s.start({
      packet: (p) => this.#route(address, p.slice()),
      flush: () => {},
    });
    return s;
  }

  /** Drops every packet to or from `address` (true) or stops doing so (false). */
  cut(address: string, off = true): void {
    if (off) this.#cut.add(address);
    else this.#cut.delete(address);
  }

  #route(from: string, p: Uint8Array): void {
    const to = `${p[16]}.${p[17]}.${p[18]}.${p[19]}`;
    const dst = this.#stacks.get(to);
    if (dst === undefined || this.#cut.has(to) || this.#cut.has(from)) {
      this.counts.dropped++;
      return;
    }
    this.counts.routed++;
    setTimeout(() => dst.write(p), 0);
  }

  /** Closes every stack. */
  async close(): Promise<void> {
    for (const s of this.#stacks.values()) await s.close();
  }
}
