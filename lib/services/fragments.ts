/**
 * Messages in datagrams. A message that fits one datagram goes whole; a larger one is cut into
 * fragments that are put back together at the receiver, within bounds: a largest message, a few
 * messages being reassembled per sender (the oldest gives way to a new one), a cap on all bytes
 * held, and a time limit after the last fragment. Duplicate fragments are ignored.
 *
 * Every datagram starts with a version byte (1) and a kind byte:
 * - `[1, 0, message...]`: a whole message;
 * - `[1, 1, id (u32), index (u16), count (u16), chunk...]`: fragment `index` of `count` (2 or more)
 *   of message `id`. Every chunk but the last has at least {@link MIN_CHUNK} bytes, so a count
 *   cannot ask for more slots than the largest message needs.
 * @module
 */

import { ReasonCounter } from "../metrics/reasons.ts";

/** The largest datagram sent by default, bytes: below any overlay MTU with IPv6 headers. */
export const MAX_DATAGRAM = 1200;
/** The largest message by default, bytes (16 MiB: a 10 MiB request or answer fits). */
export const DEFAULT_MAX_MESSAGE = 16 << 20;
/** The header of a whole message's datagram. */
export const WHOLE_HEADER = 2;
/** The header of a fragment. */
export const FRAGMENT_HEADER = 10;
/** The smallest chunk of a fragment that is not the last. */
export const MIN_CHUNK = 256;

const VERSION = 1;
const WHOLE = 0;
const FRAGMENT = 1;

/**
 * Cuts `message` into datagrams of at most `maxDatagram` bytes: one when it fits, else
 * fragments of message `id` (a u32 the sender does not reuse soon).
 */
export function splitMessage(
  message: Uint8Array,
  id: number,
  maxDatagram = MAX_DATAGRAM,
): Uint8Array[] {
  if (maxDatagram < FRAGMENT_HEADER + MIN_CHUNK) {
    throw new RangeError(`datagrams of ${maxDatagram} bytes are too small for fragments`);
  }
  if (message.length + WHOLE_HEADER <= maxDatagram) {
    const d = new Uint8Array(WHOLE_HEADER + message.length);
    d[0] = VERSION;
    d[1] = WHOLE;
    d.set(message, WHOLE_HEADER);
    return [d];
  }
  const chunk = maxDatagram - FRAGMENT_HEADER;
  const count = Math.ceil(message.length / chunk);
  if (count > 0xffff) {
    throw new RangeError(`a message of ${message.length} bytes has too many fragments`);
  }
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const part = message.subarray(i * chunk, Math.min(message.length, (i + 1) * chunk));
    const d = new Uint8Array(FRAGMENT_HEADER + part.length);
    const v = new DataView(d.buffer);
    d[0] = VERSION;
    d[1] = FRAGMENT;
    v.setUint32(2, id >>> 0);
    v.setUint16(6, i);
    v.setUint16(8, count);
    d.set(part, FRAGMENT_HEADER);
    out.push(d);
  }
  return out;
}

/** Why a datagram was not (or not yet) a message. */
export const FRAGMENT_DROPS = [
  "malformed",
  "too-large",
  "duplicate",
  "evicted",
  "expired",
  "memory",
] as const;

/** Why a datagram was not (or not yet) a message. */
export type FragmentDrop = typeof FRAGMENT_DROPS[number];

/** The bounds of a {@link Reassembler}. */
export interface ReassemblyLimits {
  /** The largest message put back together, bytes. Default 16 MiB. */
  maxMessageBytes?: number;
  /** Messages reassembled at once per sender; a new one evicts the oldest. Default 4. */
  maxPerSender?: number;
  /**
   * Bytes held across all senders; fragments beyond are dropped. Default 8 MiB or four of the
   * largest messages, whichever is more.
   */
  maxTotalBytes?: number;
  /**
   * Bytes one sender may hold, its fair share (fragments beyond are dropped, `memory`). Default
   * a quarter of `maxTotalBytes`, and never less than one whole message.
   */
  maxBytesPerSender?: number;
  /** How long a reassembly waits for its next fragment, ms. Default 5000. */
  timeoutMs?: number;
  /** Senders tracked at once (the least recent is forgotten). Default 1024. */
  maxSenders?: number;
}

interface Assembly {
  readonly chunks: (Uint8Array | undefined)[];
  have: number;
  bytes: number;
  last: number;
}

interface Sender {
  readonly open: Map<number, Assembly>;
  /** Bytes of its fragments held now. */
  held: number;
  /** Ids completed lately, so late duplicates of their fragments start nothing. */
  readonly done: number[];
}

const DONE_KEPT = 64;

/** Puts fragments back together; see the module docs. */
export class Reassembler {
  /** Datagrams dropped, and reassemblies given up, by reason. */
  readonly drops: ReasonCounter<FragmentDrop> = new ReasonCounter(FRAGMENT_DROPS);
  readonly #maxMessage: number;
  readonly #maxPer: number;
  readonly #maxTotal: number;
  readonly #maxPerSenderBytes: number;
  readonly #timeout: number;
  readonly #maxSenders: number;
  readonly #now: () => number;
  // Insertion order is recency: a sender is moved to the end when heard from.
  readonly #senders = new Map<string, Sender>();
  #held = 0;
  #swept = 0;

