/**
 * One event loop over several non-blocking file descriptors (a TUN and a UDP socket), built on a
 * single `poll(2)` run on a Deno FFI blocking thread.
 *
 * Each round, every ready fd is served synchronously on the JS thread (its handler reads until
 * EAGAIN or until its budget runs out), then one awaited `poll()` waits for all fds at once. So a
 * burst of packets costs one promise, not one per packet. An eventfd in the set lets `add`,
 * `remove` and write interest changes interrupt a poll that is waiting.
 *
 * That awaited poll costs two thread wake-ups per packet that finds the poller waiting: the
 * kernel wakes the helper thread, which wakes the JS thread; on an idle tunnel that was most of
 * weft's extra round-trip time over wireguard-go (issue 15). So for `lingerMs` after traffic the
 * poller waits on the JS thread itself instead (see {@link PollerOptions.lingerMs}).
 * @module
 */

import {
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  libc,
  POLLERR,
  POLLFD_SIZE,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
} from "./libc.ts";
import { eventLoopEpollFd } from "./loop_fd.ts";
import { u64 } from "../../lib/io/u64.ts";
import { objectList } from "../shared/object_array.ts";

/** What the poller calls when a registered fd is ready. */
export interface PollHandler {
  /**
   * The fd is readable (or has an error to collect): read until EAGAIN or a budget. Return true
   * when stopped by the budget, so the fd is served again next round without waiting. A handler
   * that reads in batches asks `yieldNow` between them and stops (true) when it says so: the
   * event loop is owed a turn for its own I/O (see {@link LOOP_IO_TURN_MS}).
   */
  onReadable(yieldNow?: () => boolean): boolean;
  /** The fd is writable; only polled for while `wantsWrite` is true. */
  onWritable(): void;
  /** Whether to wait for writability too (after a send met EAGAIN). */
  readonly wantsWrite: boolean;
}

/**
 * What {@link PollerOptions.onPoll} hears: a wait starts on the FFI helper thread (`wait`) or on
 * the JS thread (`wait-here`, while lingering), or ends (`wake`, with how many fds are ready).
 */
export type PollPhase = "wait" | "wait-here" | "wake";

/** Options of a {@link Poller}. */
export interface PollerOptions {
  /** Called with errors thrown by handlers; defaults to `console.error`. */
  onError?: (err: unknown) => void;
  /**
   * How long (ms) to keep serving with synchronous zero-timeout polls before yielding to the
   * event loop through an awaited poll. 0 (the default) awaits after every round: on loopback
   * benchmarks spinning gave no measurable gain, and it delays timers by up to `spinMs`.
   */
  spinMs?: number;
  /**
   * For this long (ms) after any of its fds was last ready, the poller waits for the next
   * readiness with a poll(2) on the JS thread itself, not on the FFI helper thread: a packet
   * then wakes one thread, not two (the helper, which then wakes the JS thread), which is most of
   * an idle tunnel's per-hop latency. The event loop's own epoll instance is in that poll too
   * (see loop_fd.ts), so its sockets, signals and cross-thread wake-ups end the wait at once; only
   * its timers wait, at most {@link LINGER_SLICE_MS}, when the poller hands the thread back for a
   * turn of the loop anyway. Past `lingerMs` without traffic it waits on the helper thread again,
   * so an idle poller makes no wake-ups at all. 0 turns this off; off too when the event loop's
   * epoll cannot be found.
   */
  lingerMs?: number;

  /** Hears each wait for readiness start and end (see {@link PollPhase}): latency traces. */
  onPoll?: (phase: PollPhase, ready: number) => void;

  /**
   * Ends a round once it has served fds for this long (ms), between two fds or between a
   * handler's batches (its `yieldNow`), and gives the event loop a turn, its timers included,
   * whether or not it has I/O of its own waiting; the next round starts with the fd after the
   * last one served, so every fd keeps its turn. For a process with many busy fds whose timers
   * are its clock: the fleet bench's simulator reads 256 sockets, and one round over all of
   * them (up to 1,024 datagrams each) held its event loop for 2 to 3 s once their queues had
   * filled. 0 (the default): a round serves every ready fd, cut short only for the loop's own
   * I/O (see {@link LOOP_IO_TURN_MS}).
   */
  roundMs?: number;
}

