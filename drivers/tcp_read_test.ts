import assert from "node:assert/strict";
import { TcpConns } from "./tcp_conns.ts";
import { tcpSettings } from "./tcp_options.ts";
import { TcpReader } from "./tcp_read.ts";
import { Stream } from "./tcp_stream.ts";
import { wsLoopHost } from "./tcp_ws.ts";
import { isHangup } from "./tcp_stream.ts";
import { CollectSink } from "./testing/collect_sink.ts";
import { frames, ScriptConn } from "./testing/script_conn.ts";
import { assertSameViews, SameViewSink, viewPayloads } from "./testing/view_sink.ts";

/** Reads `chunks` on a dialled (or accepted) connection to the end; the sink and counters. */
async function read(chunks: (Uint8Array | Error)[], accepted = false) {
  const errors: unknown[] = [];
  const conns = new TcpConns(
    tcpSettings({ port: 0, maxFrame: 1000, onError: (e) => errors.push(e) }),
  );
  const host = wsLoopHost({
    stats: conns.stats,
    maxFrame: 1000,
    now: () => 0,
    onError: (e) => errors.push(e),
    isHangup,
    masks: conns.masks,
    control: () => {},
  });
  const sink = new CollectSink();
  conns.sink = sink;
  const s = new Stream(conns.table.fromText("192.0.2.1", 51820), accepted, 0);
  const conn = new ScriptConn(chunks);
  conns.attach(s, conn.asConn());
  conns.add(s);
  new TcpReader(conns, host).start(s);
  await conns.settle();
  return { conns, sink, s, conn, errors };
}

Deno.test("tcp read: frames cut across reads arrive whole, in order, one flush per read", async () => {
  const bytes = frames(Uint8Array.of(1, 2, 3), new Uint8Array(300).fill(7), Uint8Array.of(9));
  const { conns, sink, s, conn } = await read([
    bytes.subarray(0, 1), // half a prefix
    bytes.subarray(1, 100), // the first frame, part of the second
    bytes.subarray(100),
  ]);
  assert.deepEqual(sink.got.map((g) => g.data.length), [3, 300, 1]);
  assert.deepEqual([...sink.got[0].data], [1, 2, 3]);
  assert.equal(sink.got[1].data.every((b) => b === 7), true);
  assert.equal(sink.got[0].from.toString(), s.ep.toString());
  assert.equal(sink.flushes, 2, "the first read held no whole frame");
  assert.deepEqual([conns.stats.datagramsIn, conns.stats.bytesIn, s.framesIn], [3, 304, 3]);
  assert.deepEqual([s.closed, conn.closed, conns.stats.truncated], [true, true, 0]);
});

Deno.test("tcp read: a zero-length or oversized frame closes the connection, counted", async () => {
  for (const bad of [Uint8Array.of(0, 0), Uint8Array.of(0x03, 0xe9)]) { // 0, then 1,001
    const { conns, sink, s } = await read([
      frames(Uint8Array.of(5)),
      bad,
      frames(Uint8Array.of(6)),
    ]);
    assert.deepEqual(sink.got.map((g) => [...g.data]), [[5]]);
    assert.deepEqual([s.closed, conns.stats.badFrames, conns.stats.recvErrors], [true, 1, 1]);
  }
});

Deno.test("tcp read: a stream that ends inside a frame is counted truncated; a reset is no error", async () => {
  const cut = await read([frames(new Uint8Array(10)).subarray(0, 5)]);
  assert.equal(cut.conns.stats.truncated, 1);
  const reset = await read([frames(Uint8Array.of(1)), new Deno.errors.ConnectionReset("x")]);
  assert.deepEqual([reset.sink.got.length, reset.conns.stats.recvErrors, reset.errors.length], [
    1,
    0,
    0,
  ]);
});

Deno.test("tcp read: an accepted connection that starts with GET is served as a WebSocket", async () => {
  const { conns, sink, conn } = await read(
    [new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")],
    true,
  );
  assert.equal(sink.got.length, 0);
  // Not a valid Upgrade: refused, answered with an HTTP error, and the connection closed.
  assert.equal(conns.stats.badFrames, 0, "not read as frames");
  assert.equal(conn.closed, true);
  assert.ok(
    conn.written.length > 0 && new TextDecoder().decode(conn.written[0]).startsWith("HTTP/1.1 4"),
  );
});

Deno.test("tcp read: frames of one length reach the sink in one view object, wherever they lay in a read", async () => {
  const conns = new TcpConns(
    tcpSettings({ port: 0, maxFrame: 5000, onError: (e) => assert.fail(String(e)) }),
  );
  const host = wsLoopHost({
    stats: conns.stats,
    maxFrame: 5000,
    now: () => 0,
    onError: (e) => assert.fail(String(e)),
    isHangup,
    masks: conns.masks,
    control: () => {},
  });
  const sink = new SameViewSink();
  conns.sink = sink;
  const s = new Stream(conns.table.fromText("192.0.2.1", 51820), false, 0);
  // A bulk stream's frames sit at shifting offsets: a short frame moves the ones after it, and
  // a read may end inside a frame. A jumbo frame (past the slot) is handed on where it lies.
  const bytes = frames(...viewPayloads());
  const conn = new ScriptConn([
    bytes.subarray(0, 1600),
    bytes.subarray(1600, 3100),
    bytes.subarray(3100),
  ]);
  conns.attach(s, conn.asConn());
  conns.add(s);
  new TcpReader(conns, host).start(s);
  await conns.settle();
  assertSameViews(sink, 3, "frames");
});
