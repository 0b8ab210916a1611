/**
 * The socket listeners' `/metrics` families (the connection guard's {@linkcode ListenerStats}
 * of `http`, `uapi`, `dns_tcp`): accepts, failed accepts, connections dropped and open.
 * @module
 */

import { type Collector, counter, gauge } from "../metrics/registry.ts";
import type { ListenerStats } from "./conn_guard.ts";

const ACCEPT_ERRORS = counter(
  "weft_listener_accept_errors_total",
  "Failed accepts (e.g. out of file descriptors), each retried after a pause, by listener.",
  ["listener"],
);
const CONNECTIONS = counter(
  "weft_listener_connections_total",
  "Connections accepted, by listener.",
  ["listener"],
);
const DROPPED = counter(
  "weft_listener_connections_dropped_total",
  "Connections closed by the guard: rejected (all slots busy), evicted (oldest idle one, " +
    "for a new one) or timeout (slow head, idle, stalled write), by listener and reason.",
  ["listener", "reason"],
);
const OPEN = gauge("weft_listener_connections_open", "Connections open now, by listener.", [
  "listener",
]);

/** The listeners' counters, by listener name; nothing while there is no listener. */
export function listenersCollector(listeners: Readonly<Record<string, ListenerStats>>): Collector {
  return (out) => {
    const names = Object.keys(listeners).sort();
    if (names.length === 0) return;
    for (const listener of names) {
      out.sample(ACCEPT_ERRORS, { listener }, listeners[listener].acceptErrors);
    }
    for (const listener of names) {
      out.sample(CONNECTIONS, { listener }, listeners[listener].accepted);
    }
    for (const listener of names) {
      const v = listeners[listener];
      out.sample(DROPPED, { listener, reason: "rejected" }, v.rejected);
      out.sample(DROPPED, { listener, reason: "evicted" }, v.evicted);
      out.sample(DROPPED, { listener, reason: "timeout" }, v.timedOut);
    }
    for (const listener of names) out.sample(OPEN, { listener }, listeners[listener].open);
  };
}
