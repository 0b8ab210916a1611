// WireGuard over the framed TCP stream: two devices on loopback TCP (and on UDP+TCP) complete a
// handshake and carry data both ways, as they do over UDP.
import assert from "node:assert/strict";
import { Device } from "./device.ts";
import type { Transport } from "../io/driver.ts";
import { nobleAead, nobleDh } from "../crypto/noble.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../crypto/keys.ts";
import { RecordingPackets, udp } from "../../tests/fixtures/mesh.ts";
import { TcpTransport } from "../../drivers/tcp.ts";
import { DualTransport } from "../../drivers/dual.ts";
import { ManualClock } from "./clock.ts";
import { moveEndpoint, UDP_PREFERRED_MS } from "./roaming.ts";
import type { DenoUdpTransport } from "../../drivers/udp_deno.ts";

interface Node {
  device: Device;
  packets: RecordingPackets;
  publicKey: string;
  ip: string;
}

function node(transport: Transport, ip: string, clock?: ManualClock): Node {
  const key = generatePrivateKey();
  const packets = new RecordingPackets();
  const device = new Device({
    privateKey: key,
    suite: { aead: nobleAead, dh: nobleDh },
    transport,
    packets,
    tickMs: 0,
    clock,
  });
  return { device, packets, publicKey: encodeKey(publicKeyOf(key)), ip };
}

/** The payload texts a node's tunnel delivered. */
function texts(n: Node): string[] {
  return n.packets.written.map((p) => new TextDecoder().decode(p.subarray(28)));
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Peers `a` and `b`; `a` knows where `b` listens, `b` learns `a` from its handshake. */
function pair(a: Node, b: Node, bEndpoint: string): void {
  a.device.setPeer({ publicKey: b.publicKey, endpoint: bEndpoint, allowedIps: [`${b.ip}/32`] });
  b.device.setPeer({ publicKey: a.publicKey, allowedIps: [`${a.ip}/32`] });
  a.device.start();
  b.device.start();
}

Deno.test("two devices over TCP transports: a handshake, then data both ways", async () => {
  const ta = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  const tb = await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
  const a = node(ta, "10.0.0.1");
  const b = node(tb, "10.0.0.2");
  try {
    pair(a, b, `tcp://127.0.0.1:${tb.port}`);
    a.packets.inject(udp(a.ip, b.ip, "hello over tcp"));
    await until(() => texts(b).length === 1, "b to get the first packet");
    assert.deepEqual(texts(b), ["hello over tcp"]);

    // b has no endpoint of its own for a: it answers on the connection a opened.
    const pb = b.device.peer(a.publicKey)!;
    assert.match(String(pb.endpoint), /^tcp:\/\/127\.0\.0\.1:\d+$/);
    b.packets.inject(udp(b.ip, a.ip, "and back"));
    await until(() => texts(a).length === 1, "a to get the reply");
    assert.deepEqual(texts(a), ["and back"]);

    // Bursts each way, in batches as a TUN reader hands them over: many frames per segment,
    // every one in order (a stream does not lose).
    for (let i = 0; i < 300; i++) {
      a.packets.inject(udp(a.ip, b.ip, `a${i}`.padEnd(1000, ".")));
      b.packets.inject(udp(b.ip, a.ip, `b${i}`.padEnd(1000, ".")));
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 0));
    }
    await until(() => texts(b).length === 301 && texts(a).length === 301, "the bursts");
    assert.deepEqual(
      texts(b).slice(1).map((t) => t.replace(/\.+$/, "")),
      Array.from({ length: 300 }, (_, i) => `a${i}`),
    );
    assert.deepEqual(
      texts(a).slice(1).map((t) => t.replace(/\.+$/, "")),
      Array.from({ length: 300 }, (_, i) => `b${i}`),
    );

    const pa = a.device.peer(b.publicKey)!;
    assert.equal(pa.counters.handshakes, 1);
    assert.equal(pb.counters.handshakes, 1);
    assert.equal(a.device.drops.total() + b.device.drops.total(), 0);
    // One connection carried it all: a dialled once, b accepted once and never dialled.
    assert.equal(ta.stats.dials, 1);
    assert.equal(tb.stats.accepts, 1);
    assert.equal(tb.stats.dials, 0);
    assert.equal(ta.stats.sendDrops + tb.stats.sendDrops, 0);
  } finally {
    await a.device.close();
    await b.device.close();
  }
});

