/**
 * The device's zero-copy paths. Send: with a transport that lends send slots (Transport.reserve),
 * a packet is sealed straight into the slot, padded where the driver read it when the driver
 * gives room, and the datagram on the wire is the one the copying path makes. Receive: with a
 * packet device that lends write slots (PacketDevice.reserve), packets are opened into them and
 * committed only once every check passed.
 */
import assert from "node:assert/strict";
import { Device } from "./device.ts";
import type { Endpoint, Transport } from "../io/driver.ts";
import type { Aead, AeadKey } from "../crypto/types.ts";
import { nobleAead, nobleDh } from "../crypto/noble.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../crypto/keys.ts";
import { MemoryNetwork, type MemoryTransport } from "../../drivers/memory.ts";
import { RecordingPackets, udp } from "../../tests/fixtures/mesh.ts";
import { ManualClock } from "./clock.ts";
import { MSG_TRANSPORT } from "../protocol/constants.ts";

const SLOT = 2048;

/**
 * A memory transport that lends slots of its own (round robin, so a slot is reused) and records
 * every datagram it passes on, whichever way it came.
 */
class LendingTransport implements Transport {
  readonly name = "lending";
  /** False: reserve answers null, as a full queue would. */
  lend = true;
  readonly slots: Uint8Array[];
  /** Copies of every datagram sent, in order, and how each came (`commit` or `send`). */
  readonly wire: { data: Uint8Array; via: "commit" | "send" }[] = [];
  #next = 0;
  #reserved = -1;

