// Roaming against a failed UDP endpoint held (roaming.ts leaveFailedUdp): the peer's packets from
// there do not move it back; from another UDP place they do (the peer moved); heard anywhere else,
// or moved onto UDP by a route, the hold ends. One peer, driven by hand.
import assert from "node:assert/strict";
import type { Endpoint } from "../io/driver.ts";
import type { Peer } from "../peer/peer.ts";
import type { DeviceState } from "./state.ts";
import type { DeviceEvent } from "./types.ts";
import { heldOff, leaveFailedUdp, moveEndpoint, roam } from "./roaming.ts";

function at(text: string): Endpoint {
  const m = /^(?:(tcp|relay):\/\/)?([^:/]+):(\d+)/.exec(text)!;
  return {
    address: m[2],
    port: Number(m[3]),
    family: 4,
    proto: (m[1] ?? "udp") as Endpoint["proto"],
    toString: () => text,
  } as Endpoint;
}

/** A peer on UDP at 192.0.2.1:51820, and the moves the device tells of. */
function setup() {
  const events: string[] = [];
  const s = {
    listeners: [(e: DeviceEvent) => {
      if (e.type === "endpoint-changed") events.push(e.endpoint);
    }],
    transport: {},
  } as unknown as DeviceState;
  const peer = {
    publicKeyText: "P",
    endpoint: at("192.0.2.1:51820"),
    otherEndpoint: null,
    earlierEndpoints: [null, null, null, null],
    earlierNext: 0,
    endpointMoves: 0,
    udpHeardAt: new Float64Array([-Infinity]),
    failedUdp: null,
  } as unknown as Peer;
  // A fresh object each time, as a transport hands them.
  // As the device's receive and handshake paths call it: the hold is checked before roam().
  const from = (text: string) => {
    const f = at(text);
    if (peer.failedUdp === null || !heldOff(peer, f)) roam(s, peer, f, 10_000);
  };
  return { peer, events, from, where: () => peer.endpoint?.toString() };
}

Deno.test("roaming: packets from a UDP place left as failed do not move the peer back; from another UDP place they do", () => {
  const f = setup();
  leaveFailedUdp(f.peer, at("tcp://192.0.2.1:51821"));
  f.from("192.0.2.1:51820");
  f.from("192.0.2.1:51820");
  assert.equal(f.where(), "tcp://192.0.2.1:51821");
  assert.deepEqual(f.events, []);
  // The peer's NAT gave it another port: followed at once.
  f.from("192.0.2.1:40000");
  assert.equal(f.where(), "192.0.2.1:40000");
  assert.deepEqual(f.events, ["192.0.2.1:40000"]);
  assert.equal(f.peer.endpointMoves, 2);
});

Deno.test("roaming: a peer heard on the new path, then from the UDP place left, is followed there", () => {
  const f = setup();
  leaveFailedUdp(f.peer, at("tcp://192.0.2.1:51821"));
  f.from("192.0.2.1:51820");
  assert.equal(f.where(), "tcp://192.0.2.1:51821");
  // Its answer over TCP: it heard us there, and what it sends over UDP later is its own move.
  f.from("tcp://192.0.2.1:51821");
  f.from("192.0.2.1:51820");
  assert.equal(f.where(), "192.0.2.1:51820");
});

Deno.test("roaming: a route's move onto UDP ends the hold; a move off UDP for another reason holds nothing", () => {
  const f = setup();
  leaveFailedUdp(f.peer, at("relay://192.0.2.9:0"));
  moveEndpoint(f.peer, at("192.0.2.1:51820"));
  moveEndpoint(f.peer, at("tcp://192.0.2.1:51821"));
  f.from("192.0.2.1:51820");
  assert.equal(f.where(), "192.0.2.1:51820");
});
