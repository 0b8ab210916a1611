import assert from "node:assert/strict";
import type { DatagramSink, Endpoint, Transport } from "../lib/io/driver.ts";
import { DualTransport } from "./dual.ts";
import { TcpTransport } from "./tcp.ts";
import { DenoUdpTransport } from "./udp_deno.ts";
import { CollectSink } from "./testing/collect_sink.ts";

Deno.test("DualTransport listens on UDP and TCP on one port number", async () => {
  const d = await DualTransport.open({ port: 0 });
  try {
    assert.equal(d.name, "udp+tcp");
    assert.ok(d.port > 0);
    assert.equal(d.udp.port, d.port);
    assert.equal(d.tcp.port, d.port);
    assert.equal(d.udp.name, "udp");
    assert.equal(d.tcp.name, "tcp");
  } finally {
    await d.close();
  }
});

Deno.test("DualTransport routes by the endpoint's protocol, both ways, into one sink", async () => {
  const a = await DualTransport.open({ port: 0, hostname: "127.0.0.1" });
  const b = await DualTransport.open({ port: 0, hostname: "127.0.0.1" });
  const sa = new CollectSink();
  const sb = new CollectSink();
  a.start(sa);
  b.start(sb);
  try {
    const overUdp = a.endpoint(`127.0.0.1:${b.port}`);
    const overTcp = a.endpoint(`tcp://127.0.0.1:${b.port}`);
    assert.equal(overUdp.proto ?? "udp", "udp");
    assert.equal(String(overUdp), `127.0.0.1:${b.port}`);
    assert.equal(overTcp.proto, "tcp");
    assert.equal(String(overTcp), `tcp://127.0.0.1:${b.port}`);
    assert.equal(a.endpoint(`udp://127.0.0.1:${b.port}`), overUdp);

    a.send(new Uint8Array([1]), overUdp);
    a.flush();
    await sb.wait(1);
    a.send(new Uint8Array([2]), overTcp);
    a.flush();
    await sb.wait(2);
    const [viaUdp, viaTcp] = sb.got;
    assert.deepEqual([viaUdp.data[0], viaTcp.data[0]], [1, 2]);
    assert.equal(viaUdp.from.proto ?? "udp", "udp");
    assert.equal(String(viaUdp.from), `127.0.0.1:${a.port}`);
    assert.equal(viaTcp.from.proto, "tcp");

    // Answers go back on the protocol each came in on.
    b.send(new Uint8Array([3]), viaUdp.from);
    b.send(new Uint8Array([4]), viaTcp.from);
    b.flush();
    await sa.wait(2);
    const back = new Map(sa.got.map((r) => [r.data[0], r.from]));
    assert.equal(back.get(3), overUdp);
    assert.equal(back.get(4), overTcp);

    const au = a.udp as DenoUdpTransport;
    const at = a.tcp as TcpTransport;
    assert.equal(au.stats.datagramsOut, 1);
    assert.equal(at.stats.datagramsOut, 1);
    assert.equal(au.stats.datagramsIn, 1);
    assert.equal(at.stats.datagramsIn, 1);
    assert.equal(at.stats.dials, 1);
    assert.equal((b.tcp as TcpTransport).stats.accepts, 1);
    // The transport reports each side's counters, by the kind of driver.
    assert.deepEqual(a.driverStats(), {
      kind: "udp+tcp",
      udp: { kind: "udp", counters: au.stats, offloads: null },
      tcp: { kind: "tcp", counters: at.stats },
    });
  } finally {
    await a.close();
    await b.close();
  }
});

/** A transport that records what it is asked to do. */
class Recorder implements Transport {
  readonly sent: string[] = [];
  flushes = 0;
  closes = 0;
  sink: DatagramSink | null = null;
  constructor(readonly name: string, readonly port: number) {}
  start(sink: DatagramSink): void {
    this.sink = sink;
  }
  send(_data: Uint8Array, to: Endpoint): void {
    this.sent.push(`${to.proto ?? "-"} ${to.address}:${to.port}`);
  }
  flush(): void {
    this.flushes++;
  }
  endpoint(text: string): Endpoint {
    return { address: text, port: 1, family: 4, proto: this.name === "tcp" ? "tcp" : undefined };
  }
  close(): Promise<void> {
    this.closes++;
    return Promise.resolve();
  }
}

Deno.test("DualTransport: plain endpoints (no proto) are UDP; close closes both once", async () => {
  const udp = new Recorder("udp", 5);
  const tcp = new Recorder("tcp", 5);
  const d = new DualTransport(udp, tcp);
  const sink = new CollectSink();
  d.start(sink);
  assert.equal(udp.sink, sink);
  assert.equal(tcp.sink, sink);
  d.send(new Uint8Array(1), { address: "192.0.2.1", port: 7, family: 4 });
  d.send(new Uint8Array(1), { address: "192.0.2.1", port: 7, family: 4, proto: "udp" });
  d.send(new Uint8Array(1), { address: "192.0.2.1", port: 7, family: 4, proto: "tcp" });
  d.send(new Uint8Array(1), { address: "192.0.2.1", port: 7, family: 4, proto: "ws" });
  d.flush();
  assert.deepEqual(udp.sent, ["- 192.0.2.1:7", "udp 192.0.2.1:7"]);
  assert.deepEqual(tcp.sent, ["tcp 192.0.2.1:7", "ws 192.0.2.1:7"]);
  assert.equal(udp.flushes, 1);
  assert.equal(tcp.flushes, 1);
  // Each side gets the text without the scheme, which picked it.
  assert.equal(d.endpoint("tcp://192.0.2.1:7").address, "192.0.2.1:7");
  assert.equal(d.endpoint("tcp://192.0.2.1:7").proto, "tcp");
  assert.equal(d.endpoint("udp://192.0.2.1:7").address, "192.0.2.1:7");
  assert.equal(d.endpoint("192.0.2.1:7").address, "192.0.2.1:7");
  // A WebSocket is the TCP side's, its scheme kept (the side tells ws from tcp by it).
  assert.equal(d.endpoint("ws://192.0.2.1:7").address, "ws://192.0.2.1:7");
  assert.equal(d.endpoint("wss://192.0.2.1:7").address, "wss://192.0.2.1:7");
  assert.throws(() => d.endpoint("http://192.0.2.1:7"), /unknown scheme/);
  const p = d.close();
  assert.equal(d.close(), p);
  await p;
  assert.equal(udp.closes, 1);
  assert.equal(tcp.closes, 1);
});

Deno.test("DualTransport.open: a fixed port taken on TCP fails and frees the UDP port", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = taken.addr.port;
  try {
    await assert.rejects(
      DualTransport.open({ port, hostname: "127.0.0.1" }),
      Deno.errors.AddrInUse,
    );
    // The UDP side was closed: its port can be bound again.
    const u = await DenoUdpTransport.open({ port, hostname: "127.0.0.1" });
    await u.close();
  } finally {
    taken.close();
  }
});

Deno.test("DualTransport.open: with port 0 it tries another port when TCP's is taken", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const opened: number[] = [];
  try {
    const d = await DualTransport.open({
      port: 0,
      hostname: "127.0.0.1",
      // The first UDP port offered is one TCP cannot have.
      openUdp: (p, hostname) => {
        const port = opened.length === 0 ? taken.addr.port : p;
        opened.push(port);
        return DenoUdpTransport.open({ port, hostname });
      },
    });
    try {
      assert.equal(opened.length, 2);
      assert.notEqual(d.port, taken.addr.port);
      assert.equal(d.tcp.port, d.port);
    } finally {
      await d.close();
    }
  } finally {
    taken.close();
  }
});
