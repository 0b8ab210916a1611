import assert from "node:assert/strict";
import { TcpConns } from "./tcp_conns.ts";
import { tcpSettings } from "./tcp_options.ts";
import { Stream } from "./tcp_stream.ts";
import { ScriptConn } from "./testing/script_conn.ts";

const clock = { t: 1_000 };
const conns = (opts: Record<string, number> = {}) =>
  new TcpConns(tcpSettings({ port: 0, now: () => clock.t, ...opts }));

/** A connected stream from `host:port`, accepted or dialled, last active at `at`. */
function stream(c: TcpConns, host: string, port: number, accepted: boolean, at: number) {
  const s = new Stream(c.table.fromText(host, port), accepted, at);
  const conn = new ScriptConn();
  s.conn = conn.asConn();
  if (accepted) c.pendingFrom(s.ep.address, 1);
  c.add(s);
  return { s, conn };
}

Deno.test("tcp conns: at the cap the idlest unauthenticated connection goes first, then the idlest", () => {
  const c = conns({ maxConnections: 3 });
  const peer = stream(c, "192.0.2.1", 1, false, 100); // dialled: a peer's from the start
  const junkOld = stream(c, "192.0.2.2", 2, true, 300);
  const junkNew = stream(c, "192.0.2.3", 3, true, 400);
  c.makeRoom();
  assert.deepEqual([junkOld.s.closed, junkOld.conn.closed, c.stats.evicted], [true, true, 1]);
  c.makeRoom(); // below the cap now: nothing goes
  assert.equal(c.streams.size, 2);
  c.authenticated(junkNew.s.key);
  stream(c, "192.0.2.4", 4, false, 500);
  c.makeRoom();
  assert.equal(peer.s.closed, true, "all authenticated: the idlest");
  assert.deepEqual([junkNew.s.closed, c.stats.evicted, c.stats.connections], [false, 2, 2]);
});

Deno.test("tcp conns: frames queued on a connection evicted at the cap count as evicted, not conn-lost", () => {
  const c = conns({ maxConnections: 2 });
  const old = stream(c, "192.0.2.1", 1, false, 100);
  stream(c, "192.0.2.2", 2, false, 200);
  old.s.outFrames = 4;
  old.s.outLen = 40;
  c.stats.queuedBytes = 40;
  c.makeRoom();
  assert.equal(old.s.closed, true);
  assert.deepEqual(
    [c.stats.drops.evicted, c.stats.drops["conn-lost"], c.stats.sendDrops, c.stats.queuedBytes],
    [4, 0, 4, 0],
  );
});

Deno.test("tcp conns: the per-address count of unauthenticated connections comes and goes", () => {
  const c = conns();
  const a = stream(c, "192.0.2.7", 1, true, 0);
  const b = stream(c, "192.0.2.7", 2, true, 0);
  assert.equal(c.pendingAt("192.0.2.7"), 2);
  c.authenticated(a.s.key);
  c.authenticated(a.s.key); // once only
  assert.equal(c.pendingAt("192.0.2.7"), 1);
  c.close(a.s); // authenticated: not counted again
  assert.equal(c.pendingAt("192.0.2.7"), 1);
  c.close(b.s);
  assert.equal(c.pendingAt("192.0.2.7"), 0);
  assert.deepEqual([c.streams.size, c.stats.connections], [0, 0]);
});

Deno.test("tcp conns: closing drops what was queued, with the reason, and gives the bytes back", () => {
  const c = conns();
  const { s } = stream(c, "192.0.2.1", 1, false, 0);
  s.outFrames = 3;
  s.outLen = 30;
  c.stats.queuedBytes = 30;
  c.close(s, "dial-failed");
  c.close(s, "closed"); // idempotent
  assert.deepEqual(
    [c.stats.drops["dial-failed"], c.stats.drops.closed, c.stats.sendDrops, c.stats.queuedBytes],
    [3, 0, 3, 0],
  );
  assert.deepEqual([s.outLen, s.outFrames, s.spare], [0, 0, null]);
});

Deno.test("tcp conns: the sweep closes idle and silent connections, not dials in progress", () => {
  const c = conns({ idleTimeoutMs: 1_000, silentTimeoutMs: 500 });
  const idle = stream(c, "192.0.2.1", 1, false, 0);
  const silent = stream(c, "192.0.2.2", 2, true, 600);
  const fresh = stream(c, "192.0.2.3", 3, false, 600);
  const dialling = new Stream(c.table.fromText("192.0.2.4", 4), false, 0);
  c.add(dialling);
  c.sweep(1_050);
  assert.deepEqual(
    [idle.s.closed, silent.s.closed, fresh.s.closed, dialling.closed],
    [true, false, false, false],
  );
  c.sweep(1_100); // silent: 500 ms since it was accepted, never authenticated
  assert.deepEqual([silent.s.closed, fresh.s.closed, c.stats.idleClosed], [true, false, 2]);
});

Deno.test("tcp conns: closing all drops the queues as closed and marks the transport closed", async () => {
  const c = conns();
  const { s } = stream(c, "192.0.2.1", 1, false, 0);
  s.outFrames = 1;
  c.dirty.push(s);
  let ended = false;
  c.track(new Promise<void>((r) => setTimeout(r, 0)).then(() => void (ended = true)));
  c.closeAll();
  await c.settle();
  assert.deepEqual([c.closed, c.streams.size, c.dirty.length, c.stats.drops.closed], [
    true,
    0,
    0,
    1,
  ]);
  assert.equal(ended, true, "settle waits for the tasks");
});
