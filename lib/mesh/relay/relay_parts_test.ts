import assert from "node:assert/strict";
import type { Endpoint } from "../../io/driver.ts";
import type { MembershipView } from "../../members/member.ts";
import { RelayServer } from "../../relay/server.ts";
import { dataMessage, ep, newKey, packet, sessionFor } from "../../../tests/fixtures/relay.ts";
import { makeRelayParts } from "./relay_parts.ts";

const SELF = newKey(); // the leader: it relays, and its client relays through another relay
const A = newKey();
const B = newKey();
const OTHER = newKey(); // another relay, granting the leader's client a session with A
const EA = ep("198.51.100.1:51820");
const EB = ep("198.51.100.2:51820");
const ESELF = ep("192.0.2.1:51820");
const EOTHER = ep("192.0.2.2:51820");

/** `performance.now` counted while `f` runs. */
function countClockReads(f: () => void): number {
  const real = performance.now.bind(performance);
  let reads = 0;
  performance.now = () => (reads++, real());
  try {
    f();
  } finally {
    performance.now = real;
  }
  return reads;
}

Deno.test("relay parts: a batch of packets through the relay and the client reads the clock once, not per packet", () => {
  const view: MembershipView = {
    network: "10.9.0.0/24",
    version: 1,
    members: [SELF, A, B].map((publicKey, i) => ({
      name: `n${i}`,
      publicKey,
      address: `10.9.0.${i + 1}`,
      endpoints: [],
      labels: {},
      role: i === 0 ? "leader" : "node",
      services: [],
      joinedAt: 0,
    })),
  };
  const parts = makeRelayParts({ role: "leader" }, view);
  const server = parts.server!;
  const forwarded: Endpoint[] = [];
  parts.underlay = {
    name: "fake",
    port: 51820,
    start() {},
    send: (_data: Uint8Array, to: Endpoint) => void forwarded.push(to),
    flush() {},
    endpoint: () => EA,
    close: () => Promise.resolve(),
  };
  // The leader relays A's packets to B.
  server.setEndpoint(A, EA);
  server.setEndpoint(B, EB);
  server.open(A, B, true);
  const granted = server.open(B, A, true);
  const toB = sessionFor(granted.send, A).send;
  // The leader's client holds a session with A through another relay.
  const other = new RelayServer({ now: () => 1, send: () => {}, isMember: () => true });
  other.setEndpoint(SELF, ESELF);
  other.setEndpoint(A, EA);
  other.open(SELF, A, true);
  const res = other.open(A, SELF, true);
  parts.client.setRelay(OTHER, EOTHER);
  parts.client.asked(OTHER, A);
  assert.equal(parts.client.onSession(sessionFor(res.send, SELF), OTHER), null);

  const N = 200;
  const msg = dataMessage(1452);
  const packets = Array.from({ length: N }, () => packet(toB, msg));
  const reads = countClockReads(() => {
    for (const p of packets) assert.equal(server.forward(p, EA), null);
    for (let i = 0; i < N; i++) assert.notEqual(parts.client.wrap(A, msg), null);
  });
  assert.equal(forwarded.length, N);
  // Once for the batch (main read it for every packet: forward, and wrap's stamp).
  assert.ok(reads <= 2, `${reads} clock reads for ${2 * N} packets`);
});
