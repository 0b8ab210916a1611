/**
 * A TUN with offloads minus the file descriptor, for allocation tests and benchmarks: a
 * {@link PacketDevice} over {@link TunOffload} whose reads are played by the caller (a packet and
 * its virtio-net header put where the kernel would read them) and whose writes are counted
 * instead of reaching a kernel. The packet work in between (cutting, checksums, the write queue,
 * coalescing, lending queue slots) is the real TUN's.
 * @module
 */

import type { PacketDevice, PacketSink } from "../../lib/io/driver.ts";
import { TunOffload } from "../linux/tun_offload.ts";
import {
  encodeVnetHeader,
  GSO_NONE,
  GSO_TCPV4,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
} from "../linux/vnet.ts";

/** What the counted writes carried. */
export interface WriteCounts {
  /** Writes (a coalesced one counts once). */
  writes: number;
  /** IP packets in them. */
  packets: number;
  /** Bytes handed to `emit`, virtio-net headers included. */
  bytes: number;
}

/** See the module docs. */
export class OffloadPackets implements PacketDevice {
  /** A label. */
  readonly name = "offload-packets";
  /** The MTU. */
  readonly mtu: number;
  /** The offload paths. */
  readonly off: TunOffload;
  /** What went to the "kernel". */
  readonly written: WriteCounts = { writes: 0, packets: 0, bytes: 0 };
  /** False: `reserve` is not offered (the device then copies with `write`). */
  readonly lends: boolean;
  /** Commits of lent slots. */
  commits = 0;
  #sink: PacketSink | null = null;

  /** A device of `mtu`; `lends` false hides {@link reserve} (as a driver without it). */
  constructor(mtu = 1420, lends = true) {
    this.mtu = mtu;
    this.lends = lends;
    const w = this.written;
    this.off = new TunOffload({
      mtu,
      emit: (_at, len) => {
        w.writes++;
        w.bytes += len;
        return len;
      },
      // As the Linux TUN (drivers/linux/tun.ts): coalesced writes gathered, checksums trusted.
      emitv: (ranges, count) => {
        let len = 0;
        for (let k = 0; k < count; k++) len += ranges[2 * k + 1];
        w.writes++;
        w.bytes += len;
        return len;
      },
      trustTcpChecksums: true,
      onWritten: (packets) => (w.packets += packets),
    });
    if (!lends) this.reserve = undefined;
  }

  /** Keeps the sink for {@link readTso} and {@link readPlain}. */
  start(sink: PacketSink): void {
    this.#sink = sink;
  }

  /**
   * Plays a read of a TCP/IPv4 packet the host sent with TSO: `pkt` (its TCP checksum field
   * holding the pseudo-header sum, as the kernel leaves it) is cut into MSS-sized segments.
   */
  readTso(pkt: Uint8Array, mss: number): number {
    const a = this.off.arena;
    const ihl = (pkt[0] & 15) * 4;
    encodeVnetHeader(a, 0, VNET_F_NEEDS_CSUM, GSO_TCPV4, ihl + 20, mss, ihl, 16);
    a.set(pkt, VNET_HDR_LEN);
    return this.off.handleRead(VNET_HDR_LEN + pkt.length, this.#sink!);
  }

  /** Plays a read of one packet with a complete checksum. */
  readPlain(pkt: Uint8Array): number {
    const a = this.off.arena;
    encodeVnetHeader(a, 0, 0, GSO_NONE, 0, 0, 0, 0);
    a.set(pkt, VNET_HDR_LEN);
    return this.off.handleRead(VNET_HDR_LEN + pkt.length, this.#sink!);
  }

  /** Ends a batch of reads, as the TUN does after each round. */
  endReads(): void {
    this.#sink!.flush();
  }

  /** Queues a copy of `data`. */
  write(data: Uint8Array): void {
    this.off.write(data);
  }

  /** Coalesces and "writes" the queue. */
  flush(): void {
    this.off.flush();
  }

  /** Lends the next queue slot (TunOffload.reserve). */
  reserve?(max: number): Uint8Array | null {
    return this.off.reserve(max);
  }

  /** Queues the slot just lent. */
  commit(length: number): void {
    this.commits++;
    this.off.commit(length);
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
