/**
 * A stream transport's read buffer (TCP's length-prefixed frames, tcp_read.ts; WebSocket
 * messages, tcp_ws.ts) with a slot in front of it where each frame is handed to the sink from.
 *
 * Why the slot: frames sit at any offset in what one read returned, so a view of each where it
 * lies is a new object per frame, and the device keeps its views of a message per buffer object
 * (lib/device/views.ts, as the UDP drivers hand it the same slots over and over): a fresh object
 * per frame cost a typed array, a weak-map entry and two more views per packet, and the garbage
 * with them. Copied to the slot (one `copyWithin` in the same memory), a frame of a length seen
 * before goes out in the very view it went out in last time. A frame larger than the slot goes
 * out as a view where it lies (jumbo frames; the slot grows to hold the next one).
 * @module
 */

import { READ_BULK, READ_SIZE, SHRINK_AFTER_READS } from "./tcp_stream.ts";

/** Bytes of the slot to start with: a frame of a full-size packet at MTU 1,500 and more. */
export const FRAME_SLOT = 2048;
/** Views of the slot kept, one per frame length; past this many they are forgotten at once. */
const MAX_VIEWS = 64;

/** A read buffer and the frame slot in front of it; see the module docs. */
export class FrameBuffer {
  /** Where reads go: the bytes read and not yet handed on are at its start. */
  area: Uint8Array;
  #whole: Uint8Array;
  #slot: number;
  /** A frame larger than the slot was seen: the next {@link resize} makes the slot this large. */
  #wantSlot = 0;
  #views = new Map<number, Uint8Array>();
  /** Reads in a row that a {@link READ_SIZE} area would have held. */
  #smallReads = 0;

  /** A read area of `size` bytes behind a slot of `slot` bytes. */
  constructor(size: number, slot = FRAME_SLOT) {
    this.#slot = slot;
    this.#whole = new Uint8Array(slot + size);
    this.area = this.#whole.subarray(slot);
  }

  /** The slot's size now. */
  get slot(): number {
    return this.#slot;
  }

  /**
   * The `len` bytes at `start` in {@link area}, copied to the slot: for a length handed out
   * before, the same view object as then. Valid until the next call (the caller's sink is done
   * with a frame when it returns). A frame larger than the slot is a view where it lies.
   */
  frame(start: number, len: number): Uint8Array {
    const slot = this.#slot;
    if (len > slot) {
      if (len > this.#wantSlot) this.#wantSlot = len;
      return this.area.subarray(start, start + len);
    }
    this.#whole.copyWithin(0, slot + start, slot + start + len);
    let v = this.#views.get(len);
    if (v === undefined) {
      if (this.#views.size >= MAX_VIEWS) this.#views.clear();
      v = this.#whole.subarray(0, len);
      this.#views.set(len, v);
    }
    return v;
  }

  /**
   * Sizes the read area after a read of `n` bytes that left `filled` (moved to its start), the
   * frame in progress taking `need` bytes (0: unknown): {@link READ_BULK} once a read filled it
   * and `bulk` (a peer's connection: the sender is ahead of us, so reading more per turn gives
   * the device larger batches for fewer reads; junk keeps a small area), back to
   * {@link READ_SIZE} after {@link SHRINK_AFTER_READS} smaller reads in a row (an idle connection
   * holds no more), and never smaller than `need`.
   */
  fit(n: number, full: boolean, filled: number, need: number, bulk: boolean): void {
    let size = this.area.length;
    if (full && size < READ_BULK && bulk) {
      size = READ_BULK;
      this.#smallReads = 0;
    } else if (n >= READ_SIZE) {
      this.#smallReads = 0;
    } else if (size > READ_SIZE && ++this.#smallReads >= SHRINK_AFTER_READS) {
      size = READ_SIZE;
      this.#smallReads = 0;
    }
    if (need > size) size = need;
    if (filled <= size) this.resize(size, filled);
  }

  /**
   * Makes the read area `size` bytes (and the slot as large as the largest frame seen), keeping
   * the first `filled` bytes read; nothing happens when both are as they are.
   */
  resize(size: number, filled: number): void {
    const slot = Math.max(this.#slot, this.#wantSlot);
    if (size === this.area.length && slot === this.#slot) return;
    const whole = new Uint8Array(slot + size);
    whole.set(this.area.subarray(0, filled), slot);
    // The views are of the old memory: made again on first use.
    this.#views.clear();
    this.#slot = slot;
    this.#wantSlot = 0;
    this.#whole = whole;
    this.area = whole.subarray(slot);
  }
}
