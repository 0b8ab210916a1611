/**
 * The packet work of a TUN opened with offloads (`IFF_VNET_HDR` and `TUNSETOFFLOAD`), apart from
 * the file descriptor so that it can be tested without one:
 *
 * - reads: one read of up to 64 KB and its virtio-net header goes in {@link rxOffset}; a GSO
 *   packet is cut into MTU-sized packets in a ring of slots (segments larger than the MTU, should
 *   the interface's MTU be raised, go one at a time through a slot of 64 KB), a partial checksum is
 *   completed in place, and each packet is handed to the sink with the free bytes after it in its
 *   slot (the sink may pad it there). Input the kernel should never give (a header that does not
 *   fit, an unknown GSO type) is dropped and counted.
 * - writes: packets are copied into a queue of slots, or built in the next one by the caller
 *   ({@link TunOffload.reserve}, {@link TunOffload.commit}: the device decrypts into it); {@link flush}
 *   (at the end of a batch, or when the queue is full) coalesces TCP segments ({@link TcpCoalescer})
 *   and hands each write (virtio-net header first) to the `emit` function; with `emitv`, a
 *   coalesced packet goes as ranges gathered where its segments lie (writev), not copied together.
 *
 * Every buffer is a range of one ArrayBuffer allocated up front ({@link arena}): nothing is
 * allocated per packet, and the FFI calls take the arena's address plus an offset.
 * @module
 */

import type { PacketSink } from "../../lib/io/driver.ts";
import type { TunOffloadStats } from "../../lib/io/stats.ts";
import { ROLE_HEAD, ROLE_SINGLE, TcpCoalescer } from "./gro_coalesce.ts";
import { completeChecksum, GsoSplitter, MAX_IP_PACKET } from "./gso_split.ts";
import { simdChecksumBuffer } from "../../lib/net/checksum.ts";
import {
  decodeVnetHeader,
  GSO_ECN,
  GSO_NONE,
  newVnetHeader,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
  zeroVnetHeader,
} from "./vnet.ts";

/** Zeroed counters of the offload paths (the type lives with the driver interfaces, lib/io). */
export function newOffloadStats(): TunOffloadStats {
  return {
    gsoReads: 0,
    segments: 0,
    checksumsCompleted: 0,
    readDrops: 0,
    coalescedWrites: 0,
    coalescedPackets: 0,
  };
}

/** Options of a {@link TunOffload}. */
export interface TunOffloadOptions {
  /** The interface MTU: the size of a ring slot and of a queue slot. */
  mtu: number;
  /** Packets the write queue holds before it is flushed; 128 by default. */
  queue?: number;
  /** Ring slots for cut segments; 64 by default. */
  ring?: number;
  /**
   * Writes `length` bytes of the arena from `offset` (a virtio-net header and a packet); returns
   * the bytes written or a negative number on failure.
   */
  emit: (offset: number, length: number) => number;
  /**
   * Writes, as one write, the `count` ranges of the arena listed in `ranges` as (offset, length)
   * pairs (writev(2)); returns the bytes written or a negative number on failure. When given, a
   * coalesced packet is gathered where its segments lie instead of copied together first.
   */
  emitv?: (ranges: Int32Array, count: number) => number;
  /** Called when a write fails, with how many IP packets it carried. */
  onWriteError?: (packets: number) => void;
  /**
   * Called when a write succeeds, with how many IP packets it carried and their bytes as they were
   * queued (a coalesced write carries fewer: the headers of all but its first packet).
   */
  onWritten?: (packets: number, bytes: number) => void;
  /** Called with errors thrown by the sink. */
  onError?: (err: unknown) => void;
  /** Coalesce TCP segments without summing their checksums (TcpCoalescerOptions). */
  trustTcpChecksums?: boolean;
}

/**
 * The largest read taken: a header and a 64 KB packet (an IPv6 one may add its 40-byte header to a
 * 65,535-byte payload). The read area is larger, so a longer read shows as such, not cut short.
 */
const RX_SIZE = VNET_HDR_LEN + MAX_IP_PACKET + 40;

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Offload reads and writes over one preallocated arena. */
export class TunOffload {
  /** Packets the write queue holds (a gathered write lists at most this many ranges). */
  readonly queue: number;
  /** All buffers: the read area, the coalescing output, the ring and the queue. */
  readonly arena: Uint8Array;
  /** Where a read goes (header first) and how much it may take. */
  readonly rxOffset = 0;
  /** The longest read taken; the read area has room for at least one byte more. */
  readonly rxSize = RX_SIZE;
  /** The bytes of the packets the last {@link handleRead} handed to the sink. */
  lastReadBytes = 0;
  /** Counters. */
  readonly stats: TunOffloadStats = newOffloadStats();
  /** The interface MTU. */
  readonly mtu: number;

