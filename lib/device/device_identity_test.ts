/**
 * The device's own key at run time, as wireguard-go's SetPrivateKey: a device may start without
 * one (no handshakes either way), a key set later works at once, a new key wipes the sessions
 * and the peers handshake again with it, a peer holding the new key goes.
 */
import assert from "node:assert/strict";
import { makeMesh, RecordingPackets, texts, udp } from "../../tests/fixtures/mesh.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { ManualClock } from "./clock.ts";
import { Device } from "./device.ts";
import { nobleAead, nobleDh } from "../crypto/noble.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../crypto/keys.ts";
import { MSG_INITIATION } from "../protocol/constants.ts";

const suite = { aead: nobleAead, dh: nobleDh };

/** A device without a key at 192.0.2.1 (10.0.0.1) and a keyed one, b, at 192.0.2.2 (10.0.0.2). */
function keylessPair() {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ manual: true });
  const packets = new RecordingPackets();
  const dev = new Device({
    suite,
    transport: net.bind("192.0.2.1", 51820),
    packets,
    clock,
    tickMs: 0,
  });
  const bKey = generatePrivateKey();
  const bPackets = new RecordingPackets();
  const b = new Device({
    privateKey: bKey,
    suite,
    transport: net.bind("192.0.2.2", 51820),
    packets: bPackets,
    clock,
    tickMs: 0,
  });
  dev.setPeer({ publicKey: b.publicKey, endpoint: "192.0.2.2:51820", allowedIps: ["10.0.0.2/32"] });
  dev.start();
  b.start();
  return { dev, packets, b, bPackets, net, clock };
}

Deno.test("a device without a key: no public key, no handshakes either way, until one is set", () => {
  const { dev, packets, b, bPackets, net } = keylessPair();
  assert.equal(dev.publicKey, "");
  assert.equal(dev.hasPrivateKey, false);
  assert.deepEqual(dev.privateKeyBytes(), new Uint8Array(32));
  // A packet to the peer waits: no initiation goes out without a key.
  packets.sink!.packet(udp("10.0.0.1", "10.0.0.2", "early"));
  packets.sink!.flush();
  assert.equal(net.pending, 0);
  // b knows the key this device will get: its initiation cannot be admitted yet.
  const key = generatePrivateKey();
  const pub = encodeKey(publicKeyOf(key));
  b.setPeer({ publicKey: pub, endpoint: "192.0.2.1:51820", allowedIps: ["10.0.0.1/32"] });
  bPackets.sink!.packet(udp("10.0.0.2", "10.0.0.1", "too soon"));
  bPackets.sink!.flush();
  net.deliver();
  assert.equal(dev.drops.get("mac1"), 1);
  assert.equal(packets.written.length, 0);

  assert.equal(dev.setPrivateKey(encodeKey(key)), true);
  assert.equal(dev.publicKey, pub);
  assert.equal(dev.hasPrivateKey, true);
  assert.deepEqual(dev.privateKeyBytes(), key);
  packets.sink!.packet(udp("10.0.0.1", "10.0.0.2", "now"));
  packets.sink!.flush();
  net.deliver();
  assert.equal(bPackets.written.length, 1, "delivered to b");
  assert.equal(dev.peer(b.publicKey)!.counters.handshakes, 1);
});

Deno.test("a new key wipes the sessions; the peers handshake again with it", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  a.packets.inject(udp(a.ip, b.ip, "before"));
  net.deliver();
  assert.deepEqual(texts(b), ["before"]);
  const toB = a.device.peer(b.publicKey)!;
  assert.notEqual(toB.current, null);
  const old = a.publicKey;
  const key = generatePrivateKey();
  assert.equal(a.device.setPrivateKey(key), true);
  const pub = encodeKey(publicKeyOf(key));
  assert.equal(a.device.publicKey, pub);
  assert.equal(toB.current, null, "the session made with the old key is gone");
  assert.equal(toB.previous, null);
  // b learns a's new key (as `wg set` would be told); then a fresh handshake carries traffic.
  b.device.removePeer(old);
  b.device.setPeer({ publicKey: pub, endpoint: "192.0.2.1:51820", allowedIps: [`${a.ip}/32`] });
  a.packets.inject(udp(a.ip, b.ip, "after"));
  net.deliver();
  assert.deepEqual(texts(b), ["before", "after"]);
  assert.equal(toB.counters.handshakes, 2);
  b.packets.inject(udp(b.ip, a.ip, "back"));
  net.deliver();
  assert.deepEqual(texts(a), ["back"]);
});

Deno.test("the same key again changes nothing; a peer holding the new key is removed", () => {
  const { nodes: [a, b, c], net } = makeMesh(3);
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  const session = a.device.peer(b.publicKey)!.current;
  assert.notEqual(session, null);
  assert.equal(a.device.setPrivateKey(a.privateKey), false);
  assert.equal(a.device.peer(b.publicKey)!.current, session, "kept");
  // a takes c's key: c cannot stay a peer of its own key.
  assert.equal(a.device.setPrivateKey(c.privateKey), true);
  assert.equal(a.device.publicKey, c.publicKey);
  assert.equal(a.device.peer(c.publicKey), undefined);
  assert.deepEqual(a.device.peers().map((p) => p.publicKeyText), [b.publicKey]);
});

Deno.test("a key removed (null or zeros) stops handshakes; keepalive peers reach out once one is set", () => {
  const { dev, b, net } = keylessPair();
  dev.setKeepalive(b.publicKey, 25);
  const key = generatePrivateKey();
  const sent: number[] = [];
  dev.setPrivateKey(key);
  // The keepalive peer's initiation went out at once.
  net.deliverSome((data) => {
    sent.push(data[0]);
    return true;
  });
  assert.deepEqual(sent, [MSG_INITIATION]);
  assert.equal(dev.setPrivateKey(null), true);
  assert.equal(dev.publicKey, "");
  assert.equal(dev.hasPrivateKey, false);
  assert.equal(dev.peer(b.publicKey)!.current, null);
  dev.initiateHandshakeNow(b.publicKey);
  assert.equal(net.pending, 0, "no initiation without a key");
  assert.equal(dev.setPrivateKey(new Uint8Array(32)), false, "zeros: still none");
});

Deno.test("listen port and fwmark: refused by a transport that cannot change them", () => {
  const { nodes: [a] } = makeMesh(1);
  assert.throws(() => a.device.setListenPort(1234), /cannot change its listen port/);
  assert.throws(() => a.device.setFwMark(7), /has no fwmark/);
  assert.throws(() => a.device.setListenPort(70000), RangeError);
  assert.equal(a.device.listenPort, 51820);
});
