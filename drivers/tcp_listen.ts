/**
 * The TCP transport's listening side (`tcp.ts`): the listener (dual-stack `::` where the host has
 * IPv6, else `0.0.0.0`), the accept loop (pausing after a burst of errors, such as running out
 * of descriptors, so it cannot spin), and the admission of an accepted connection: per-address
 * cap on connections the device has not authenticated, the connection cap, and the replacement
 * of a dead connection from the same address and port.
 * @module
 */

import type { InternedEndpoint } from "./shared/endpoint.ts";
import { Stream } from "./tcp_stream.ts";
import type { TcpConns } from "./tcp_conns.ts";
import type { TcpReader } from "./tcp_read.ts";

/** Accept errors in a row after which one is reported (e.g. out of file descriptors). */
export const ERROR_BURST = 100;

/** Listens on `port` at `hostname` or, without one, dual-stack `::` first, then `0.0.0.0`. */
export function listenTcp(port: number, hostname: string | undefined): Deno.TcpListener {
  if (hostname !== undefined) return Deno.listen({ transport: "tcp", hostname, port });
  try {
    return Deno.listen({ transport: "tcp", hostname: "::", port });
  } catch (err) {
    // A busy port or a missing permission is not a missing IPv6 stack: report it as is.
    if (err instanceof Deno.errors.AddrInUse || err instanceof Deno.errors.NotCapable) {
      throw err;
    }
    return Deno.listen({ transport: "tcp", hostname: "0.0.0.0", port });
  }
}

/** Accepts the connections of a transport's listeners; see the module docs. */
export class TcpAcceptor {
  readonly #conns: TcpConns;
  readonly #reader: TcpReader;

  /** Accepts into `conns`; each connection is read by `reader` once the transport started. */
  constructor(conns: TcpConns, reader: TcpReader) {
    this.#conns = conns;
    this.#reader = reader;
  }

  /** Accepts from `listener` (`tls`: its connections are `wss`) until the transport closes. */
  async loop(listener: Deno.TcpListener | Deno.TlsListener, tls: boolean): Promise<void> {
    const conns = this.#conns;
    let errorsInRow = 0;
    while (!conns.closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (conns.closed || err instanceof Deno.errors.BadResource) return;
        conns.stats.recvErrors++;
        // Out of descriptors and the like: pause so the loop cannot spin, and say so now and then.
        if (++errorsInRow >= ERROR_BURST) {
          errorsInRow = 0;
          conns.settings.onError(err);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      errorsInRow = 0;
      if (conns.closed) {
        conn.close();
        return;
      }
      this.accepted(conn, tls);
    }
  }

  /** Admits an accepted connection (see the module docs), or closes it, counted. */
  accepted(conn: Deno.Conn, tls: boolean): void {
    const conns = this.#conns;
    const addr = conn.remoteAddr as Deno.NetAddr;
    let ep: InternedEndpoint;
    try {
      // A TLS connection is a WebSocket from the start; a plain one may become one (tcp_read.ts).
      ep = (tls ? conns.wssTable : conns.table).fromText(addr.hostname, addr.port);
    } catch (err) {
      conns.stats.recvErrors++;
      conns.settings.onError(err);
      conn.close();
      return;
    }
    conns.stats.accepts++;
    // A peer reconnecting from the same address and port: its old connection is dead.
    const old = conns.streams.get(ep.toString());
    if (old !== undefined) conns.close(old);
    // One address may hold only so many connections the device has not vouched for.
    if (conns.pendingAt(ep.address) >= conns.settings.maxPendingPerAddress) {
      conns.stats.refusedPerAddress++;
      try {
        conn.close();
      } catch { /* already gone */ }
      return;
    }
    conns.makeRoom();
    const s = new Stream(ep, true, conns.settings.now());
    conns.pendingFrom(ep.address, 1);
    conns.add(s);
    conns.attach(s, conn);
    if (conns.sink !== null) this.#reader.start(s);
  }
}
