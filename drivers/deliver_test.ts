import assert from "node:assert/strict";
import { deliverDatagram } from "./deliver.ts";
import { EndpointTable } from "./shared/endpoint.ts";
import { newTransportStats } from "./shared/stats.ts";
import type { DatagramSink, Endpoint } from "../lib/io/driver.ts";

class Sink implements DatagramSink {
  got: { data: Uint8Array; from: Endpoint }[] = [];
  flushes = 0;
  throwOn: "datagram" | "flush" | null = null;
  datagram(data: Uint8Array, from: Endpoint): void {
    if (this.throwOn === "datagram") throw new Error("sink broke");
    this.got.push({ data, from });
  }
  flush(): void {
    this.flushes++;
    if (this.throwOn === "flush") throw new Error("flush broke");
  }
}

Deno.test("a datagram reaches the sink with an interned source, then a flush; it is counted", () => {
  const table = new EndpointTable();
  const stats = newTransportStats();
  const sink = new Sink();
  const errors: unknown[] = [];
  const data = Uint8Array.of(1, 2, 3);
  deliverDatagram(table, stats, sink, (e) => errors.push(e), data, "192.0.2.1", 51820);
  deliverDatagram(table, stats, sink, (e) => errors.push(e), new Uint8Array(10), "2001:db8::1", 9);
  deliverDatagram(table, stats, sink, (e) => errors.push(e), new Uint8Array(1), "192.0.2.1", 51820);
  assert.equal(sink.got.length, 3);
  assert.equal(sink.got[0].data, data); // handed over as is, not copied
  assert.equal(sink.got[0].from.toString(), "192.0.2.1:51820");
  assert.equal(sink.got[1].from.toString(), "[2001:db8::1]:9");
  assert.equal(sink.got[1].from.family, 6);
  // The same source is the same object (roaming detection compares by identity).
  assert.equal(sink.got[2].from, sink.got[0].from);
  assert.equal(sink.got[0].from, table.fromText("192.0.2.1", 51820));
  assert.equal(sink.flushes, 3);
  assert.deepEqual(stats, { ...newTransportStats(), datagramsIn: 3, bytesIn: 14 });
  assert.deepEqual(errors, []);
});

Deno.test("a source that is not an address is a receive error, and nothing is delivered", () => {
  const stats = newTransportStats();
  const sink = new Sink();
  const errors: unknown[] = [];
  deliverDatagram(
    new EndpointTable(),
    stats,
    sink,
    (e) => errors.push(e),
    new Uint8Array(4),
    "not-an-ip",
    1,
  );
  assert.equal(sink.got.length, 0);
  assert.equal(sink.flushes, 0);
  assert.equal(stats.recvErrors, 1);
  assert.equal(stats.datagramsIn, 0);
  assert.equal(errors.length, 1);
});

Deno.test("a sink that throws is reported, not thrown; the datagram still counts", () => {
  for (const where of ["datagram", "flush"] as const) {
    const stats = newTransportStats();
    const sink = new Sink();
    sink.throwOn = where;
    const errors: unknown[] = [];
    deliverDatagram(
      new EndpointTable(),
      stats,
      sink,
      (e) => errors.push(e),
      new Uint8Array(7),
      "10.0.0.1",
      5,
    );
    assert.equal(errors.length, 1, where);
    assert.match(String(errors[0]), /broke/);
    assert.equal(stats.datagramsIn, 1);
    assert.equal(stats.bytesIn, 7);
    assert.equal(stats.recvErrors, 0);
  }
});
