import assert from "node:assert/strict";
import { TcpConns } from "./tcp_conns.ts";
import { tcpSettings } from "./tcp_options.ts";
import { listenTcp, TcpAcceptor } from "./tcp_listen.ts";
import { TcpReader } from "./tcp_read.ts";
import { isHangup } from "./tcp_stream.ts";
import { wsLoopHost } from "./tcp_ws.ts";
import { ScriptConn } from "./testing/script_conn.ts";

Deno.test("tcp listen: without a hostname dual-stack (or IPv4); a busy port is reported as such", () => {
  const l = listenTcp(0, undefined);
  try {
    assert.ok(["::", "0.0.0.0"].includes(l.addr.hostname), l.addr.hostname);
    assert.throws(() => listenTcp(l.addr.port, undefined), Deno.errors.AddrInUse);
  } finally {
    l.close();
  }
  const v4 = listenTcp(0, "127.0.0.1");
  assert.equal(v4.addr.hostname, "127.0.0.1");
  v4.close();
});

Deno.test("tcp listen: one address gets only so many unauthenticated connections; the same port replaces", () => {
  const conns = new TcpConns(tcpSettings({ port: 0, maxPendingPerAddress: 2, now: () => 7 }));
  const reader = new TcpReader(
    conns,
    wsLoopHost({
      stats: conns.stats,
      maxFrame: 100,
      now: () => 7,
      onError: () => {},
      isHangup,
      masks: conns.masks,
      control: () => {},
    }),
  );
  const acceptor = new TcpAcceptor(conns, reader); // not started: nothing is read
  const from = (port: number) => new ScriptConn([], { hostname: "198.51.100.1", port });
  const a = from(1);
  acceptor.accepted(a.asConn(), false);
  acceptor.accepted(from(2).asConn(), false);
  const third = from(3);
  acceptor.accepted(third.asConn(), false);
  assert.deepEqual([third.closed, conns.stats.refusedPerAddress, conns.streams.size], [true, 1, 2]);
  // The peer comes back from port 1: its old connection is dead, the new one takes its place.
  const again = from(1);
  acceptor.accepted(again.asConn(), false);
  assert.deepEqual([a.closed, again.closed, conns.streams.size, conns.stats.accepts], [
    true,
    false,
    2,
    4,
  ]);
  const s = [...conns.streams.values()][1];
  assert.deepEqual([s.accepted, s.authenticated, s.opened, s.ws], [true, false, 7, 0]);
});
