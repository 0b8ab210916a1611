import assert from "node:assert/strict";
import { Peer } from "./peer.ts";
import { Keypair } from "./keypair.ts";
import { nobleAead, nobleDh } from "../crypto/noble.ts";
import { encodeKey } from "../crypto/keys.ts";
import { DEFAULT_TIMERS } from "../protocol/constants.ts";
import type { LocalIdentity } from "../protocol/noise.ts";

function identity(publicKey: Uint8Array): LocalIdentity {
  // Only the public key matters to the Peer constructor; the rest is used by handshakes.
  return { privateKey: new Uint8Array(32), publicKey, dh: nobleDh, aead: nobleAead };
}

function keyOf(first: number, last = 0): Uint8Array {
  const k = new Uint8Array(32);
  k[0] = first;
  k[31] = last;
  return k;
}

function peerWith(remote: Uint8Array, local: Uint8Array, keepalive = 0): Peer {
  return new Peer(remote, new Uint8Array(32), identity(local), DEFAULT_TIMERS, keepalive);
}

Deno.test("a new peer: its key as text, no sessions, no endpoint, zero counters", () => {
  const pub = nobleDh.publicKey(nobleDh.generatePrivate());
  const psk = Uint8Array.from({ length: 32 }, (_, i) => i);
  const p = new Peer(pub, psk, identity(keyOf(1)), DEFAULT_TIMERS, 25);
  assert.equal(p.publicKeyText, encodeKey(pub));
  assert.equal(p.publicKey, pub);
  assert.equal(p.handshake.remoteStatic, pub);
  assert.equal(p.handshake.presharedKey, psk);
  assert.equal(p.timers.persistentKeepaliveMs, 25_000);
  assert.equal(p.current, null);
  assert.equal(p.previous, null);
  assert.equal(p.next, null);
  assert.equal(p.endpoint, null);
  assert.deepEqual(p.staged, []);
  assert.equal(p.lastInitiationSent, -Infinity);
  assert.equal(p.lastHandshakeUnixMs, 0);
  assert.deepEqual(p.keypairs(), []);
  assert.deepEqual(p.counters, {
    rxBytes: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
    rxData: 0,
    txData: 0,
    handshakes: 0,
    initiationsSent: 0,
    rejectedResponses: 0,
  });
  assert.equal(peerWith(keyOf(2), keyOf(1)).timers.persistentKeepaliveMs, 0);
});

Deno.test("a public key that is not 32 bytes is refused", () => {
  assert.throws(() => peerWith(new Uint8Array(31), keyOf(1)));
  assert.throws(() => peerWith(new Uint8Array(33), keyOf(1)));
});

Deno.test("winsCrossing: the larger static key wins, compared bytewise from the first", () => {
  assert.equal(peerWith(keyOf(2), keyOf(1)).winsCrossing, true);
  assert.equal(peerWith(keyOf(1), keyOf(2)).winsCrossing, false);
  // The first differing byte decides, not the last.
  assert.equal(peerWith(keyOf(1, 0), keyOf(0, 255)).winsCrossing, true);
  assert.equal(peerWith(keyOf(0, 9), keyOf(0, 8)).winsCrossing, true);
  assert.equal(peerWith(keyOf(0, 8), keyOf(0, 9)).winsCrossing, false);
  // Exactly one side of any pair wins.
  const a = nobleDh.publicKey(nobleDh.generatePrivate());
  const b = nobleDh.publicKey(nobleDh.generatePrivate());
  assert.notEqual(peerWith(a, b).winsCrossing, peerWith(b, a).winsCrossing);
  // Our own key: no one wins.
  assert.equal(peerWith(keyOf(7), keyOf(7)).winsCrossing, false);
});

Deno.test("keypairs(): current, previous, next, skipping empty slots", () => {
  const p = peerWith(keyOf(2), keyOf(1));
  const key = nobleAead.key(new Uint8Array(32));
  const kp = (i: number) => new Keypair(key, key, i, i, true, 0, p);
  const [cur, prev, next] = [kp(1), kp(2), kp(3)];
  p.next = next;
  assert.deepEqual(p.keypairs(), [next]);
  p.previous = prev;
  assert.deepEqual(p.keypairs(), [prev, next]);
  p.current = cur;
  assert.deepEqual(p.keypairs(), [cur, prev, next]);
  p.next = null;
  assert.deepEqual(p.keypairs(), [cur, prev]);
  // A new array each call: callers may change it.
  p.keypairs().pop();
  assert.equal(p.keypairs().length, 2);
});