  readonly #emit: (offset: number, length: number) => number;
  readonly #emitv: ((ranges: Int32Array, count: number) => number) | null;
  /** The ranges of a gathered write: a header and first packet, then a payload per segment. */
  readonly #ranges: Int32Array;
  readonly #onWriteError: (packets: number) => void;
  readonly #onWritten: (packets: number, bytes: number) => void;
  readonly #onError: (err: unknown) => void;
  readonly #hdr = newVnetHeader();
  readonly #splitter = new GsoSplitter();
  readonly #coalescer: TcpCoalescer;
  readonly #outOffset: number;
  readonly #ringSlot: number;
  readonly #ringOffs: Int32Array;
  readonly #ringLens: Int32Array;
  readonly #ringViews: Uint8Array[];
  readonly #jumboOffs: Int32Array;
  readonly #jumboLens = new Int32Array(1);
  readonly #jumboViews: Uint8Array[];
  readonly #queueOffs: Int32Array;
  readonly #queueLens: Int32Array;
  /** Per queue slot: a view of its packet area, what {@link reserve} lends. */
  readonly #queueViews: Uint8Array[] = [];
  readonly #queueSlot: number;
  /** The queue slot {@link reserve} lent and not yet committed; -1 for none. */
  #reserved = -1;
  #rxView: Uint8Array;
  #queued = 0;

