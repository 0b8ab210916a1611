import assert from "node:assert/strict";
import type { DatagramSink, Endpoint, Transport } from "../io/driver.ts";
import { RelayClient } from "./client.ts";
import { RelayMux } from "./mux.ts";
import { RelayTransport } from "./transport.ts";
import { RelayServer } from "./server.ts";
import { ep, inner, newKey, sessionFor } from "../../tests/fixtures/relay.ts";

const A = newKey();
const B = newKey();
const R = newKey();
const ER = ep("192.0.2.100:51820");
const EA = ep("198.51.100.1:51820");

/** An underlay whose receive side the test drives. */
class Underlay implements Transport {
  readonly name = "udp";
  readonly port = 4242;
  sink: DatagramSink | null = null;
  sent: { data: Uint8Array; to: Endpoint }[] = [];
  flushes = 0;
  closed = false;
  start(sink: DatagramSink): void {
    this.sink = sink;
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

class Sink implements DatagramSink {
  got: { data: Uint8Array; from: Endpoint }[] = [];
  flushes = 0;
  datagram(data: Uint8Array, from: Endpoint): void {
    this.got.push({ data: data.slice(), from });
  }
  flush(): void {
    this.flushes++;
  }
}

function setup(onToRelay?: (data: Uint8Array, from: Endpoint) => void) {
  const underlay = new Underlay();
  const client = new RelayClient({ now: () => 0, selfKey: A });
  client.setRelay(R, ER);
  const relay = new RelayTransport(client, underlay);
  const mux = new RelayMux(underlay, relay, { onToRelay });
  const sink = new Sink();
  mux.start(sink);
  return { underlay, client, relay, mux, sink };
}

/** A granted session of A with B at relay R, and a packet R forwards from B to A. */
function fromB(client: RelayClient): Uint8Array {
  let out: Uint8Array | null = null;
  const server = new RelayServer({
    now: () => 0,
    send: (d) => (out = d.slice()),
    isMember: () => true,
  });
  server.setEndpoint(A, EA);
  server.setEndpoint(B, ep("198.51.100.2:1"));
  const res = server.open(A, B);
  client.asked(R, B);
  client.onSession(sessionFor(res.send, A), R);
  const bClient = new RelayClient({ now: () => 0 });
  bClient.setRelay(R, ER);
  bClient.asked(R, A);
  bClient.onSession(sessionFor(res.send, B), R);
  server.forward(bClient.wrap(A, inner(120, 5))!.bytes.slice(), ep("198.51.100.2:1"));
  return out!;
}

Deno.test("relay mux: WireGuard and other datagrams go to the sink unchanged", () => {
  const { underlay, sink } = setup();
  const wg = Uint8Array.of(4, 0, 0, 0, ...new Uint8Array(40));
  const join = Uint8Array.of(0x10, 0, 0, 0, 1, 2, 3);
  underlay.sink!.datagram(wg, EA);
  underlay.sink!.datagram(join, EA);
  underlay.sink!.datagram(Uint8Array.of(1), EA);
  underlay.sink!.flush();
  assert.deepEqual(sink.got.map((g) => g.data), [wg, join, Uint8Array.of(1)]);
  assert.equal(sink.flushes, 1, "the underlay's batch end reaches the sink");
});

Deno.test("relay mux: relay-to-member packets are unwrapped, from the virtual endpoint", () => {
  const { underlay, client, sink } = setup();
  const pkt = fromB(client);
  underlay.sink!.datagram(pkt, ER);
  assert.equal(sink.got.length, 1);
  assert.deepEqual(sink.got[0].data, inner(120, 5));
  assert.equal(sink.got[0].from, client.endpoint(R, B));
  // A forged one goes nowhere (the client counts it).
  const forged = pkt.slice();
  forged[20] ^= 1;
  underlay.sink!.datagram(forged, ER);
  assert.equal(sink.got.length, 1);
  assert.equal(client.stats.drops.mac, 1);
});

Deno.test("relay mux: member-to-relay packets go to the relay server, or are counted", () => {
  const toRelay: Uint8Array[] = [];
  const withServer = setup((d) => toRelay.push(d.slice()));
  const pkt = Uint8Array.of(0x15, 0, 0, 0, ...new Uint8Array(60));
  withServer.underlay.sink!.datagram(pkt, EA);
  assert.deepEqual(toRelay, [pkt]);
  assert.equal(withServer.sink.got.length, 0);
  withServer.mux.setRelayHandler(undefined);
  withServer.underlay.sink!.datagram(pkt, EA);
  assert.equal(withServer.mux.stats.notRelaying, 1);

  const plain = setup();
  plain.underlay.sink!.datagram(pkt, EA);
  assert.equal(plain.mux.stats.notRelaying, 1);
  assert.equal(plain.sink.got.length, 0, "never handed to the device as a foreign datagram");
});

Deno.test("relay mux: sends go by endpoint, text parses by scheme", () => {
  const { underlay, client, mux } = setup();
  fromB(client);
  const v = client.endpoint(R, B);
  mux.send(inner(64), EA);
  mux.send(inner(64), v);
  assert.deepEqual(underlay.sent.map((s) => s.to), [EA, ER]);
  assert.equal(underlay.sent[1].data[0], 0x15);
  assert.equal(mux.endpoint(v.toString()), v);
  assert.equal(mux.endpoint("198.51.100.1:51820"), EA);
  mux.flush();
  assert.equal(underlay.flushes, 1);
  assert.equal(mux.name, "udp+relay");
  assert.equal(mux.port, 4242);
});

Deno.test("relay mux: closing closes both sides", async () => {
  const { underlay, mux, client } = setup();
  fromB(client);
  await mux.close();
  assert.ok(underlay.closed);
  mux.send(inner(64), client.endpoint(R, B));
  assert.equal(underlay.sent.length, 0);
});
