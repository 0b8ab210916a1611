import assert from "node:assert/strict";
import { MemoryNetwork } from "./memory.ts";
import type { DatagramSink, Endpoint } from "../lib/io/driver.ts";
import { seededRandom } from "../tests/fixtures/prng.ts";

class Sink implements DatagramSink {
  got: { text: string; from: Endpoint }[] = [];
  flushes = 0;
  onDatagram: ((data: Uint8Array, from: Endpoint) => void) | null = null;
  datagram(data: Uint8Array, from: Endpoint): void {
    this.got.push({ text: new TextDecoder().decode(data), from });
    this.onDatagram?.(data, from);
  }
  flush(): void {
    this.flushes++;
  }
}

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("bind: given ports, or free ones from 40000; a taken address:port throws", () => {
  const net = new MemoryNetwork({ manual: true });
  const a = net.bind("10.0.0.1", 51820);
  assert.deepEqual([a.name, a.address, a.port], ["memory", "10.0.0.1", 51820]);
  assert.equal(a.self.toString(), "10.0.0.1:51820");
  assert.equal(net.bind("10.0.0.1").port, 40000);
  assert.equal(net.bind("10.0.0.1").port, 40001);
  assert.equal(net.bind("10.0.0.2").port, 40000);
  assert.throws(() => net.bind("10.0.0.1", 51820), /in use/);
  // Closing frees the port, once.
  a.close();
  a.close();
  assert.equal(a.closed, true);
  assert.equal(net.bind("10.0.0.1", 51820).port, 51820);
});

Deno.test("manual delivery: queued (copied) until deliver(), with the sender's endpoint", () => {
  const net = new MemoryNetwork({ manual: true });
  const a = net.bind("10.0.0.1", 1);
  const b = net.bind("10.0.0.2", 2);
  const sink = new Sink();
  b.start(sink);
  const buf = bytes("one");
  a.send(buf, a.endpoint("10.0.0.2:2"));
  buf[0] = 0x58; // reused by the caller after send
  a.send(bytes("two"), b.self);
  assert.equal(net.pending, 2);
  assert.equal(sink.got.length, 0);
  assert.equal(net.deliver(), 2);
  assert.deepEqual(sink.got.map((g) => g.text), ["one", "two"]);
  assert.equal(sink.got[0].from.toString(), "10.0.0.1:1");
  // Interned on the receiver's table: the same sender is the same object.
  assert.equal(sink.got[0].from, sink.got[1].from);
  assert.equal(sink.got[0].from, b.table.fromText("10.0.0.1", 1));
  assert.equal(sink.flushes, 1); // once per batch, not per datagram
  assert.equal(net.sent, 2);
  assert.equal(net.pending, 0);
  assert.equal(net.deliver(), 0);
});

Deno.test("deliver also hands what deliveries send in turn (a reply chain)", () => {
  const net = new MemoryNetwork({ manual: true });
  const a = net.bind("10.0.0.1", 1);
  const b = net.bind("10.0.0.2", 2);
  const sa = new Sink();
  const sb = new Sink();
  a.start(sa);
  b.start(sb);
  // b answers each message; a answers "ping" with "done".
  sb.onDatagram = (d, from) => b.send(bytes(new TextDecoder().decode(d) + "!"), from);
  sa.onDatagram = (d, from) => {
    if (new TextDecoder().decode(d) === "ping!") a.send(bytes("done"), from);
  };
  a.send(bytes("ping"), b.self);
  // ping -> b, ping! -> a, done -> b, done! -> a: one call delivers all four.
  assert.equal(net.deliver(), 4);
  assert.equal(net.pending, 0);
  assert.deepEqual(sa.got.map((g) => g.text), ["ping!", "done!"]);
  assert.deepEqual(sb.got.map((g) => g.text), ["ping", "done"]);
});

Deno.test("no receiver, a closed receiver, or one not started: lost and counted", () => {
  const net = new MemoryNetwork({ manual: true });
  const a = net.bind("10.0.0.1", 1);
  const idle = net.bind("10.0.0.3", 3);
  a.send(bytes("x"), a.endpoint("10.0.0.9:9"));
  assert.equal(net.lost, 1);
  assert.equal(net.pending, 0);
  a.send(bytes("y"), idle.self); // queued: bound but not started
  assert.equal(net.deliver(), 0);
  assert.equal(net.lost, 2);
  const b = net.bind("10.0.0.2", 2);
  const sink = new Sink();
  b.start(sink);
  a.send(bytes("z"), b.self);
  b.close(); // closed while in flight
  assert.equal(net.deliver(), 0);
  assert.equal(net.lost, 3);
  assert.equal(sink.got.length, 0);
  // A closed sender sends nothing at all.
  a.close();
  a.send(bytes("w"), b.self);
  assert.equal(net.sent, 3);
});