  /** Allocates the arena for `options.mtu`. */
  constructor(options: TunOffloadOptions) {
    const mtu = this.mtu = options.mtu;
    const queue = options.queue ?? 128;
    this.queue = queue;
    const ring = options.ring ?? 64;
    this.#emit = options.emit;
    this.#emitv = options.emitv ?? null;
    this.#ranges = new Int32Array(2 * queue);
    this.#onWriteError = options.onWriteError ?? (() => {});
    this.#onWritten = options.onWritten ?? (() => {});
    this.#onError = options.onError ?? ((err) => console.error("tun offload:", err));
    this.#coalescer = new TcpCoalescer(queue, {
      trustTcpChecksums: options.trustTcpChecksums,
    });
    const ringSlot = this.#ringSlot = align8(mtu);
    // Queue slots keep room for a header before the packet, which starts 8-aligned.
    this.#queueSlot = align8(VNET_HDR_LEN) + align8(mtu);
    this.#outOffset = align8(RX_SIZE + 1);
    const ringBase = this.#outOffset + align8(RX_SIZE);
    const jumboBase = ringBase + ring * ringSlot;
    const queueBase = jumboBase + align8(MAX_IP_PACKET);
    // A WebAssembly memory: the checksums of cutting and coalescing run in SIMD there.
    this.arena = simdChecksumBuffer(queueBase + queue * this.#queueSlot);
    this.#ringOffs = new Int32Array(ring);
    this.#ringLens = new Int32Array(ring);
    this.#ringViews = [];
    for (let i = 0; i < ring; i++) {
      this.#ringOffs[i] = ringBase + i * ringSlot;
      this.#ringViews.push(this.arena.subarray(this.#ringOffs[i], this.#ringOffs[i]));
    }
    this.#jumboOffs = Int32Array.of(jumboBase);
    this.#jumboViews = [this.arena.subarray(jumboBase, jumboBase)];
    this.#queueOffs = new Int32Array(queue);
    this.#queueLens = new Int32Array(queue);
    for (let i = 0; i < queue; i++) {
      this.#queueOffs[i] = queueBase + i * this.#queueSlot + align8(VNET_HDR_LEN);
      this.#queueViews.push(
        this.arena.subarray(this.#queueOffs[i], this.#queueOffs[i] + align8(mtu)),
      );
    }
    this.#rxView = this.arena.subarray(VNET_HDR_LEN, VNET_HDR_LEN);
  }

  /** Packets waiting in the write queue. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Handles one read of `n` bytes (header included) at {@link rxOffset}: hands its packets to
   * `sink`; returns how many it handed (0 for a dropped read).
   */
  handleRead(n: number, sink: PacketSink): number {
    const arena = this.arena;
    const hdr = this.#hdr;
    this.lastReadBytes = 0;
    if (n <= VNET_HDR_LEN || n > RX_SIZE) {
      this.stats.readDrops++;
      return 0;
    }
    decodeVnetHeader(arena, 0, hdr);
    const len = n - VNET_HDR_LEN;
    if ((hdr.gsoType & ~GSO_ECN) === GSO_NONE) {
      if (hdr.flags & VNET_F_NEEDS_CSUM) {
        if (!completeChecksum(arena, VNET_HDR_LEN, len, hdr)) {
          this.stats.readDrops++;
          return 0;
        }
        this.stats.checksumsCompleted++;
      }
      let view = this.#rxView;
      if (view.length !== len) view = this.#rxView = arena.subarray(VNET_HDR_LEN, n);
      this.lastReadBytes = len;
      // The rest of the read area is free until the next read.
      this.#deliver(sink, view, this.#outOffset - VNET_HDR_LEN - len);
      return 1;
    }
    let ring = this.#ringOffs;
    let lens = this.#ringLens;
    let views = this.#ringViews;
    let slot = this.#ringSlot;
    let segments = this.#splitter.prepare(arena, VNET_HDR_LEN, len, hdr, this.mtu);
    if (segments === 0) {
      // Segments larger than the MTU (the interface's MTU was raised under us): one at a time.
      segments = this.#splitter.prepare(arena, VNET_HDR_LEN, len, hdr, MAX_IP_PACKET);
      if (segments === 0) {
        this.stats.readDrops++;
        return 0;
      }
      ring = this.#jumboOffs;
      lens = this.#jumboLens;
      views = this.#jumboViews;
      slot = align8(MAX_IP_PACKET);
    }
    this.stats.gsoReads++;
    this.stats.segments += segments;
    for (let first = 0; first < segments;) {
      const k = this.#splitter.cut(first, ring, ring.length, lens);
      if (k === 0) break;
      for (let j = 0; j < k; j++) {
        let view = views[j];
        if (view.length !== lens[j]) view = views[j] = arena.subarray(ring[j], ring[j] + lens[j]);
        this.lastReadBytes += lens[j];
        this.#deliver(sink, view, slot - lens[j]);
      }
      first += k;
    }
    return segments;
  }

  #deliver(sink: PacketSink, view: Uint8Array, room: number): void {
    try {
      sink.packet(view, room);
    } catch (err) {
      this.#onError(err);
    }
  }

  /**
   * Queues one IP packet for writing (copied). A packet larger than a queue slot is written at
   * once after what is queued; one over 64 KB, or empty, is refused (counted as a write error).
   */
  write(data: Uint8Array): void {
    this.#reserved = -1;
    const len = data.length;
    if (len === 0 || len > MAX_IP_PACKET) {
      this.#onWriteError(1);
      return;
    }
    if (len > this.mtu) {
      this.flush();
      const out = this.#outOffset;
      zeroVnetHeader(this.arena, out);
      this.arena.set(data, out + VNET_HDR_LEN);
      this.#emitOne(out, len, 1, len);
      return;
    }
    if (this.#queued === this.#queueOffs.length) this.flush();
    const i = this.#queued++;
    this.arena.set(data, this.#queueOffs[i]);
    this.#queueLens[i] = len;
  }

  /**
   * Lends the next queue slot (the same object every time for a slot; at least the MTU long) to
   * build a packet of at most `max` bytes in; null when `max` is over the MTU or zero (such
   * packets go through {@link write}). A full queue is flushed first. Until {@link commit} the slot
   * is not queued: a later `reserve`, `write` or `flush` forgets it.
   */
  reserve(max: number): Uint8Array | null {
    this.#reserved = -1;
    if (!(max >= 1 && max <= this.mtu)) return null;
    if (this.#queued === this.#queueOffs.length) this.flush();
    this.#reserved = this.#queued;
    return this.#queueViews[this.#reserved];
  }

  /**
   * Queues the first `length` bytes (1 to the MTU) of the slot {@link reserve} lent, as
   * {@link write} would queue a copy of them. Throws when no slot is lent.
   */
  commit(length: number): void {
    const i = this.#reserved;
    this.#reserved = -1;
    if (i < 0 || i !== this.#queued) throw new Error("tun: commit without a reserved slot");
    if (!(length >= 1 && length <= this.mtu)) {
      throw new RangeError(`tun: commit of ${length} bytes (1 to the MTU, ${this.mtu})`);
    }
    this.#queueLens[i] = length;
    this.#queued++;
  }

  /** Coalesces and writes what is queued. */
  flush(): void {
    this.#reserved = -1;
    const n = this.#queued;
    if (n === 0) return;
    this.#queued = 0;
    const co = this.#coalescer;
    const offs = this.#queueOffs;
    const lens = this.#queueLens;
    const arena = this.arena;
    co.plan(arena, offs, lens, n);
    for (let i = 0; i < n; i++) {
      const role = co.role[i];
      if (role === ROLE_SINGLE) {
        const at = offs[i] - VNET_HDR_LEN;
        zeroVnetHeader(arena, at);
        this.#emitOne(at, lens[i], 1, lens[i]);
      } else if (role === ROLE_HEAD) {
        let original = 0;
        for (let m = i; m >= 0; m = co.next[m]) original += lens[m];
        this.stats.coalescedWrites++;
        this.stats.coalescedPackets += co.count[i];
        const emitv = this.#emitv;
        if (emitv !== null) {
          // Gathered where the segments lie: the kernel copies them once, this copies none.
          // Each queue slot keeps room for the header before its packet.
          const k = co.gather(arena, offs, lens, i, this.#ranges);
          if (emitv(this.#ranges, k) < 0) this.#onWriteError(co.count[i]);
          else this.#onWritten(co.count[i], original);
          continue;
        }
        const out = this.#outOffset;
        const bytes = co.build(arena, offs, lens, i, out);
        this.#emitOne(out, bytes - VNET_HDR_LEN, co.count[i], original);
      }
    }
  }

  /** Emits a header and `len` bytes at `at`, which carry `packets` packets of `bytes` in all. */
  #emitOne(at: number, len: number, packets: number, bytes: number): void {
    const r = this.#emit(at, VNET_HDR_LEN + len);
    if (r < 0) this.#onWriteError(packets);
    else this.#onWritten(packets, bytes);
  }
}
