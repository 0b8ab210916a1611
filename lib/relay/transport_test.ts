import assert from "node:assert/strict";
import type { DatagramSink, Endpoint, Transport } from "../io/driver.ts";
import { RelayClient } from "./client.ts";
import { RelayServer } from "./server.ts";
import { RelayTransport } from "./transport.ts";
import { relayType } from "./wire.ts";
import { ep, inner, newKey, sessionFor } from "../../tests/fixtures/relay.ts";

const A = newKey();
const B = newKey();
const R = newKey();
const ER = ep("192.0.2.100:51820");
const EA = ep("198.51.100.1:51820");
const EB = ep("198.51.100.2:51820");

/** A transport that records what it is asked to send. */
class FakeUnderlay implements Transport {
  readonly name = "fake";
  readonly port = 51820;
  sent: { data: Uint8Array; to: Endpoint }[] = [];
  flushes = 0;
  started = false;
  closed = false;
  start(_sink: DatagramSink): void {
    this.started = true;
  }
  send(data: Uint8Array, to: Endpoint): void {
    this.sent.push({ data: data.slice(), to });
  }
  flush(): void {
    this.flushes++;
  }
  endpoint(text: string): Endpoint {
    return ep(text);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** Records what a transport hands its sink. */
class Sink implements DatagramSink {
  got: { data: Uint8Array; from: Endpoint }[] = [];
  datagram(data: Uint8Array, from: Endpoint): void {
    this.got.push({ data: data.slice(), from });
  }
  flush(): void {}
}

function setup() {
  const relayed: { data: Uint8Array; to: Endpoint }[] = [];
  const server = new RelayServer({
    now: () => 0,
    send: (data, to) => relayed.push({ data: data.slice(), to }),
    isMember: () => true,
    selfKey: R,
  });
  server.setEndpoint(A, EA);
  server.setEndpoint(B, EB);
  const side = (self: string) => {
    const client = new RelayClient({ now: () => 0, selfKey: self });
    client.setRelay(R, ER);
    const underlay = new FakeUnderlay();
    const transport = new RelayTransport(client, underlay);
    const sink = new Sink();
    transport.start(sink);
    return { client, underlay, transport, sink };
  };
  const a = side(A);
  const b = side(B);
  const res = server.open(A, B);
  a.client.asked(R, B);
  a.client.onSession(sessionFor(res.send, A), R);
  b.client.asked(R, A);
  b.client.onSession(sessionFor(res.send, B), R);
  return { server, relayed, a, b };
}

Deno.test("relay transport: a send to a virtual endpoint goes wrapped to the relay", () => {
  const { a } = setup();
  const msg = inner(148);
  a.transport.send(msg, a.client.endpoint(R, B));
  assert.equal(a.underlay.sent.length, 1);
  const out = a.underlay.sent[0];
  assert.equal(out.to, ER);
  assert.equal(relayType(out.data), 0x15);
  assert.deepEqual(out.data.subarray(16), msg);
  assert.equal(a.transport.stats.sent, 1);
  a.transport.flush();
  assert.equal(a.underlay.flushes, 1, "flushing flushes the underlay");
  assert.equal(a.transport.port, 51820);
  assert.equal(a.underlay.started, false, "the underlay is not the relay transport's to start");
});

Deno.test("relay transport: delivered packets reach the sink from the peer's virtual endpoint", () => {
  const { server, relayed, a, b } = setup();
  a.transport.send(inner(200, 9), a.client.endpoint(R, B));
  server.forward(a.underlay.sent[0].data, EA);
  assert.ok(b.transport.deliver(relayed[0].data, ER));
  assert.equal(b.sink.got.length, 1);
  assert.deepEqual(b.sink.got[0].data, inner(200, 9));
  assert.equal(b.sink.got[0].from, b.client.endpoint(R, A));
  assert.equal(b.transport.stats.delivered, 1);
  // B's reply to that endpoint goes back through the relay.
  b.transport.send(inner(92), b.sink.got[0].from);
  server.forward(b.underlay.sent[0].data, EB);
  assert.ok(a.transport.deliver(relayed[1].data, ER));
  assert.equal(a.sink.got[0].from, a.client.endpoint(R, B));
});

Deno.test("relay transport: what cannot be sent or delivered is dropped and counted", () => {
  const { a, b } = setup();
  a.transport.send(inner(), EB); // not a relay endpoint
  a.transport.send(inner(), a.client.endpoint(R, newKey())); // no session with that peer
  assert.equal(a.underlay.sent.length, 0);
  assert.equal(a.transport.stats.sendDrops, 2);
  assert.equal(b.transport.deliver(inner(100), ER), false);
  assert.equal(b.transport.stats.deliverDrops, 1);
  assert.equal(b.sink.got.length, 0);
});

Deno.test("relay transport: parses relay:// text through its client; closing leaves the underlay", async () => {
  const { a } = setup();
  const v = a.client.endpoint(R, B);
  assert.equal(a.transport.endpoint(v.toString()), v);
  assert.throws(() => a.transport.endpoint("192.0.2.1:5"), /invalid relay endpoint/);
  await a.transport.close();
  assert.equal(a.underlay.closed, false);
  a.transport.send(inner(), v);
  assert.equal(a.underlay.sent.length, 0, "closed: nothing sent");
  assert.equal(a.transport.deliver(inner(), ER), false);
});

/** An underlay that lends one send slot, as the Linux UDP transport does. */
class SlotUnderlay extends FakeUnderlay {
  readonly slot = new Uint8Array(2048);
  reserved: Endpoint | null = null;
  committed: { length: number; to: Endpoint; tos?: number }[] = [];
  reserve(max: number, to: Endpoint): Uint8Array | null {
    if (max > this.slot.length) return null;
    this.reserved = to;
    return this.slot;
  }
  commit(length: number, to: Endpoint, tos?: number): void {
    if (this.reserved !== to) throw new Error("commit without reserve");
    this.reserved = null;
    this.committed.push({ length, to, tos });
    this.sent.push({ data: this.slot.slice(0, length), to });
  }
}

Deno.test("relay transport: reserve lends the slot past the relay header; commit seals it in place", () => {
  const { a, b, server, relayed } = setup();
  const underlay = new SlotUnderlay();
  const t = new RelayTransport(a.client, underlay);
  const to = a.client.endpoint(R, B);
  const msg = inner(1452, 4);
  const lent = t.reserve(msg.length, to)!;
  assert.ok(lent);
  assert.equal(lent.buffer, underlay.slot.buffer);
  assert.equal(lent.byteOffset, 16, "the device builds its message after the relay header");
  assert.equal(t.reserve(msg.length, to), lent, "the same view for the same slot");
  lent.set(msg);
  t.commit(msg.length, to, 0x20);
  assert.deepEqual(underlay.committed, [{ length: 1468, to: ER, tos: 0x20 }]);
  assert.equal(t.stats.sent, 1);
  // What went out is what `send` would have sent.
  a.transport.send(msg, to);
  assert.deepEqual(underlay.sent[0].data, a.underlay.sent[0].data);
  assert.equal(server.forward(underlay.sent[0].data, EA), null);
  assert.ok(b.transport.deliver(relayed[0].data, ER));
  assert.deepEqual(b.sink.got[0].data, msg);
  // No session, not a relay endpoint, or committing what was not reserved.
  assert.equal(t.reserve(100, a.client.endpoint(R, newKey())), null);
  assert.equal(t.reserve(100, EB), null);
  assert.throws(() => t.commit(100, to), /without reserve/);
  // A reservation not committed is forgotten by a send or a flush.
  t.reserve(100, to);
  t.flush();
  assert.throws(() => t.commit(100, to), /without reserve/);
});
