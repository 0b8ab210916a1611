/**
 * How far the simulator has read each of its sockets, so that a simulated member's waits for an
 * answer end as a node's do. A node reads its own socket at once: when its wait for an answer (a
 * join's, a handshake's, news asked for, pieces) is over, every datagram that reached it before
 * then was read. The simulator's one thread reads 256 shared sockets behind a load as large as the
 * leader's: at 10,000 members what the leader sent waited there up to seconds, and members whose
 * answers sat unread asked again, were answered again, and the simulator fell further behind
 * (datagrams lost at its full sockets, the leader's work a join doubled). So a member's wait ends
 * only once its socket was read through past the wait's end: a datagram that came in time counts
 * as in time, as on a node, whenever the simulator gets to it.
 *
 * A socket is read through up to the moment a read found it empty (a batch short of full), or up
 * to the receive time of the last datagram read (the kernel's stamp: `waitedMs`) when the read
 * stopped with more to read. A socket not read lately is either empty or behind: its kernel queue
 * says which (./queued.ts), asked at most once every {@link QUEUE_CHECK_MS}.
 * @module
 */

/** A socket read within this many ms counts as read through up to then without asking the kernel. */
export const FRESH_MS = 100;

/** The kernel's receive queues are read at most this often, ms. */
export const QUEUE_CHECK_MS = 50;

/** One socket's reading: what the reader sees of it, datagram by datagram and batch by batch. */
export class ReadThrough {
  readonly #batch: number;
  #read = 0;
  #lastWaited = 0;
  /** Monotonic ms: everything that reached the socket before this was read. */
  at: number;

  /** A socket read `batch` datagrams a read at most, read through up to `at` (now). */
  constructor(batch: number, at: number) {
    this.#batch = batch;
    this.at = at;
  }

  /** A datagram was read; it waited `waitedMs` in the socket. */
  datagram(waitedMs: number): void {
    this.#read++;
    this.#lastWaited = waitedMs;
  }

  /** A read ended at `t`: a short batch emptied the socket, a full one read up to its last datagram. */
  batchEnd(t: number): void {
    const through = this.#read < this.#batch ? t : t - this.#lastWaited;
    if (through > this.at) this.at = through;
    this.#read = 0;
  }

  /** The kernel holds nothing unread for the socket at `t`. */
  empty(t: number): void {
    if (t > this.at) this.at = t;
  }
}

/** What {@link heardThrough} needs besides the socket. */
export interface QueueSource {
  /** Bytes unread in the socket's kernel queue (0: none), and when that was read (monotonic ms). */
  queued(): { bytes: number; at: number };
}

/**
 * How far a member on socket `r` has heard, at monotonic `t`: `t` itself when the socket was read
 * through lately or holds nothing unread (asked of `q`), else where its reading stands.
 */
export function heardThrough(r: ReadThrough, t: number, q: QueueSource): number {
  if (r.at >= t) return t;
  if (t - r.at <= FRESH_MS) return r.at;
  const q0 = q.queued();
  if (q0.bytes === 0) r.empty(q0.at);
  return Math.min(t, r.at);
}

/**
 * Calls `fn` once `ms` have passed and `through()` (how far the member has heard) reached the
 * wait's end; checked again every few ms until it does (`held` hears that it did not at first).
 * Returns what cancels it.
 */
export function waitHeard(
  fn: () => void,
  ms: number,
  through: () => number,
  clock: { now(): number; set(fn: () => void, ms: number): unknown; clear(id: unknown): void },
  held: () => void = () => {},
): () => void {
  const due = clock.now() + ms;
  let id: unknown;
  let first = true;
  const check = () => {
    const r = through();
    if (r >= due) return fn();
    if (first) held();
    first = false;
    id = clock.set(check, Math.min(FRESH_MS, Math.max(10, due - r)));
  };
  id = clock.set(check, ms);
  return () => clock.clear(id);
}