Deno.test("two devices over UDP+TCP: a tcp:// endpoint keeps the session on TCP", async () => {
  const ta = await DualTransport.open({ port: 0, hostname: "127.0.0.1" });
  const tb = await DualTransport.open({ port: 0, hostname: "127.0.0.1" });
  const a = node(ta, "10.0.0.1");
  const b = node(tb, "10.0.0.2");
  try {
    pair(a, b, `tcp://127.0.0.1:${tb.port}`);
    a.packets.inject(udp(a.ip, b.ip, "ping"));
    await until(() => texts(b).length === 1, "b to get the packet");
    b.packets.inject(udp(b.ip, a.ip, "pong"));
    await until(() => texts(a).length === 1, "a to get the reply");
    assert.deepEqual([texts(b), texts(a)], [["ping"], ["pong"]]);
    assert.equal(b.device.peer(a.publicKey)!.endpoint?.proto, "tcp");
    // Nothing went over UDP.
    const udpA = ta.udp as DenoUdpTransport;
    const udpB = tb.udp as DenoUdpTransport;
    assert.equal(udpA.stats.datagramsOut + udpB.stats.datagramsOut, 0);
    assert.ok((ta.tcp as TcpTransport).stats.datagramsOut >= 2);

    // The same pair moved to UDP by configuration: the device roams to the UDP endpoint.
    a.device.setPeer({
      publicKey: b.publicKey,
      endpoint: `127.0.0.1:${tb.port}`,
      allowedIps: [`${b.ip}/32`],
    });
    a.packets.inject(udp(a.ip, b.ip, "over udp"));
    await until(() => texts(b).length === 2, "b to get the UDP packet");
    assert.ok(udpA.stats.datagramsOut >= 1);
    assert.equal(b.device.peer(a.publicKey)!.endpoint?.proto ?? "udp", "udp");
  } finally {
    await a.device.close();
    await b.device.close();
  }
});

Deno.test("roaming: a peer heard over UDP keeps its UDP endpoint against TCP until UDP is quiet", async () => {
  const ta = await DualTransport.open({ port: 0, hostname: "127.0.0.1" });
  const tb = await DualTransport.open({ port: 0, hostname: "127.0.0.1" });
  const a = node(ta, "10.0.0.1");
  const clock = new ManualClock();
  const b = node(tb, "10.0.0.2", clock);
  try {
    pair(a, b, `127.0.0.1:${tb.port}`);
    const proto = () => b.device.peer(a.publicKey)!.endpoint?.proto ?? "udp";
    const send = async (text: string, n: number) => {
      a.packets.inject(udp(a.ip, b.ip, text));
      await until(() => b.device.peer(a.publicKey)!.counters.rxPackets >= n, `b to get ${text}`);
    };
    await send("over udp", 1);
    const rx = () => b.device.peer(a.publicKey)!.counters.rxPackets;
    assert.equal(proto(), "udp");
    // a moves to TCP; what it sends there while b heard it over UDP a moment ago (a packet in
    // flight as a peer moves back to UDP looks the same) does not move b off UDP.
    a.device.setPeer({
      publicKey: b.publicKey,
      endpoint: `tcp://127.0.0.1:${tb.port}`,
      allowedIps: [`${b.ip}/32`],
    });
    await send("over tcp, early", rx() + 1);
    assert.equal(proto(), "udp");
    // UDP quiet past the preference: the next packet over TCP moves b there.
    clock.advance(UDP_PREFERRED_MS + 1);
    await send("over tcp, later", rx() + 1);
    assert.equal(proto(), "tcp");
    // Back over UDP: followed at once.
    a.device.setPeer({
      publicKey: b.publicKey,
      endpoint: `127.0.0.1:${tb.port}`,
      allowedIps: [`${b.ip}/32`],
    });
    await send("over udp again", rx() + 1);
    assert.equal(proto(), "udp");
  } finally {
    await a.device.close();
    await b.device.close();
  }
});

Deno.test("roaming: a peer moved back onto UDP by its route brings the peer along and stays there", async () => {
  const ta = await DualTransport.open({ port: 0, hostname: "127.0.0.1" });
  const tb = await DualTransport.open({ port: 0, hostname: "127.0.0.1" });
  const a = node(ta, "10.0.0.1");
  const clock = new ManualClock();
  const b = node(tb, "10.0.0.2", clock);
  try {
    // a reaches b over TCP (its fallback); b has only ever heard it there.
    pair(a, b, `tcp://127.0.0.1:${tb.port}`);
    a.packets.inject(udp(a.ip, b.ip, "over tcp"));
    await until(() => texts(b).length === 1, "b to get the packet");
    const pa = b.device.peer(a.publicKey)!;
    const pb = a.device.peer(b.publicKey)!;
    assert.equal(pa.endpoint?.proto, "tcp");
    // b's route moves a back onto UDP (a pong of a's came from there).
    const moved = pa.endpointMoves;
    moveEndpoint(pa, b.device.endpoint(`127.0.0.1:${ta.port}`));
    assert.equal(pa.endpointMoves, moved + 1);
    b.device.backOnUdp(a.publicKey);
    // Its keepalive over UDP moves a's sending there too (a's roaming follows it).
    await until(() => (pb.endpoint?.proto ?? "udp") === "udp", "a to follow b onto UDP");
    // A packet of a's still on TCP (sent before it followed) does not take b back there.
    const rx = pa.counters.rxPackets;
    pb.endpoint = a.device.endpoint(`tcp://127.0.0.1:${tb.port}`);
    a.packets.inject(udp(a.ip, b.ip, "in flight on tcp"));
    await until(() => pa.counters.rxPackets > rx, "b to get the packet in flight");
    assert.equal(pa.endpoint?.proto ?? "udp", "udp");
    assert.equal(pa.endpointMoves, moved + 1, "moved once, by the route");
  } finally {
    await a.device.close();
    await b.device.close();
  }
});
