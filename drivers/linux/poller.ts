/**
 * One event loop over several non-blocking file descriptors (a TUN and a UDP socket), built on a
 * single `poll(2)` run on a Deno FFI blocking thread.
 *
 * Each round, every ready fd is served synchronously on the JS thread (its handler reads until
 * EAGAIN or until its budget runs out), then one awaited `poll()` waits for all fds at once. So a
 * burst of packets costs one promise, not one per packet. An eventfd in the set lets `add`,
 * `remove` and write interest changes interrupt a poll that is waiting.
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

/** What the poller calls when a registered fd is ready. */
export interface PollHandler {
  /**
   * The fd is readable (or has an error to collect): read until EAGAIN or a budget. Return true
   * when stopped by the budget, so the fd is served again next round without waiting.
   */
  onReadable(): boolean;
  /** The fd is writable; only polled for while `wantsWrite` is true. */
  onWritable(): void;
  /** Whether to wait for writability too (after a send met EAGAIN). */
  readonly wantsWrite: boolean;
}

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
}

interface Entry {
  readonly fd: number;
  readonly handler: PollHandler;
  readReady: boolean;
  writeReady: boolean;
  removed: boolean;
}

/** Back off this long after a failed poll(), so a persistent failure cannot spin. */
const POLL_FAILURE_DELAY_MS = 10;

/**
 * Serves a set of non-blocking fds from one loop. The loop starts with the first `add` and ends
 * once the last fd is removed, so an idle poller holds no thread and no fd.
 */
export class Poller {
  readonly #onError: (err: unknown) => void;
  readonly #spinMs: number;
  readonly #entries: Entry[] = [];
  /** The entries in pollfd order (after the eventfd) for the poll in flight. */
  readonly #polled: Entry[] = [];
  readonly #serving: Entry[] = [];
  #pollfds = new Uint8Array(new ArrayBuffer(POLLFD_SIZE * 8));
  #pollView = new DataView(this.#pollfds.buffer);
  readonly #one = new Uint8Array(new BigUint64Array([1n]).buffer);
  readonly #drain = new Uint8Array(new ArrayBuffer(8));
  #wakeFd = -1;
  #inPoll = false;
  #idleWaiters: (() => void)[] = [];
  #loop: Promise<void> | null = null;

  /** Makes a poller; nothing runs until an fd is added. */
  constructor(options: PollerOptions = {}) {
    this.#onError = options.onError ?? ((err) => console.error("poller:", err));
    this.#spinMs = options.spinMs ?? 0;
  }

  /** How many fds are registered. */
  get size(): number {
    return this.#entries.length;
  }

  /** Registers a non-blocking fd; it is served right away, then whenever poll says so. */
  add(fd: number, handler: PollHandler): void {
    if (this.#entries.some((e) => e.fd === fd)) throw new Error(`fd ${fd} is already polled`);
    this.#entries.push({ fd, handler, readReady: true, writeReady: false, removed: false });
    if (this.#loop === null) {
      const wake = libc().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (wake < 0) {
        this.#entries.pop();
        throw new Error("eventfd failed");
      }
      this.#wakeFd = wake;
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
    if (this.#inPoll && this.#wakeFd >= 0) libc().write(this.#wakeFd, this.#one, 8);
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
        if (this.#entries.length === 0 || performance.now() >= deadline) break;
        const n = this.#fill();
        if (c.poll(this.#pollfds, n, 0) > 0) this.#collect(n);
        if (!this.#anyReady()) break;
      }
      if (this.#entries.length === 0) break;
      const n = this.#fill();
      this.#inPoll = true;
      let ready: number;
      try {
        ready = await c.poll_async(this.#pollfds, n, this.#anyReady() ? 0 : -1);
      } catch (err) {
        ready = -1;
        this.#onError(err);
      }
      this.#inPoll = false;
      const waiters = this.#idleWaiters;
      if (waiters.length > 0) {
        this.#idleWaiters = [];
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
    this.#loop = null;
  }

  #anyReady(): boolean {
    for (const e of this.#entries) if (e.readReady || e.writeReady) return true;
    return false;
  }

  /** Serves ready entries; a handler stopped by its budget stays ready. */
  #serve(): void {
    // Handlers may add or remove entries while being served: iterate over a copy.
    const serving = this.#serving;
    serving.length = 0;
    for (const e of this.#entries) serving.push(e);
    for (const e of serving) {
      if (e.removed) continue;
      try {
        if (e.writeReady) {
          e.writeReady = false;
          e.handler.onWritable();
        }
        if (e.readReady && !e.removed) {
          e.readReady = false;
          if (e.handler.onReadable()) e.readReady = true;
        }
      } catch (err) {
        this.#onError(err);
      }
    }
    serving.length = 0;
  }

  /** Writes the pollfd array (eventfd first); returns how many it holds. */
  #fill(): number {
    const entries = this.#entries;
    const n = entries.length + 1;
    if (this.#pollfds.length < n * POLLFD_SIZE) {
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
    if (v.getInt16(6, true) !== 0) libc().read(this.#wakeFd, this.#drain, 8);
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
    }
  }
}
