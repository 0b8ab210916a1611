import assert from "node:assert/strict";
import { TcpConns } from "./tcp_conns.ts";
import { tcpSettings } from "./tcp_options.ts";
import { Stream } from "./tcp_stream.ts";
import { TcpWriter, writeFrameHeader } from "./tcp_write.ts";
import { frames, ScriptConn } from "./testing/script_conn.ts";

function setup(opts: Record<string, number> = {}) {
  const conns = new TcpConns(tcpSettings({ port: 0, now: () => 5, ...opts }));
  const s = new Stream(conns.table.fromText("192.0.2.1", 51820), false, 0);
  const conn = new ScriptConn();
  s.conn = conn.asConn();
  conns.add(s);
  return { conns, s, conn, writer: new TcpWriter(conns) };
}

Deno.test("tcp write: the frame header is the length, big-endian", () => {
  const out = new Uint8Array(4);
  writeFrameHeader(out, 1, 0x1234);
  assert.deepEqual([...out], [0, 0x12, 0x34, 0]);
});

Deno.test("tcp write: frames queued in a batch go out in one write, prefixed, and are counted", async () => {
  const { conns, s, conn, writer } = setup();
  writer.enqueue(s, Uint8Array.of(1, 2, 3));
  writer.enqueue(s, Uint8Array.of(4));
  assert.deepEqual([conns.stats.queuedBytes, s.lastActive, conns.dirty.length], [8, 5, 1]);
  writer.flush();
  await conns.settle();
  assert.deepEqual(conn.written, [frames(Uint8Array.of(1, 2, 3), Uint8Array.of(4))]);
  assert.deepEqual(
    [conns.stats.datagramsOut, conns.stats.bytesOut, conns.stats.queuedBytes],
    [2, 4, 0],
  );
});

Deno.test("tcp write: a caller that forgets to flush still gets its frames written", async () => {
  const { conns, s, conn, writer } = setup();
  writer.enqueue(s, Uint8Array.of(9));
  await Promise.resolve();
  await conns.settle();
  assert.deepEqual(conn.written, [frames(Uint8Array.of(9))]);
});

Deno.test("tcp write: past the connection's byte cap a frame is dropped, counted", () => {
  const { conns, s, writer } = setup({ maxFrame: 100, maxQueuedBytes: 200 });
  writer.enqueue(s, new Uint8Array(100));
  writer.enqueue(s, new Uint8Array(97)); // 102 + 99 > 200
  assert.deepEqual([s.outFrames, conns.stats.drops["queue-full"], conns.stats.queuedBytes], [
    1,
    1,
    102,
  ]);
});

Deno.test("tcp write: a write that fails closes the connection and drops its frames", async () => {
  const { conns, s, conn, writer } = setup();
  conn.writeError = new Deno.errors.ConnectionReset("gone");
  writer.enqueue(s, Uint8Array.of(1));
  writer.enqueue(s, Uint8Array.of(2));
  writer.flush();
  await conns.settle();
  assert.deepEqual(
    [s.closed, conn.closed, conns.stats.drops["conn-lost"], conns.stats.sendErrors],
    [true, true, 2, 0],
    "a hang-up is counted, not an error",
  );
  assert.equal(conns.stats.queuedBytes, 0);
});

Deno.test("tcp write: a bulk sender's batches are written from two buffers kept, let go once it is quiet", async () => {
  const { conns, s, conn, writer } = setup();
  const buffers: ArrayBufferLike[] = [];
  const write = conn.write.bind(conn);
  conn.write = (data: Uint8Array) => {
    buffers.push(data.buffer);
    return write(data);
  };
  // Batches of a TUN read's worth of full-size frames (a 64 KiB TSO segment cut at an MSS of
  // 1,368: 48 frames of 1,452 bytes), each written before the next is queued, as a bulk
  // sender's are.
  for (let batch = 0; batch < 6; batch++) {
    for (let i = 0; i < 48; i++) writer.enqueue(s, new Uint8Array(1452).fill(batch));
    writer.flush();
    await conns.settle();
  }
  assert.equal(buffers.length, 6);
  assert.equal(conn.written[5][2], 5);
  // Made afresh per batch, each would be a new buffer grown from 4 KiB and copied at each step.
  assert.equal(new Set(buffers).size, 2, "the two buffers are reused");
  conns.sweep(0);
  assert.ok(s.spare !== null && s.spare.length > 65536, "a sweep right after writes keeps them");
  conns.sweep(0);
  assert.deepEqual([s.spare, s.out.length], [null, 0], "a sweep with no write since lets them go");
});
