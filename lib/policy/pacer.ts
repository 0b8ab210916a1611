/**
 * The queue of a node's rate limits: outgoing packets a rule's bucket had no tokens for yet,
 * copied into slots of one arena and sent, in the order they came, once their time (`due`, which
 * the bucket worked out) has come. One timer at a time, armed for the earliest packet; a timer
 * fire sends every packet due within the next millisecond (timers are not finer), then flushes.
 *
 * Bounds: {@link PACER_SLOTS} packets of at most {@link PACER_SLOT_BYTES} bytes across all
 * rules (a larger packet, or one finding every slot taken, is not held: the rate drops it). The
 * arena (2 MiB) is allocated when the first packet is held. Holding copies the packet (it is
 * not the sender's to keep) and allocates nothing; sending reuses each slot's view while the
 * packets in it keep one length (a view is made when the length changes), and arms a timer.
 * @module
 */

import type { HeldPacketSink } from "../device/device.ts";
import { unrefTimer } from "../io/timers.ts";
import type { MonotonicClock } from "../io/clock.ts";

/** Most packets held at once, across every rule. */
export const PACER_SLOTS = 1024;
/** The largest packet a slot holds. */
export const PACER_SLOT_BYTES = 2048;
/** A timer fire also sends what is due this much later (ms): timers are not finer. */
const SLACK_MS = 1;
const NONE = -1;

/** The held packets of a filter (see the module docs). */
export class Pacer {
  readonly #clock: MonotonicClock;
  #sink: HeldPacketSink | null = null;
  #arena: Uint8Array | null = null;
  readonly #views: (Uint8Array | null)[] = new Array(PACER_SLOTS).fill(null);
  readonly #len = new Int32Array(PACER_SLOTS);
  readonly #tos = new Uint8Array(PACER_SLOTS);
  readonly #due = new Float64Array(PACER_SLOTS);
  /** Arrival order (a list through #next from #head to #tail); free slots through #next too. */
  readonly #next = new Int32Array(PACER_SLOTS);
  #head = NONE;
  #tail = NONE;
  #free = 0;
  #count = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer fires (clock ms); Infinity when none is armed. */
  readonly #armedFor = new Float64Array([Infinity]);
  #sent = 0;
  #lost = 0;
  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armedFor[0] = Infinity;
    this.#release();
  };

  /** An empty queue reading `clock`. */
  constructor(clock: MonotonicClock) {
    this.#clock = clock;
    for (let i = 0; i < PACER_SLOTS; i++) this.#next[i] = i + 1 < PACER_SLOTS ? i + 1 : NONE;
  }

  /** Where held packets go; until a sink is attached, nothing is held. */
  attach(sink: HeldPacketSink): void {
    this.#sink = sink;
  }

  /** Packets held now. */
  get size(): number {
    return this.#count;
  }

  /** Packets sent after waiting, and packets dropped from the queue by `close`. */
  stats(): { held: number; sent: number; lost: number } {
    return { held: this.#count, sent: this.#sent, lost: this.#lost };
  }

  /** Whether a packet of `len` bytes can be held now. */
  canHold(len: number): boolean {
    return this.#sink !== null && this.#free !== NONE && len <= PACER_SLOT_BYTES;
  }

  /**
   * Copies `pkt` into the queue, to be sent at `due[0]` (clock ms) marked `tos`; the caller
   * checked `canHold`.
   */
  hold(pkt: Uint8Array, due: Float64Array, tos = 0): void {
    const slot = this.#free;
    this.#free = this.#next[slot];
    this.#arena ??= new Uint8Array(PACER_SLOTS * PACER_SLOT_BYTES);
    this.#arena.set(pkt, slot * PACER_SLOT_BYTES);
    this.#len[slot] = pkt.length;
    this.#tos[slot] = tos;
    const at = due[0];
    this.#due[slot] = at;
    this.#next[slot] = NONE;
    if (this.#tail === NONE) this.#head = slot;
    else this.#next[this.#tail] = slot;
    this.#tail = slot;
    this.#count++;
    if (at < this.#armedFor[0] - SLACK_MS) this.#arm(at);
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedFor[0] = at;
    const wait = at - this.#clock.now();
    const timer = setTimeout(this.#fire, wait > 0 ? wait : 0);
    // A held packet does not keep the process alive.
    unrefTimer(timer);
    this.#timer = timer;
  }

  /** Sends every held packet due by now (and the slack), in arrival order; re-arms for the rest. */
  #release(): void {
    const sink = this.#sink;
    if (sink === null) return;
    const by = this.#clock.now() + SLACK_MS;
    let next = Infinity;
    let prev = NONE;
    let sent = 0;
    for (let slot = this.#head; slot !== NONE;) {
      const after = this.#next[slot];
      const due = this.#due[slot];
      if (due > by) {
        if (due < next) next = due;
        prev = slot;
      } else {
        if (prev === NONE) this.#head = after;
        else this.#next[prev] = after;
        if (this.#tail === slot) this.#tail = prev;
        this.#count--;
        try {
          sink.send(this.#view(slot), this.#tos[slot]);
        } catch {
          // The device counts its own failures; the queue goes on with the next packet.
        }
        this.#next[slot] = this.#free;
        this.#free = slot;
        sent++;
      }
      slot = after;
    }
    this.#sent += sent;
    if (sent > 0) sink.flush();
    if (next !== Infinity) this.#arm(next);
  }

  /** The packet in `slot`, as a view kept while its length stays the same. */
  #view(slot: number): Uint8Array {
    const len = this.#len[slot];
    let v = this.#views[slot];
    if (v === null || v.length !== len) {
      v = this.#arena!.subarray(slot * PACER_SLOT_BYTES, slot * PACER_SLOT_BYTES + len);
      this.#views[slot] = v;
    }
    return v;
  }

  /** Stops the timer and drops what is held (counted as lost). */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor[0] = Infinity;
    this.#lost += this.#count;
    while (this.#head !== NONE) {
      const slot = this.#head;
      this.#head = this.#next[slot];
      this.#next[slot] = this.#free;
      this.#free = slot;
    }
    this.#tail = NONE;
    this.#count = 0;
  }
}
