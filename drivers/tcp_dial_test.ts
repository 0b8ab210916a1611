import assert from "node:assert/strict";
import type { Endpoint } from "../lib/io/driver.ts";
import { TcpConns } from "./tcp_conns.ts";
import { TcpDials } from "./tcp_dial.ts";
import { type TcpDialer, tcpSettings } from "./tcp_options.ts";
import { TcpReader } from "./tcp_read.ts";
import { isHangup, type TcpDialOutcome } from "./tcp_stream.ts";
import { wsLoopHost } from "./tcp_ws.ts";
import { TcpWriter } from "./tcp_write.ts";
import { ScriptConn } from "./testing/script_conn.ts";

/** Dials through `dial` with a manual clock; what onDial heard. */
function setup(dial: TcpDialer) {
  const clock = { t: 10_000 };
  const heard: [string, TcpDialOutcome][] = [];
  const conns = new TcpConns(tcpSettings({
    port: 0,
    now: () => clock.t,
    redialDelayMs: 1_000,
    dial,
    onDial: (to: Endpoint, outcome) => heard.push([to.toString(), outcome]),
  }));
  const writer = new TcpWriter(conns);
  const reader = new TcpReader(
    conns,
    wsLoopHost({
      stats: conns.stats,
      maxFrame: 100,
      now: () => clock.t,
      onError: () => {},
      isHangup,
      masks: conns.masks,
      control: () => {},
    }),
  );
  return { clock, heard, conns, writer, dials: new TcpDials(conns, writer, reader) };
}

Deno.test("tcp dial: a failed dial holds off sends to that endpoint for the redial delay", async () => {
  let dials = 0;
  const { clock, heard, conns, dials: d } = setup(() => {
    dials++;
    return Promise.reject(new Deno.errors.ConnectionRefused("refused"));
  });
  const ep = conns.table.fromText("192.0.2.9", 51820);
  const s = d.start(ep)!;
  await conns.settle();
  assert.deepEqual([s.closed, conns.stats.dialFailures, heard], [true, 1, [[
    ep.toString(),
    "refused",
  ]]]);
  clock.t += 999;
  assert.equal(d.start(ep), null);
  assert.deepEqual([dials, conns.stats.drops["dial-backoff"]], [1, 1]);
  clock.t += 1;
  d.sweep(clock.t); // the failure is forgotten
  assert.notEqual(d.start(ep), null);
  await conns.settle();
  assert.equal(dials, 2);
});

Deno.test("tcp dial: frames queued while dialling are written once connected", async () => {
  const conn = new ScriptConn();
  const { heard, conns, writer, dials } = setup(() =>
    Promise.resolve(conn.asConn() as Deno.TcpConn)
  );
  const ep = conns.table.fromText("192.0.2.9", 51820);
  const s = dials.start(ep)!;
  writer.enqueue(s, Uint8Array.of(1, 2));
  writer.flush(); // not connected yet: nothing to write on
  assert.equal(conn.written.length, 0);
  await new Promise((r) => setTimeout(r, 0));
  await conns.settle();
  assert.deepEqual(heard, [[ep.toString(), "connected"]]);
  assert.deepEqual(conn.written.map((w) => [...w]), [[0, 2, 1, 2]]);
  assert.deepEqual([conns.stats.dials, conns.stats.datagramsOut, s.closed], [1, 1, false]);
});