  /** A reassembler with the given bounds; `now` is the clock in ms. */
  constructor(limits: ReassemblyLimits = {}, now: () => number = () => performance.now()) {
    this.#maxMessage = limits.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
    this.#maxPer = limits.maxPerSender ?? 4;
    this.#maxTotal = limits.maxTotalBytes ?? Math.max(8 << 20, 4 * this.#maxMessage);
    this.#maxPerSenderBytes = Math.max(
      limits.maxBytesPerSender ?? Math.floor(this.#maxTotal / 4),
      this.#maxMessage,
    );
    this.#timeout = limits.timeoutMs ?? 5000;
    this.#maxSenders = limits.maxSenders ?? 1024;
    this.#now = now;
  }

  /** Bytes of fragments held now. */
  get heldBytes(): number {
    return this.#held;
  }

  /** Reassemblies under way now. */
  get open(): number {
    let n = 0;
    for (const s of this.#senders.values()) n += s.open.size;
    return n;
  }

  /**
   * Takes one datagram from sender `from` (whoever holds the budget: the mesh passes the member,
   * whatever address of its it sent from); returns the message it completes (or holds whole), or
   * null (a fragment kept for later, or a counted drop).
   */
  add(datagram: Uint8Array, from: string): Uint8Array | null {
    if (datagram.length < WHOLE_HEADER || datagram[0] !== VERSION) return this.#drop("malformed");
    if (datagram[1] === WHOLE) {
      if (datagram.length - WHOLE_HEADER > this.#maxMessage) return this.#drop("too-large");
      return datagram.subarray(WHOLE_HEADER);
    }
    if (datagram[1] !== FRAGMENT || datagram.length <= FRAGMENT_HEADER) {
      return this.#drop("malformed");
    }
    const v = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
    const id = v.getUint32(2);
    const index = v.getUint16(6);
    const count = v.getUint16(8);
    const chunk = datagram.subarray(FRAGMENT_HEADER);
    if (count < 2 || index >= count) return this.#drop("malformed");
    if (index < count - 1 && chunk.length < MIN_CHUNK) return this.#drop("malformed");
    // Every chunk but the last is at least MIN_CHUNK: a count this high is over the limit.
    if ((count - 1) * MIN_CHUNK + 1 > this.#maxMessage) return this.#drop("too-large");
    const now = this.#now();
    // A sweep walks every reassembly: not for every fragment, a few times per timeout.
    if (now - this.#swept >= this.#timeout / 4) this.sweep(now);
    const sender = this.#sender(from);
    if (sender.done.includes(id)) return this.#drop("duplicate");
    let a = sender.open.get(id);
    if (a === undefined) {
      if (sender.open.size >= this.#maxPer) {
        const [oldId, old] = sender.open.entries().next().value!;
        this.#forget(sender, oldId, old, "evicted");
      }
      a = { chunks: new Array(count), have: 0, bytes: 0, last: now };
      sender.open.set(id, a);
    } else if (a.chunks.length !== count) {
      return this.#drop("malformed");
    }
    if (a.chunks[index] !== undefined) return this.#drop("duplicate");
    if (a.bytes + chunk.length > this.#maxMessage) {
      this.#forget(sender, id, a, "too-large");
      return null;
    }
    if (this.#held + chunk.length > this.#maxTotal) return this.#drop("memory");
    // Its fair share: one sender cannot pin what the others need.
    if (sender.held + chunk.length > this.#maxPerSenderBytes) return this.#drop("memory");
    a.chunks[index] = chunk;
    a.have++;
    a.bytes += chunk.length;
    a.last = now;
    this.#held += chunk.length;
    sender.held += chunk.length;
    if (a.have < count) return null;
    this.#forget(sender, id, a, null);
    sender.done.push(id);
    if (sender.done.length > DONE_KEPT) sender.done.shift();
    const out = new Uint8Array(a.bytes);
    let at = 0;
    for (const c of a.chunks) {
      out.set(c!, at);
      at += c!.length;
    }
    return out;
  }

  /** Gives up reassemblies that waited longer than the timeout for a fragment. */
  sweep(now: number = this.#now()): void {
    this.#swept = now;
    for (const [key, s] of this.#senders) {
      for (const [id, a] of s.open) {
        if (now - a.last >= this.#timeout) this.#forget(s, id, a, "expired");
      }
      if (s.open.size === 0 && s.done.length === 0) this.#senders.delete(key);
    }
  }

  /** Forgets everything held. */
  clear(): void {
    this.#senders.clear();
    this.#held = 0;
  }

  #sender(from: string): Sender {
    let s = this.#senders.get(from);
    if (s !== undefined) {
      this.#senders.delete(from);
      this.#senders.set(from, s);
      return s;
    }
    if (this.#senders.size >= this.#maxSenders) {
      const [oldKey, old] = this.#senders.entries().next().value!;
      for (const [id, a] of old.open) this.#forget(old, id, a, "evicted");
      this.#senders.delete(oldKey);
    }
    s = { open: new Map(), done: [], held: 0 };
    this.#senders.set(from, s);
    return s;
  }

  #forget(s: Sender, id: number, a: Assembly, reason: FragmentDrop | null): void {
    s.open.delete(id);
    this.#held -= a.bytes;
    s.held -= a.bytes;
    if (reason !== null) this.drops.add(reason);
  }

  #drop(reason: FragmentDrop): null {
    this.drops.add(reason);
    return null;
  }
}
