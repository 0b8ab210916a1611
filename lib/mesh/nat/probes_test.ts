import assert from "node:assert/strict";
import type { Device } from "../../device/device.ts";
import type { Endpoint } from "../../io/driver.ts";
import { nobleDh } from "../../crypto/noble.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../../crypto/keys.ts";
import { Candidates } from "../../nat/candidates.ts";
import { PathTable } from "../../nat/paths.ts";
import { PathCrypto } from "../../nat/probe.ts";
import { newPeerState, type PeerState } from "./peer.ts";
import { PathProbes } from "./probes.ts";
import { PathCounters } from "./status.ts";

const FROM: Endpoint = {
  address: "192.0.2.7",
  port: 51820,
  family: 4,
  toString: () => "192.0.2.7:51820",
};

/** This node's probes, and a member's crypto to ping it with; `wake` as given. */
function setup(wake: (key: string) => PeerState | undefined) {
  const mine = generatePrivateKey();
  const theirs = generatePrivateKey();
  const me = encodeKey(publicKeyOf(mine));
  const them = encodeKey(publicKeyOf(theirs));
  const sent: Uint8Array[] = [];
  const device = {
    sendDatagram: (b: Uint8Array) => sent.push(b),
    endpoint: () => FROM,
  } as unknown as Device;
  const counters = new PathCounters();
  const peers = new Map<string, PeerState>();
  const probes = new PathProbes({
    device,
    crypto: new PathCrypto({ dh: nobleDh, privateKey: mine, isMember: (k) => k === them }),
    table: new PathTable(),
    own: new Candidates({ listenPort: 51820, interfaces: () => [] }),
    peers,
    drops: counters.drops,
    apply: () => {},
    wake: (k) => {
      const st = wake(k);
      if (st) peers.set(k, st);
      return st;
    },
  });
  const member = new PathCrypto({ dh: nobleDh, privateKey: theirs, isMember: (k) => k === me });
  return { probes, counters, sent, ping: () => member.ping(me).bytes, them };
}

Deno.test("path probes: a member's ping that wakes no session is counted, not answered", () => {
  const t = setup(() => undefined);
  assert.equal(t.probes.handle(t.ping(), FROM), false);
  assert.equal(t.counters.drops.get("inactive"), 1);
  assert.equal(t.sent.length, 0);
});

Deno.test("path probes: a member's ping that wakes its session is answered", () => {
  const t = setup(() => newPeerState(0));
  assert.equal(t.probes.handle(t.ping(), FROM), true);
  assert.equal(t.counters.drops.get("inactive"), 0);
  assert.equal(t.sent.length, 1, "the pong");
});
