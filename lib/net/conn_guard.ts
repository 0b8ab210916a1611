/**
 * An accept loop that an attacker cannot crash or fill: a failed accept (out of file descriptors,
 * say) is counted and retried after a short, growing pause; the open connections are capped, and
 * at the cap the oldest connection that is only waiting (for a request head, a query) is closed
 * to make room, so a flood of idle or slow sockets rotates through the slots while a client that
 * talks at once gets served. Only when every slot is busy is the new connection refused.
 * Used by the status server, the DNS server's TCP side and the UAPI socket.
 * @module
 */

import type { Logger } from "../log/logger.ts";

/** What a guarded listener counted; a plain object for /metrics. */
export interface ListenerStats {
  /** Connections accepted. */
  accepted: number;
  /** Accepts that failed (e.g. EMFILE); each is followed by a pause, none ends the loop. */
  acceptErrors: number;
  /** New connections closed at once because every slot was busy. */
  rejected: number;
  /** Waiting connections closed to make room for a new one. */
  evicted: number;
  /** Connections closed by a deadline (slow request head, idle, stalled write). */
  timedOut: number;
  /** Connections open now. */
  open: number;
}

/** Zeroed counters. */
export function newListenerStats(): ListenerStats {
  return { accepted: 0, acceptErrors: 0, rejected: 0, evicted: 0, timedOut: 0, open: 0 };
}

/** One accepted connection and whether it may be evicted. */
export class Slot<C extends Deno.Conn = Deno.Conn> {
  /** True while the connection only waits for its peer (evictable at the cap). */
  waiting = true;
  #closed = false;

  constructor(readonly conn: C, readonly stats: ListenerStats) {}

  /** Whether the connection was closed (by us). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the connection (idempotent); `timedOut` counts it as a deadline close. */
  close(timedOut = false): void {
    if (this.#closed) return;
    this.#closed = true;
    if (timedOut) this.stats.timedOut++;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/** Options of {@linkcode guardListener}. */
export interface GuardOptions<C extends Deno.Conn> {
  /** Names the listener in logs (`http`, `dns-tcp`, `uapi`). */
  name: string;
  /** Most connections open at once. */
  maxConnections: number;
  /** Serves one connection; the guard closes it when the promise settles. */
  serve: (slot: Slot<C>) => Promise<void>;
  /** Counters to update (created when absent). */
  stats?: ListenerStats;
  /** Where accept errors go (the first, then one per {@linkcode ERROR_LOG_EVERY}). */
  logger?: Logger;
}

/** A running guarded accept loop. */
export interface GuardedListener {
  /** The counters. */
  readonly stats: ListenerStats;
  /** Stops accepting, closes every connection and waits for the loop to end. */
  close(): Promise<void>;
}

/** Accept errors are logged once, then once per this many (an attacker can cause them). */
export const ERROR_LOG_EVERY = 1000;
const PAUSE_MIN_MS = 10;
const PAUSE_MAX_MS = 500;

/** Runs the accept loop of `listener` under the guard's rules until `close()`. */
export function guardListener<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  opts: GuardOptions<C>,
): GuardedListener {
  const stats = opts.stats ?? newListenerStats();
  // Insertion order is accept order: the first waiting slot found is the oldest one.
  const slots = new Set<Slot<C>>();
  const served = new Set<Promise<void>>();
  let closed = false;

  const makeRoom = (): boolean => {
    if (slots.size < opts.maxConnections) return true;
    for (const s of slots) {
      if (s.waiting) {
        stats.evicted++;
        s.close();
        slots.delete(s);
        return true;
      }
    }
    return false;
  };

  const loop = (async () => {
    let pause = PAUSE_MIN_MS;
    while (!closed) {
      let conn: C;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (closed || err instanceof Deno.errors.BadResource) return;
        // Out of descriptors the pending connection stays queued and the next accept fails the
        // same way at once: pause, longer while it lasts, so the loop does not spin.
        if (stats.acceptErrors++ % ERROR_LOG_EVERY === 0) {
          opts.logger?.warn("listener.accept_error", {
            listener: opts.name,
            error: String(err),
            count: stats.acceptErrors,
          });
        }
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, PAUSE_MAX_MS);
        continue;
      }
      pause = PAUSE_MIN_MS;
      if (closed || !makeRoom()) {
        if (!closed) stats.rejected++;
        try {
          conn.close();
        } catch { /* already closed */ }
        continue;
      }
      stats.accepted++;
      stats.open++;
      const slot = new Slot(conn, stats);
      slots.add(slot);
      const p: Promise<void> = opts.serve(slot)
        .catch(() => {/* the connection is over either way */})
        .finally(() => {
          slot.close();
          slots.delete(slot);
          stats.open--;
          served.delete(p);
        });
      served.add(p);
    }
  })();

  return {
    stats,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch { /* already closed */ }
      for (const s of slots) s.close();
      await loop;
      await Promise.allSettled([...served]);
    },
  };
}