Deno.test("loss: the seeded random source decides which datagrams are dropped", () => {
  const run = () => {
    const net = new MemoryNetwork({ manual: true, loss: 0.5, random: seededRandom(7) });
    const a = net.bind("10.0.0.1", 1);
    const b = net.bind("10.0.0.2", 2);
    const sink = new Sink();
    b.start(sink);
    for (let i = 0; i < 200; i++) a.send(bytes(String(i)), b.self);
    net.deliver();
    return { got: sink.got.map((g) => g.text), lost: net.lost };
  };
  const first = run();
  assert.equal(first.got.length + first.lost, 200);
  assert.ok(first.lost > 50 && first.lost < 150, String(first.lost));
  assert.deepEqual(run(), first);
});

Deno.test("route: a rule drops datagrams or rewrites where they come from and go to", () => {
  const net = new MemoryNetwork({
    manual: true,
    route: (from, to, data) => {
      if (data[0] === 0x78) return null; // "x": a firewall
      // A NAT in front of 10.0.0.1: it is seen as 203.0.113.1, and reached there.
      const src = from.address === "10.0.0.1" ? `203.0.113.1:${from.port}` : from.toString();
      const dst = to.address === "203.0.113.1" ? `10.0.0.1:${to.port}` : to.toString();
      return { from: src, to: dst };
    },
  });
  const a = net.bind("10.0.0.1", 1);
  const b = net.bind("10.0.0.2", 2);
  const sa = new Sink();
  const sb = new Sink();
  a.start(sa);
  b.start(sb);
  a.send(bytes("hi"), b.self);
  a.send(bytes("x"), b.self);
  net.deliver();
  assert.deepEqual(sb.got.map((g) => [g.text, g.from.toString()]), [["hi", "203.0.113.1:1"]]);
  assert.equal(net.lost, 1);
  b.send(bytes("back"), sb.got[0].from);
  net.deliver();
  assert.deepEqual(sa.got.map((g) => [g.text, g.from.toString()]), [["back", "10.0.0.2:2"]]);
});

Deno.test("deliverSome: only the chosen datagrams, in order; the rest stay queued", () => {
  const net = new MemoryNetwork({ manual: true });
  const a = net.bind("10.0.0.1", 1);
  const b = net.bind("10.0.0.2", 2);
  const c = net.bind("10.0.0.3", 3);
  const sb = new Sink();
  const sc = new Sink();
  b.start(sb);
  c.start(sc);
  for (const t of ["b1", "c1", "b2", "c2"]) a.send(bytes(t), t[0] === "b" ? b.self : c.self);
  const seen: string[] = [];
  const n = net.deliverSome((data, from, to) => {
    seen.push(`${new TextDecoder().decode(data)} ${from} ${to}`);
    return to.port === 3;
  });
  assert.equal(n, 2);
  assert.deepEqual(seen, [
    "b1 10.0.0.1:1 10.0.0.2:2",
    "c1 10.0.0.1:1 10.0.0.3:3",
    "b2 10.0.0.1:1 10.0.0.2:2",
    "c2 10.0.0.1:1 10.0.0.3:3",
  ]);
  assert.deepEqual(sc.got.map((g) => g.text), ["c1", "c2"]);
  assert.equal(sb.got.length, 0);
  assert.equal(net.pending, 2);
  net.deliver();
  assert.deepEqual(sb.got.map((g) => g.text), ["b1", "b2"]);
});

Deno.test("automatic delivery happens on a microtask after send, batched", async () => {
  const net = new MemoryNetwork();
  const a = net.bind("10.0.0.1", 1);
  const b = net.bind("10.0.0.2", 2);
  const sink = new Sink();
  let arrived!: () => void;
  const done = new Promise<void>((r) => (arrived = r));
  sink.flush = () => {
    sink.flushes++;
    arrived();
  };
  b.start(sink);
  a.send(bytes("1"), b.self);
  a.send(bytes("2"), b.self);
  assert.equal(sink.got.length, 0); // not synchronously
  await done;
  assert.deepEqual(sink.got.map((g) => g.text), ["1", "2"]);
  assert.equal(sink.flushes, 1);
  a.flush(); // a no-op
  await a.close();
  await b.close();
});