interface Entry {
  readonly fd: number;
  readonly handler: PollHandler;
  readReady: boolean;
  writeReady: boolean;
  removed: boolean;
}

/**
 * While lingering, a wait on the JS thread lasts at most this long (ms), then the event loop gets
 * a turn: its timers are the one thing such a wait cannot hear of.
 */
export const LINGER_SLICE_MS = 5;

/**
 * While its fds keep it busy, the poller hands the event loop a turn in which it waits for its
 * own I/O at least this often (ms). Deno's event loop takes its sockets' readiness (TCP: the HTTP
 * API, DNS, the TCP underlay) only when it waits, or every 61 turns: a poller that never waits
 * (a `setImmediate` turn, or a poll on the helper thread that returns at once) left a leader's
 * API unanswered for one to two seconds while its members' datagrams kept it busy. A timer's turn
 * makes the loop wait (up to a millisecond when it has nothing to do), so where the loop's epoll
 * is known it is taken only when that epoll has something ready: a data path with no other I/O
 * pays nothing. A round is cut short for it too: a handler asks between its batches
 * ({@link PollHandler.onReadable}'s `yieldNow`), since a leader's round of 1,024 datagrams
 * (handshakes, joins, hellos) took 100 to 700 ms on a loaded machine, and the API waited for it.
 * A round is cut only while the loop has I/O waiting, so the turns of bulk work on timers (the
 * leader's view parts) do not take a larger share of the loop from the members' datagrams.
 */
export const LOOP_IO_TURN_MS = 50;

/** Back off this long after a failed poll(), so a persistent failure cannot spin. */
const POLL_FAILURE_DELAY_MS = 10;

/**
 * Serves a set of non-blocking fds from one loop. The loop starts with the first `add` and ends
 * once the last fd is removed, so an idle poller holds no thread and no fd.
 */
export class Poller {
  readonly #onError: (err: unknown) => void;
  readonly #spinMs: number;
  readonly #onPoll: ((phase: PollPhase, ready: number) => void) | null;
  readonly #lingerMs: number;
  readonly #roundMs: number;
  /** performance.now() when the round being served started (see roundMs). */
  #roundStart = 0;
  /** Whether the last round was ended by roundMs, and the entry the next one starts with. */
  #cut = false;
  #next = 0;
  /** The event loop's epoll fd while lingering is possible, else -1. */
  #loopFd = -1;
  /** performance.now() until which to linger (the last readiness + lingerMs). */
  #lingerUntil = 0;
  // Arrays of objects from the start (object_array.ts): no deoptimisation when the agent's poller,
  // made before the warm-up, first runs the code the warm-up's poller trained.
  readonly #entries: Entry[] = objectList();
  /** The entries in pollfd order (after the eventfd) for the poll in flight. */
  readonly #polled: Entry[] = objectList();
  readonly #serving: Entry[] = objectList();
  #pollfds = new Uint8Array(new ArrayBuffer(POLLFD_SIZE * 8));
  #pollView = new DataView(this.#pollfds.buffer);
  readonly #one = new Uint8Array(new BigUint64Array([1n]).buffer);
  readonly #drain = new Uint8Array(new ArrayBuffer(8));
  #wakeFd = -1;
  #inPoll = false;
  #idleWaiters: (() => void)[] = objectList();
  /** performance.now() when the event loop last waited for its own I/O (see LOOP_IO_TURN_MS). */
  #loopWaitedAt = 0;
  /** One pollfd: the event loop's epoll fd, to ask whether it has I/O ready. */
  readonly #loopPoll = new Uint8Array(new ArrayBuffer(POLLFD_SIZE));
  readonly #loopPollView = new DataView(this.#loopPoll.buffer);
  #loop: Promise<void> | null = null;
  /**
   * Whether the loop runs. Not `#loop !== null`: `add` sets #loop only once #run's first round
   * has returned, and a handler of that round may add an fd (it must join this loop, not start a
   * second on the same pollfd array with an eventfd of its own) or remove the last one (the loop
   * then ends before `add` sets #loop).
   */
  #running = false;

