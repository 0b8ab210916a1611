/**
 * Run by device_alloc_test.ts under `--v8-flags=--trace-gc`: two devices joined by a transport
 * that hands each datagram straight to the other side, pushing packets both ways between two
 * markers, so the parent can count the garbage collections the transport path caused. The
 * argument names the AEAD backend: `stub` (a non-allocating stand-in, to measure the device's own
 * code), `sodium`, `node` or `noble`; `allocating` is the stub plus a deliberate allocation per
 * packet, to show the counting works.
 * @module
 */

import { Device } from "../../lib/device/device.ts";
import type {
  DatagramSink,
  Endpoint,
  PacketDevice,
  PacketSink,
  Transport,
} from "../../lib/io/driver.ts";
import type { Aead, AeadKey } from "../../lib/crypto/types.ts";
import { nobleAead, nobleDh } from "../../lib/crypto/noble.ts";
import { nodeAead } from "../../lib/crypto/node.ts";
import { loadSodium } from "../../lib/crypto/sodium.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../../lib/crypto/keys.ts";
import { EndpointTable } from "../../drivers/endpoint.ts";
import { buildUdpPacket } from "../../lib/net/udp.ts";
import { parseAddress } from "../../lib/net/ip.ts";

const mode = Deno.args[0] ?? "stub";

/** Copies the plaintext and writes a zero tag: the cost of no cipher, and no allocation. */
const stubAead: Aead = {
  name: "noble",
  key: (): AeadKey => ({
    seal(_c, src, dst) {
      if (dst.byteOffset !== src.byteOffset || dst.buffer !== src.buffer) dst.set(src);
      dst.fill(0, src.length);
    },
    open(_c, src, dst) {
      if (dst.byteOffset !== src.byteOffset || dst.buffer !== src.buffer) {
        dst.set(src.subarray(0, dst.length));
      }
      return true;
    },
    destroy() {},
  }),
};

function aeadFor(name: string): Aead {
  if (name === "stub" || name === "allocating") return stubAead;
  if (name === "noble") return nobleAead;
  if (name === "node") return nodeAead;
  const sodium = loadSodium();
  if (!sodium) throw new Error("libsodium is not available");
  return sodium.aead;
}

/**
 * Both directions of a wire. A datagram is handed to the other side at once, without a copy,
 * unless that would re-enter a device still handling the datagram that caused it (a handshake
 * answered at once): such datagrams wait, copied, until the current one is done, as on a real
 * network. Only handshakes do that, so the measured steady state copies nothing.
 */
class Wire {
  #busy = false;
  readonly #waiting: { to: DirectTransport; data: Uint8Array }[] = [];
  carry(to: DirectTransport, data: Uint8Array): void {
    if (this.#busy) {
      this.#waiting.push({ to, data: data.slice() });
      return;
    }
    this.#busy = true;
    to.sink!.datagram(data, to.fromPeer);
    for (let d = this.#waiting.shift(); d; d = this.#waiting.shift()) {
      d.to.sink!.datagram(d.data, d.to.fromPeer);
    }
    this.#busy = false;
  }
}

/** One end of a {@link Wire}, with one interned endpoint for the other end. */
class DirectTransport implements Transport {
  readonly name = "direct";
  readonly port = 1;
  readonly table = new EndpointTable();
  sink: DatagramSink | null = null;
  other: DirectTransport | null = null;
  readonly self: Endpoint;
  #fromPeer: Endpoint | undefined;
  constructor(readonly wire: Wire, address: string) {
    this.self = this.table.parse(`${address}:1`);
  }
  /** The endpoint datagrams from the other end arrive from. */
  get fromPeer(): Endpoint {
    return this.#fromPeer ??= this.table.parse(`${this.other!.self.address}:1`);
  }
  start(sink: DatagramSink): void {
    this.sink = sink;
  }
  send(data: Uint8Array): void {
    this.wire.carry(this.other!, data);
  }
  flush(): void {}
  endpoint(text: string): Endpoint {
    return this.table.parse(text);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Counts what the tunnel delivers; keeps nothing. */
class CountingPackets implements PacketDevice {
  readonly name = "count";
  readonly mtu = 1420;
  sink: PacketSink | null = null;
  delivered = 0;
  start(sink: PacketSink): void {
    this.sink = sink;
  }
  write(): void {
    this.delivered++;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const aead = aeadFor(mode);
const wire = new Wire();
const ta = new DirectTransport(wire, "192.0.2.1");
const tb = new DirectTransport(wire, "192.0.2.2");
ta.other = tb;
tb.other = ta;
const ka = generatePrivateKey();
const kb = generatePrivateKey();
const pa = new CountingPackets();
const pb = new CountingPackets();
const a = new Device({
  privateKey: ka,
  suite: { aead, dh: nobleDh },
  transport: ta,
  packets: pa,
  tickMs: 0,
});
const b = new Device({
  privateKey: kb,
  suite: { aead, dh: nobleDh },
  transport: tb,
  packets: pb,
  tickMs: 0,
});
a.setPeer({
  publicKey: encodeKey(publicKeyOf(kb)),
  endpoint: "192.0.2.2:1",
  allowedIps: ["10.0.0.2/32"],
});
b.setPeer({
  publicKey: encodeKey(publicKeyOf(ka)),
  endpoint: "192.0.2.1:1",
  allowedIps: ["10.0.0.1/32"],
});
a.start();
b.start();

// Full-size and small packets both ways (a bulk transfer and its acknowledgements).
const src = (from: string, to: string, size: number) =>
  buildUdpPacket(parseAddress(from)!, parseAddress(to)!, 9, 9, new Uint8Array(size));
const big = src("10.0.0.1", "10.0.0.2", 1372);
const small = src("10.0.0.2", "10.0.0.1", 12);
const mid = src("10.0.0.1", "10.0.0.2", 533);
let kept = new Uint8Array(0);
const run = (n: number) => {
  for (let i = 0; i < n; i++) {
    pa.sink!.packet(big);
    pb.sink!.packet(small);
    if ((i & 7) === 0) pa.sink!.packet(mid);
    // The control: one small buffer per round, as a per-packet copy would make.
    if (mode === "allocating") kept = new Uint8Array(128 + (kept.length & 1));
  }
};
run(20_000); // handshake, caches and JIT warm-up
console.log("MEASURE-START");
const t0 = performance.now();
run(300_000);
console.log("MEASURE-END", kept.length, `${(performance.now() - t0).toFixed(0)} ms`);
const expected = 320_000 + 320_000 / 8;
if (pb.delivered !== expected || pa.delivered !== 320_000) {
  const drops = JSON.stringify([a.drops.snapshot(), b.drops.snapshot()]);
  throw new Error(`delivered ${pb.delivered} and ${pa.delivered} of ${expected}/320000: ${drops}`);
}
await a.close();
await b.close();