  constructor(readonly inner: MemoryTransport, count = 3) {
    const buf = new ArrayBuffer(count * SLOT);
    this.slots = Array.from({ length: count }, (_, i) => new Uint8Array(buf, i * SLOT, SLOT));
  }
  get port(): number {
    return this.inner.port;
  }
  start(sink: Parameters<Transport["start"]>[0]): void {
    this.inner.start(sink);
  }
  reserve(max: number): Uint8Array | null {
    this.#reserved = -1;
    if (!this.lend || max > SLOT) return null;
    this.#reserved = this.#next;
    return this.slots[this.#next];
  }
  commit(length: number, to: Endpoint): void {
    if (this.#reserved < 0) throw new Error("commit without reserve");
    const data = this.slots[this.#reserved].subarray(0, length);
    this.#reserved = -1;
    this.#next = (this.#next + 1) % this.slots.length;
    this.wire.push({ data: data.slice(), via: "commit" });
    this.inner.send(data, to);
  }
  send(data: Uint8Array, to: Endpoint): void {
    this.#reserved = -1;
    this.wire.push({ data: data.slice(), via: "send" });
    this.inner.send(data, to);
  }
  flush(): void {}
  endpoint(text: string): Endpoint {
    return this.inner.endpoint(text);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A cipher that copies the plaintext and writes a zero tag, so the wire shows what was sealed. */
const clearAead: Aead = {
  name: "noble",
  key: (): AeadKey => ({
    seal(_c, src, dst) {
      dst.set(src);
      dst.fill(0, src.length);
    },
    open(_c, src, dst) {
      dst.set(src.subarray(0, dst.length));
      return true;
    },
    destroy() {},
  }),
};

/** Two devices, a (lending transport) and b, with a session up; b's transport lends too. */
function pair(aead: Aead = clearAead, mtu = 1420) {
  const net = new MemoryNetwork({ manual: true });
  const clock = new ManualClock();
  const ka = generatePrivateKey();
  const kb = generatePrivateKey();
  const ta = new LendingTransport(net.bind("192.0.2.1", 51820));
  const tb = new LendingTransport(net.bind("192.0.2.2", 51820));
  const pa = new RecordingPackets(mtu);
  const pb = new RecordingPackets(mtu);
  const errors: unknown[] = [];
  const opts = {
    suite: { aead, dh: nobleDh },
    clock,
    tickMs: 0,
    onError: (_: string, e: unknown) => errors.push(e),
  };
  const a = new Device({ ...opts, privateKey: ka, transport: ta, packets: pa });
  const b = new Device({ ...opts, privateKey: kb, transport: tb, packets: pb });
  a.setPeer({
    publicKey: encodeKey(publicKeyOf(kb)),
    endpoint: "192.0.2.2:51820",
    allowedIps: ["10.0.0.2/32"],
  });
  b.setPeer({
    publicKey: encodeKey(publicKeyOf(ka)),
    endpoint: "192.0.2.1:51820",
    allowedIps: ["10.0.0.1/32"],
  });
  a.start();
  b.start();
  pa.inject(udp("10.0.0.1", "10.0.0.2", "hello"));
  net.deliver();
  assert.equal(pb.written.length, 1, "the session is up");
  pb.written.length = 0;
  ta.wire.length = 0;
  return { net, clock, a, b, ta, tb, pa, pb, errors };
}

/** A packet of exactly `len` bytes from 10.0.0.1 to 10.0.0.2 (len >= 28). */
function packetOf(len: number, from = "10.0.0.1", to = "10.0.0.2"): Uint8Array {
  const text = "x".repeat(len - 28);
  const p = udp(from, to, text);
  assert.equal(p.length, len);
  return p;
}

const padTo16 = (n: number, mtu: number) => Math.min((n + 15) & ~15, Math.max(n, mtu));

Deno.test("zero-copy send: with room, padding is zeroed in place and sealed; beyond it untouched", () => {
  const { net, ta, pa, pb } = pair();
  const pkt = packetOf(101);
  const buf = new Uint8Array(400).fill(0xee);
  buf.set(pkt, 50);
  pa.sink!.packet(buf.subarray(50, 151), 200);
  pa.sink!.flush();
  net.deliver();
  assert.deepEqual(pb.written, [pkt]);
  assert.equal(ta.wire.length, 1);
  const { data, via } = ta.wire[0];
  assert.equal(via, "commit");
  assert.equal(data.length, 16 + 112 + 16);
  assert.equal(new DataView(data.buffer).getUint32(0, true), MSG_TRANSPORT);
  assert.deepEqual(data.subarray(16, 16 + 101), pkt);
  assert.ok(data.subarray(16 + 101).every((x) => x === 0), "padding and (clear) tag are zeros");
  // The packet itself is unchanged, the padding was zeroed where it lay, nothing else touched.
  assert.deepEqual(buf.subarray(50, 151), pkt);
  assert.ok(buf.subarray(151, 162).every((x) => x === 0));
  assert.ok(buf.subarray(0, 50).every((x) => x === 0xee));
  assert.ok(buf.subarray(162).every((x) => x === 0xee));
});

Deno.test("zero-copy send: without room (or too little) the packet is copied into the slot once", () => {
  for (const room of [undefined, 0, 10]) {
    const { net, ta, pa, pb } = pair();
    const pkt = packetOf(101);
    const buf = new Uint8Array(300).fill(0xee);
    buf.set(pkt, 0);
    pa.sink!.packet(buf.subarray(0, 101), room);
    pa.sink!.flush();
    net.deliver();
    assert.deepEqual(pb.written, [pkt]);
    const { data, via } = ta.wire[0];
    assert.equal(via, "commit");
    assert.deepEqual(data.subarray(16, 117), pkt);
    assert.ok(data.subarray(117).every((x) => x === 0), `padding zeros (room ${room})`);
    assert.ok(buf.subarray(101).every((x) => x === 0xee), `nothing written after (room ${room})`);
  }
});

Deno.test("zero-copy send: every length, with and without room, delivers what the copy path does", () => {
  const lending = pair(nobleAead);
  const copying = pair(nobleAead);
  copying.ta.lend = false;
  const buf = new Uint8Array(4096);
  for (let len = 28; len <= 1420; len += 13) {
    const pkt = packetOf(len);
    for (const p of [lending, copying]) {
      buf.fill(0xa5).set(pkt, 7);
      p.pa.sink!.packet(buf.subarray(7, 7 + len), len % 2 === 0 ? 0 : buf.length - 7 - len);
      p.pa.sink!.flush();
      p.net.deliver();
    }
    const want = 16 + padTo16(len, 1420) + 16;
    assert.equal(lending.ta.wire.at(-1)!.data.length, want, `wire length for ${len}`);
    assert.equal(copying.ta.wire.at(-1)!.data.length, want);
  }
  assert.ok(lending.ta.wire.every((w) => w.via === "commit"));
  assert.ok(copying.ta.wire.every((w) => w.via === "send"));
  assert.deepEqual(lending.pb.written, copying.pb.written);
  assert.equal(lending.pb.written.length, Math.floor((1420 - 28) / 13) + 1);
  // A packet over the MTU is not padded; one over a slot falls back to send.
  for (const len of [1500, 2100]) {
    lending.pa.inject(packetOf(len));
    lending.net.deliver();
    assert.equal(lending.ta.wire.at(-1)!.data.length, 32 + len);
    assert.equal(lending.ta.wire.at(-1)!.via, len + 32 <= SLOT ? "commit" : "send");
  }
  assert.equal(lending.pb.written.length, Math.floor((1420 - 28) / 13) + 3);
});

Deno.test("zero-copy send: keepalives and staged packets go through lent slots too", () => {
  const { net, clock, a, b, ta, pa, pb } = pair(nobleAead);
  const key = b.publicKey;
  // A keepalive: an empty payload, 32 bytes on the wire.
  a.setPeer({ publicKey: key, persistentKeepalive: 1 });
  assert.equal(ta.wire.at(-1)!.data.length, 32);
  assert.equal(ta.wire.at(-1)!.via, "commit");
  // Staged: packets sent while no session exists wait, copied, and go once one is up.
  a.removePeer(key);
  clock.advance(1000); // b takes a new initiation from a only so long after the last
  a.setPeer({ publicKey: key, endpoint: "192.0.2.2:51820", allowedIps: ["10.0.0.2/32"] });
  for (const n of [40, 60]) pa.sink!.packet(packetOf(n), 0);
  net.deliver();
  net.deliver();
  assert.deepEqual(pb.written.map((p) => p.length), [40, 60]);
  assert.deepEqual(ta.wire.slice(-2).map((w) => [w.via, w.data.length]), [["commit", 80], [
    "commit",
    96,
  ]]);
});

Deno.test("zero-copy send: a seal that throws leaves the slot uncommitted; the next packet takes it", () => {
  const { net, a, b, ta, pa, pb, errors } = pair();
  const kp = a.peer(b.publicKey)!.current!;
  const seal = kp.send.seal;
  kp.send.seal = (_c, _src, dst) => {
    dst.fill(0x77); // a half-written slot
    throw new Error("seal fault");
  };
  pa.inject(packetOf(64));
  assert.equal(a.drops.get("crypto-error"), 1);
  assert.equal(errors.length, 1);
  assert.equal(ta.wire.length, 0, "nothing committed");
  kp.send.seal = seal;
  pa.inject(packetOf(80));
  net.deliver();
  assert.deepEqual(pb.written.map((p) => p.length), [80]);
  assert.equal(ta.wire.length, 1);
});

/** A recording packet device that lends slots of its own for the device to open packets into. */
class LendingPackets extends RecordingPackets {
  readonly slots = Array.from({ length: 2 }, () => new Uint8Array(new ArrayBuffer(1424)));
  reserves = 0;
  commits = 0;
  #next = 0;
  #reserved = -1;
  reserve(max: number): Uint8Array | null {
    this.reserves++;
    this.#reserved = max <= 1424 ? this.#next : -1;
    return this.#reserved < 0 ? null : this.slots[this.#reserved];
  }
  commit(length: number): void {
    if (this.#reserved < 0) throw new Error("commit without reserve");
    this.written.push(this.slots[this.#reserved].slice(0, length));
    this.#reserved = -1;
    this.#next = (this.#next + 1) % this.slots.length;
    this.commits++;
  }
  override write(data: Uint8Array): void {
    this.#reserved = -1;
    super.write(data);
  }
}

/** Two devices; b's packet device lends slots. */
function receivingPair(filter?: (pkt: Uint8Array) => boolean) {
  const net = new MemoryNetwork({ manual: true });
  const ka = generatePrivateKey();
  const kb = generatePrivateKey();
  const pa = new RecordingPackets();
  const pb = new LendingPackets();
  const opts = { suite: { aead: nobleAead, dh: nobleDh }, clock: new ManualClock(), tickMs: 0 };
  const a = new Device({
    ...opts,
    privateKey: ka,
    transport: net.bind("192.0.2.1", 51820),
    packets: pa,
  });
  const b = new Device({
    ...opts,
    privateKey: kb,
    transport: net.bind("192.0.2.2", 51820),
    packets: pb,
    filter: filter && { outbound: () => true, inbound: filter },
  });
  a.setPeer({
    publicKey: encodeKey(publicKeyOf(kb)),
    endpoint: "192.0.2.2:51820",
    allowedIps: ["10.0.0.2/32"],
  });
  b.setPeer({
    publicKey: encodeKey(publicKeyOf(ka)),
    endpoint: "192.0.2.1:51820",
    allowedIps: ["10.0.0.1/32", "10.0.0.9/32"],
  });
  a.start();
  b.start();
  return { net, a, b, pa, pb };
}

Deno.test("zero-copy receive: packets are opened into the packet device's slots, padding cut", () => {
  const { net, pa, pb } = receivingPair();
  const sent: Uint8Array[] = [];
  for (let len = 28; len <= 1420; len += 97) {
    const p = packetOf(len);
    sent.push(p);
    pa.inject(p);
  }
  net.deliver();
  assert.deepEqual(pb.written, sent);
  assert.equal(pb.commits, sent.length);
  // A packet over the slots' size is written (copied) instead.
  const big = packetOf(1500);
  pa.inject(big);
  net.deliver();
  assert.deepEqual(pb.written.at(-1), big);
  assert.equal(pb.commits, sent.length);
});

Deno.test("zero-copy receive: what is dropped after opening is never committed; keepalives lend nothing", () => {
  const { net, a, b, pa, pb } = receivingPair((p) => p[19] !== 66);
  pa.inject(packetOf(100));
  net.deliver();
  assert.equal(pb.commits, 1);
  // Routed by a to b, refused by b's policy filter (nothing to 10.0.0.66).
  a.setPeer({ publicKey: b.publicKey, allowedIps: ["10.0.0.2/32", "10.0.0.66/32"] });
  pa.inject(packetOf(100, "10.0.0.1", "10.0.0.66"));
  net.deliver();
  assert.equal(b.drops.get("policy"), 1);
  // A source b does not route to a: dropped after opening.
  a.setPeer({ publicKey: b.publicKey, allowedIps: ["10.0.0.2/32"] });
  pa.inject(packetOf(100, "10.0.0.5", "10.0.0.2"));
  net.deliver();
  assert.equal(b.drops.get("source-not-allowed"), 1);
  assert.equal(pb.commits, 1);
  assert.equal(pb.written.length, 1);
  // A keepalive (empty) asks for no slot.
  const reserves = pb.reserves;
  a.setPeer({ publicKey: b.publicKey, persistentKeepalive: 5 });
  net.deliver();
  assert.equal(pb.reserves, reserves);
  // Still in step: the next packet lands.
  a.setPeer({ publicKey: b.publicKey, allowedIps: ["10.0.0.2/32"] });
  pa.inject(packetOf(64));
  net.deliver();
  assert.equal(pb.commits, 2);
  assert.deepEqual(pb.written.at(-1), packetOf(64));
});

Deno.test("zero-copy receive: a datagram damaged on the way is dropped and counted, nothing committed", () => {
  // The Linux TUN's coalescer trusts the TCP checksums of what the device commits: the tag
  // is what refuses a damaged packet, before any slot is committed.
  const { net, b, pa, pb } = receivingPair();
  pa.inject(packetOf(600));
  net.deliver();
  assert.equal(pb.commits, 1);
  for (const at of [16, 100, 630]) {
    pa.inject(packetOf(600));
    const damaged = net.deliverSome((data) => {
      if (data[0] === 4 && data.length > at) data[at] ^= 0x01; // ciphertext, then the tag
      return true;
    });
    assert.equal(damaged, 1);
  }
  assert.equal(b.drops.get("decrypt"), 3);
  assert.equal(pb.commits, 1);
  assert.equal(pb.written.length, 1);
  // The damaged messages' counters were not taken: the next packet lands.
  pa.inject(packetOf(64));
  net.deliver();
  assert.equal(pb.commits, 2);
  assert.deepEqual(pb.written.at(-1), packetOf(64));
});