  /** Makes a poller; nothing runs until an fd is added. */
  constructor(options: PollerOptions = {}) {
    this.#onError = options.onError ?? ((err) => console.error("poller:", err));
    this.#spinMs = options.spinMs ?? 0;
    this.#onPoll = options.onPoll ?? null;
    this.#lingerMs = Math.max(0, options.lingerMs ?? 0);
    this.#roundMs = Math.max(0, options.roundMs ?? 0);
  }

  /** How many fds are registered. */
  get size(): number {
    return this.#entries.length;
  }

  /** Registers a non-blocking fd; it is served right away, then whenever poll says so. */
  add(fd: number, handler: PollHandler): void {
    if (this.#entries.some((e) => e.fd === fd)) throw new Error(`fd ${fd} is already polled`);
    this.#entries.push({ fd, handler, readReady: true, writeReady: false, removed: false });
    if (!this.#running) {
      const wake = libc().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (wake < 0) {
        this.#entries.pop();
        throw new Error("eventfd failed");
      }
      this.#wakeFd = wake;
      this.#loopFd = this.#lingerMs > 0 ? eventLoopEpollFd() ?? -1 : -1;
      this.#running = true;
      this.#loop = this.#run();
    } else {
      this.wake();
    }
  }

  /**
   * Unregisters an fd. Resolves once no poll in flight still refers to it, so the caller may then
   * close it without the fd number being reused under a running poll.
   */
  remove(fd: number): Promise<void> {
    const i = this.#entries.findIndex((e) => e.fd === fd);
    if (i < 0) return Promise.resolve();
    this.#entries[i].removed = true;
    this.#entries.splice(i, 1);
    if (!this.#inPoll) return Promise.resolve();
    const idle = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    this.wake();
    return idle;
  }

  /** Interrupts a waiting poll, e.g. after a handler's `wantsWrite` changed. */
  wake(): void {
    if (this.#inPoll && this.#wakeFd >= 0) libc().write(this.#wakeFd, this.#one, 8n);
  }

  /** Unregisters every fd and waits for the loop to end. */
  async close(): Promise<void> {
    for (const e of [...this.#entries]) await this.remove(e.fd);
    if (this.#loop !== null) await this.#loop;
  }

  async #run(): Promise<void> {
    const c = libc();
    let failures = 0;
    while (this.#entries.length > 0) {
      // While traffic keeps coming, serve and look again with a synchronous zero-timeout poll:
      // the awaited poll costs a thread hop (tens of µs), a synchronous one under a µs. The time
      // budget bounds how long timers and other tasks on the event loop wait.
      const deadline = performance.now() + this.#spinMs;
      for (;;) {
        this.#serve();
        if (this.#entries.length === 0 || this.#cut || performance.now() >= deadline) break;
        const n = this.#fill();
        if (c.poll(this.#pollfds, u64(n), 0) > 0) this.#collect(n);
        if (!this.#anyReady()) break;
      }
      if (this.#entries.length === 0) break;
      // A round ended by roundMs, or busy for a while without the event loop waiting while it
      // has I/O: a turn in which it waits (and its due timers run).
      if (this.#cut) {
        this.#cut = false;
        await this.#loopTurn();
      } else if (
        performance.now() - this.#loopWaitedAt >= LOOP_IO_TURN_MS && this.#loopHasIo()
      ) {
        await this.#loopTurn();
      }
      if (this.#entries.length === 0) break;
      // Right after traffic, wait here: one wake-up per packet instead of two (see lingerMs).
      if (this.#lingering()) {
        // First a turn of the event loop, cheap (no thread involved): the promise reactions the
        // handlers queued run, and so do due timers.
        await new Promise((resolve) => setImmediate(resolve));
        if (this.#entries.length === 0) break;
        if (this.#anyReady() || !this.#lingering()) continue;
        const woke = this.#waitHere();
        // Ours ready: serve them; nothing (the slice ended): another turn, then wait again.
        if (woke !== "loop") continue;
        // The event loop's epoll is ready: a full turn of the loop, in which it waits for its
        // I/O, with the zero-timeout poll below (most times: LOOP_IO_TURN_MS bounds the others).
      }
      const n = this.#fill();
      this.#inPoll = true;
      let ready: number;
      this.#onPoll?.("wait", 0);
      const timeout = this.#anyReady() || this.#lingering() ? 0 : -1;
      try {
        ready = await c.poll_async(this.#pollfds, u64(n), timeout);
      } catch (err) {
        ready = -1;
        this.#onError(err);
      }
      this.#onPoll?.("wake", ready);
      this.#inPoll = false;
      // A wait with no timeout: the event loop waited with it (for its own I/O too).
      if (timeout < 0) this.#loopWaitedAt = performance.now();
      const waiters = this.#idleWaiters;
      if (waiters.length > 0) {
        this.#idleWaiters = objectList();
        for (const resolve of waiters) resolve();
      }
      if (ready < 0) {
        // errno belongs to the blocking thread; EINTR is the usual cause and needs no action.
        if (++failures > 3) await new Promise((r) => setTimeout(r, POLL_FAILURE_DELAY_MS));
        continue;
      }
      failures = 0;
      if (ready > 0) this.#collect(n);
    }
    c.close(this.#wakeFd);
    this.#wakeFd = -1;
    this.#running = false;
  }

  /** Whether the event loop is owed a turn now: busy past LOOP_IO_TURN_MS with I/O waiting. */
  readonly #yieldNow = (): boolean =>
    this.#roundOver() ||
    (performance.now() - this.#loopWaitedAt >= LOOP_IO_TURN_MS && this.#loopFd >= 0 &&
      this.#loopHasIo());

  /** Whether the round being served has run for roundMs (never without roundMs). */
  #roundOver(): boolean {
    return this.#roundMs > 0 && performance.now() - this.#roundStart >= this.#roundMs;
  }

  /** Whether the event loop's epoll has I/O ready (true when it is not known). */
  #loopHasIo(): boolean {
    if (this.#loopFd < 0) return true;
    const v = this.#loopPollView;
    v.setInt32(0, this.#loopFd, true);
    v.setInt16(4, POLLIN, true);
    v.setInt16(6, 0, true);
    return libc().poll(this.#loopPoll, 1n, 0) !== 0;
  }

  /** A turn of the event loop in which it waits for its own I/O: a timer's (see LOOP_IO_TURN_MS). */
  async #loopTurn(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.#loopWaitedAt = performance.now();
  }

  /** Whether to wait on the JS thread: traffic was recent and the event loop's epoll is known. */
  #lingering(): boolean {
    return this.#loopFd >= 0 && this.#lingerUntil > performance.now();
  }

  /**
   * Waits for readiness on the JS thread (see `lingerMs`) for at most a slice: `ours` when only
   * our fds are ready, `loop` when the event loop's epoll is (its I/O, signals or another
   * thread's wake-up), `none` when the slice or the lingering ended first (or poll failed).
   */
  #waitHere(): "ours" | "loop" | "none" {
    const now = performance.now();
    const n = this.#fill();
    const v = this.#pollView;
    const off = n * POLLFD_SIZE;
    v.setInt32(off, this.#loopFd, true);
    v.setInt16(off + 4, POLLIN, true);
    v.setInt16(off + 6, 0, true);
    const timeout = Math.max(1, Math.ceil(Math.min(LINGER_SLICE_MS, this.#lingerUntil - now)));
    this.#onPoll?.("wait-here", 0);
    const ready = libc().poll(this.#pollfds, u64(n + 1), timeout);
    this.#onPoll?.("wake", ready);
    if (ready <= 0) return "none";
    const loop = v.getInt16(off + 6, true);
    // The epoll fd closed under us (it never is): stop lingering rather than spin on POLLNVAL.
    if (loop & POLLNVAL) this.#loopFd = -1;
    this.#collect(n);
    return loop !== 0 ? "loop" : "ours";
  }

  #anyReady(): boolean {
    for (const e of this.#entries) if (e.readReady || e.writeReady) return true;
    return false;
  }

  /**
   * Serves ready entries; a handler stopped by its budget stays ready. With roundMs, stops once
   * the round has run that long (`#cut`): the entries not served keep their readiness, and the
   * next round starts with the first of them.
   */
  #serve(): void {
    // Handlers may add or remove entries while being served: iterate over a copy.
    const serving = this.#serving;
    serving.length = 0;
    const entries = this.#entries;
    const n = entries.length;
    const start = this.#roundMs > 0 && n > 0 ? this.#next % n : 0;
    for (let i = 0; i < n; i++) serving.push(entries[(start + i) % n]);
    this.#roundStart = performance.now();
    for (let i = 0; i < serving.length; i++) {
      const e = serving[i];
      if (i > 0 && this.#roundOver()) {
        this.#cut = true;
        this.#next = start + i;
        break;
      }
      if (e.removed) continue;
      try {
        if (e.writeReady) {
          e.writeReady = false;
          e.handler.onWritable();
        }
        if (e.readReady && !e.removed) {
          e.readReady = false;
          if (e.handler.onReadable(this.#yieldNow)) e.readReady = true;
        }
      } catch (err) {
        this.#onError(err);
      }
    }
    // A last handler's batches that ran the round out end it the same way.
    if (!this.#cut && this.#roundOver()) this.#cut = true;
    serving.length = 0;
  }

  /** Writes the pollfd array (eventfd first); returns how many it holds. */
  #fill(): number {
    const entries = this.#entries;
    const n = entries.length + 1;
    // One slot more than needed, for the event loop's epoll fd while lingering.
    if (this.#pollfds.length < (n + 1) * POLLFD_SIZE) {
      this.#pollfds = new Uint8Array(new ArrayBuffer(n * 2 * POLLFD_SIZE));
      this.#pollView = new DataView(this.#pollfds.buffer);
    }
    const v = this.#pollView;
    v.setInt32(0, this.#wakeFd, true);
    v.setInt16(4, POLLIN, true);
    v.setInt16(6, 0, true);
    const polled = this.#polled;
    polled.length = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      const off = (i + 1) * POLLFD_SIZE;
      v.setInt32(off, e.fd, true);
      v.setInt16(off + 4, POLLIN | (e.handler.wantsWrite ? POLLOUT : 0), true);
      v.setInt16(off + 6, 0, true);
      polled.push(e);
    }
    return n;
  }

  /** Marks entries ready from the revents of the poll that just returned. */
  #collect(n: number): void {
    const v = this.#pollView;
    if (v.getInt16(6, true) !== 0) libc().read(this.#wakeFd, this.#drain, 8n);
    let traffic = false;
    for (let i = 1; i < n; i++) {
      const e = this.#polled[i - 1];
      if (e.removed) continue;
      const revents = v.getInt16(i * POLLFD_SIZE + 6, true);
      if (revents === 0) continue;
      if (revents & POLLNVAL) {
        // Closed behind our back: polling it again would spin.
        this.#onError(new Error(`fd ${e.fd} was closed while polled`));
        e.removed = true;
        this.#entries.splice(this.#entries.indexOf(e), 1);
        continue;
      }
      if (revents & (POLLIN | POLLERR | POLLHUP)) e.readReady = true;
      if (revents & POLLOUT) e.writeReady = true;
      traffic = true;
    }
    if (traffic && this.#lingerMs > 0) this.#lingerUntil = performance.now() + this.#lingerMs;
  }
}
