// WireGuard through a relay: devices A and B on a memory network where they cannot reach each
// other, only the relay R, complete a handshake and carry data both ways through RelayServer and
// RelayClient/RelayTransport, with the relay seeing nothing but ciphertext. The control messages
// that would travel inside the tunnels are handed over in-process, encoded and decoded as on the
// wire. (This file lives in lib/device so lib/relay stays below lib/device.)
import assert from "node:assert/strict";
import { Device } from "./device.ts";
import { ManualClock } from "./clock.ts";
import type { Endpoint } from "../io/driver.ts";
import { nobleAead, nobleDh } from "../crypto/noble.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../crypto/keys.ts";
import { MemoryNetwork, type MemoryTransport } from "../../drivers/memory.ts";
import { RecordingPackets, udp } from "../../tests/fixtures/mesh.ts";
import { RelayClient } from "../relay/client.ts";
import { RelayTransport } from "../relay/transport.ts";
import { RelayMux } from "../relay/mux.ts";
import { RelayServer } from "../relay/server.ts";
import { isRelayEndpoint, shortId } from "../relay/endpoint.ts";
import {
  decodeRelayMessage,
  encodeRelayMessage,
  type RelayNotice,
  type RelayRequest,
} from "../relay/messages.ts";
import type { RelayOutgoing } from "../relay/server.ts";
import { MSG_RELAY_TO_RELAY, MSG_RELAY_TO_RELAY_HT } from "../relay/wire.ts";

/** A memory network with a firewall: datagrams between blocked address pairs are refused. */
class Firewall extends MemoryNetwork {
  readonly #blocked = new Set<string>();
  /** Datagrams refused. */
  refused = 0;
  /** Every address pair a datagram went between, as `from>to`. */
  readonly paths = new Set<string>();

  /** Blocks both directions between two addresses. */
  block(a: string, b: string): void {
    this.#blocked.add(`${a}|${b}`);
    this.#blocked.add(`${b}|${a}`);
  }

  override post(from: MemoryTransport, data: Uint8Array, to: Endpoint): void {
    if (this.#blocked.has(`${from.address}|${to.address}`)) {
      this.refused++;
      return;
    }
    this.paths.add(`${from.address}>${to.address}`);
    super.post(from, data, to);
  }
}

interface Node {
  name: string;
  key: string;
  ip: string;
  underlay: MemoryTransport;
  client: RelayClient;
  mux: RelayMux;
  device: Device;
  packets: RecordingPackets;
}

/** A node whose device runs on its underlay and a relay transport, as the agent would wire it. */
function node(net: Firewall, clock: ManualClock, name: string, ip: string, addr: string): Node {
  const priv = generatePrivateKey();
  const key = encodeKey(publicKeyOf(priv));
  const underlay = net.bind(addr, 51820);
  const client = new RelayClient({ now: () => clock.now(), selfKey: key });
  const mux = new RelayMux(underlay, new RelayTransport(client, underlay));
  const packets = new RecordingPackets();
  const device = new Device({
    privateKey: priv,
    suite: { aead: nobleAead, dh: nobleDh },
    transport: mux,
    packets,
    clock,
    tickMs: 0,
  });
  return { name, key, ip, underlay, client, mux, device, packets };
}

/** The payload texts a node's tunnel delivered. */
function texts(n: Node): string[] {
  return n.packets.written.map((p) => new TextDecoder().decode(p.subarray(28)));
}

/** A relay: the server, fed the 0x15 packets its node's mux sets aside. */
function makeRelay(r: Node, clock: ManualClock, members: () => Set<string>) {
  const seen: Uint8Array[] = [];
  const server = new RelayServer({
    now: () => clock.now(),
    send: (data, to) => r.underlay.send(data, to),
    isMember: (k) => members().has(k),
    selfKey: r.key,
  });
  r.mux.setRelayHandler((data, from) => {
    seen.push(data.slice());
    server.forward(data, from);
  });
  // The integration's part: the relay learns members' endpoints from its WireGuard peers.
  r.device.onEvent((e) => {
    if (e.type === "endpoint-changed") {
      server.setEndpoint(e.peer, r.device.peer(e.peer)?.endpoint ?? null);
    }
  });
  return { server, seen };
}

/** Hands setup messages over as the control channel would: encoded, decoded, checked. */
function control(nodes: Node[], relayKey: string, out: RelayOutgoing[]): void {
  for (const o of out) {
    const msg = decodeRelayMessage(encodeRelayMessage(o.msg)) as RelayNotice;
    assert.ok(msg, "a valid notice");
    const n = nodes.find((x) => x.key === o.to)!;
    // The member asked the relay for it (the mesh's routes do, before a relay-open).
    if (msg.t === "relay-session") n.client.asked(relayKey, msg.peer);
    assert.equal(n.client.onNotice(msg, relayKey), null);
  }
}

function request(msg: RelayRequest): RelayRequest {
  return decodeRelayMessage(encodeRelayMessage(msg)) as RelayRequest;
}

const MARK = "PLAINTEXT-7f3a";

Deno.test("relay end to end: A and B, unable to reach each other, talk through R", () => {
  const clock = new ManualClock();
  const net = new Firewall({ manual: true });
  const a = node(net, clock, "A", "10.0.0.1", "192.0.2.1");
  const b = node(net, clock, "B", "10.0.0.2", "192.0.2.2");
  const r = node(net, clock, "R", "10.0.0.100", "192.0.2.100");
  net.block("192.0.2.1", "192.0.2.2");
  const members = new Set([a.key, b.key, r.key]);
  const { server, seen } = makeRelay(r, clock, () => members);
  const pump = () => net.deliver();

  try {
    // Every member has a direct tunnel with the relay (the mesh's full mesh includes it).
    for (const n of [a, b]) {
      n.device.setPeer({
        publicKey: r.key,
        endpoint: "192.0.2.100:51820",
        allowedIps: ["10.0.0.100/32"],
      });
      r.device.setPeer({ publicKey: n.key, allowedIps: [`${n.ip}/32`] });
      n.client.setRelay(r.key, n.underlay.endpoint("192.0.2.100:51820"));
    }
    // A and B know each other's direct endpoints from the membership, and try them first.
    a.device.setPeer({ publicKey: b.key, endpoint: "192.0.2.2:51820", allowedIps: [`${b.ip}/32`] });
    b.device.setPeer({ publicKey: a.key, endpoint: "192.0.2.1:51820", allowedIps: [`${a.ip}/32`] });
    for (const n of [a, b, r]) n.device.start();

    a.packets.inject(udp(a.ip, r.ip, "a to r"));
    b.packets.inject(udp(b.ip, r.ip, "b to r"));
    a.packets.inject(udp(a.ip, b.ip, `${MARK} queued while direct fails`));
    pump();
    assert.deepEqual(texts(r).sort(), ["a to r", "b to r"]);
    assert.equal(texts(b).length, 0);
    assert.ok(net.refused >= 1, "the firewall stopped A's direct initiation");

    // A asks R for a relay session with B, inside its tunnel; R grants both sides.
    const res = server.handle(request({ t: "relay-open", to: b.key }), a.key);
    assert.equal(res.refused, null);
    control([a, b], r.key, res.send);
    // The integration points A's device at B's virtual endpoint through R.
    const viaR = `relay://${shortId(r.key)}/${shortId(b.key)}`;
    a.device.setPeer({ publicKey: b.key, endpoint: viaR, allowedIps: [`${b.ip}/32`] });
    clock.advance(5_000); // past the rekey timeout of the failed direct attempt

    a.packets.inject(udp(a.ip, b.ip, `${MARK} hello through the relay`));
    pump();
    // The packet queued while the direct handshake failed goes first, through the relay too.
    assert.deepEqual(texts(b), [
      `${MARK} queued while direct fails`,
      `${MARK} hello through the relay`,
    ]);
    // B's device roamed to A's virtual endpoint: its reply goes back through R.
    const aAtB = b.device.peer(a.key)!.endpoint!;
    assert.ok(isRelayEndpoint(aAtB));
    assert.equal(aAtB.toString(), `relay://${shortId(r.key)}/${shortId(a.key)}`);
    b.packets.inject(udp(b.ip, a.ip, `${MARK} and back`));
    pump();
    assert.deepEqual(texts(a), [`${MARK} and back`]);

    // Bursts both ways, up to full-size packets (1,420-byte MTU: 1,392 bytes of UDP payload).
    for (let i = 0; i < 200; i++) {
      const size = [10, 500, 1392][i % 3];
      a.packets.inject(udp(a.ip, b.ip, `${MARK} a${i} `.padEnd(size, "a")));
      b.packets.inject(udp(b.ip, a.ip, `${MARK} b${i} `.padEnd(size, "b")));
      if (i % 20 === 19) pump();
    }
    pump();
    assert.equal(texts(b).length, 202);
    assert.equal(texts(a).length, 201);
    assert.deepEqual(
      texts(b).slice(2).map((t) => t.split(" ")[1]),
      Array.from({ length: 200 }, (_, i) => `a${i}`),
    );

    // One handshake each, no drops anywhere.
    assert.equal(a.device.peer(b.key)!.counters.handshakes, 1);
    for (const n of [a, b, r]) assert.equal(n.device.drops.total(), 0, `${n.name} dropped`);
    const s = server.stats;
    assert.equal(s.forwarded.packets, s.received.packets);
    assert.ok(s.forwarded.packets >= 404, `${s.forwarded.packets} forwarded`);
    assert.equal(Object.values(s.drops).reduce((x, y) => x + y, 0), 0);
    const [info] = server.sessions();
    assert.ok(info.aToB.packets >= 202 && info.bToA.packets >= 202);

    // The relay saw only ciphertext: no relayed packet holds any of the plaintext.
    const mark = new TextEncoder().encode(MARK);
    assert.ok(seen.length >= 404);
    for (const p of seen) {
      assert.equal(p[0], MSG_RELAY_TO_RELAY);
      assert.equal(indexOf(p, mark), -1, "plaintext in a relayed packet");
    }
    // Nothing went between A and B directly: everything went through R.
    assert.deepEqual(
      [...net.paths].sort(),
      [
        "192.0.2.1>192.0.2.100",
        "192.0.2.100>192.0.2.1",
        "192.0.2.100>192.0.2.2",
        "192.0.2.2>192.0.2.100",
      ].sort(),
    );
  } finally {
    for (const n of [a, b, r]) n.device.close();
  }
});

Deno.test("relay end to end: a replayed relay packet from elsewhere is dropped, moves nothing", () => {
  const clock = new ManualClock();
  const net = new Firewall({ manual: true });
  const a = node(net, clock, "A", "10.0.0.1", "192.0.2.1");
  const b = node(net, clock, "B", "10.0.0.2", "192.0.2.2");
  const r = node(net, clock, "R", "10.0.0.100", "192.0.2.100");
  const x = net.bind("203.0.113.66", 4444); // an on-path attacker who kept a copy
  x.start({ datagram: () => {}, flush: () => {} });
  const members = new Set([a.key, b.key, r.key]);
  const { server, seen } = makeRelay(r, clock, () => members);
  try {
    for (const n of [a, b]) {
      n.client.setRelay(r.key, n.underlay.endpoint("192.0.2.100:51820"));
      server.setEndpoint(n.key, r.underlay.endpoint(`${n.underlay.address}:51820`));
    }
    control([a, b], r.key, server.open(a.key, b.key).send);
    a.device.setPeer({
      publicKey: b.key,
      endpoint: `relay://${shortId(r.key)}/${shortId(b.key)}`,
      allowedIps: [`${b.ip}/32`],
    });
    b.device.setPeer({ publicKey: a.key, allowedIps: [`${a.ip}/32`] });
    for (const n of [a, b, r]) n.device.start();
    a.packets.inject(udp(a.ip, b.ip, "once"));
    net.deliver();
    assert.deepEqual(texts(b), ["once"]);

    // Every relayed packet A sent, replayed from the attacker's address.
    const forwarded = server.stats.forwarded.packets;
    const sourceDrops = server.stats.drops.source;
    const copies = seen.slice();
    for (const p of copies) x.send(p, r.underlay.endpoint("192.0.2.100:51820"));
    net.deliver();
    // Not from A's WireGuard endpoint: dropped for their source, before their MACs are checked.
    assert.equal(server.stats.forwarded.packets, forwarded);
    assert.equal(server.stats.drops.source, sourceDrops + copies.length);
    assert.ok(![...net.paths].includes("192.0.2.100>203.0.113.66"), "nothing sent to the attacker");
    assert.deepEqual(texts(b), ["once"]);
    // Replies still go to A, not to the attacker.
    b.packets.inject(udp(b.ip, a.ip, "to a"));
    net.deliver();
    assert.deepEqual(texts(a), ["to a"]);
  } finally {
    for (const n of [a, b, r]) n.device.close();
  }
});

Deno.test("relay end to end: when a relay stops answering, traffic moves to another", () => {
  const clock = new ManualClock();
  const net = new Firewall({ manual: true });
  const a = node(net, clock, "A", "10.0.0.1", "192.0.2.1");
  const b = node(net, clock, "B", "10.0.0.2", "192.0.2.2");
  const r1 = node(net, clock, "R1", "10.0.0.101", "192.0.2.101");
  const r2 = node(net, clock, "R2", "10.0.0.102", "192.0.2.102");
  net.block("192.0.2.1", "192.0.2.2");
  const members = new Set([a.key, b.key, r1.key, r2.key]);
  const relays = [r1, r2].map((r) => ({ node: r, ...makeRelay(r, clock, () => members) }));
  try {
    for (const { node: r, server } of relays) {
      for (const n of [a, b]) {
        n.client.setRelay(r.key, n.underlay.endpoint(`${r.underlay.address}:51820`));
        server.setEndpoint(n.key, r.underlay.endpoint(`${n.underlay.address}:51820`));
      }
      control([a, b], r.key, server.handle(request({ t: "relay-open", to: b.key }), a.key).send);
    }
    for (const n of [a, b]) {
      n.client.setRtt(r1.key, 10);
      n.client.setRtt(r2.key, 30);
    }
    a.device.setPeer({
      publicKey: b.key,
      endpoint: `relay://${shortId(r1.key)}/${shortId(b.key)}`,
      allowedIps: [`${b.ip}/32`],
    });
    b.device.setPeer({ publicKey: a.key, allowedIps: [`${a.ip}/32`] });
    for (const n of [a, b, r1, r2]) n.device.start();
    a.packets.inject(udp(a.ip, b.ip, "via r1"));
    net.deliver();
    b.packets.inject(udp(b.ip, a.ip, "back via r1"));
    net.deliver();
    assert.deepEqual([texts(b), texts(a)], [["via r1"], ["back via r1"]]);
    assert.equal(relays[1].server.stats.forwarded.packets, 0, "R2 idle while R1 is faster");

    // R1 goes dark; both sides' path monitors notice and say so.
    net.block("192.0.2.1", "192.0.2.101");
    net.block("192.0.2.2", "192.0.2.101");
    a.client.relayFailed(r1.key);
    b.client.relayFailed(r1.key);
    a.packets.inject(udp(a.ip, b.ip, "via r2"));
    net.deliver();
    b.packets.inject(udp(b.ip, a.ip, "back via r2"));
    net.deliver();
    assert.deepEqual([texts(b), texts(a)], [["via r1", "via r2"], ["back via r1", "back via r2"]]);
    assert.equal(relays[1].server.stats.forwarded.packets, 2);
    // The devices roamed to the virtual endpoints through R2.
    assert.equal(
      String(b.device.peer(a.key)!.endpoint),
      `relay://${shortId(r2.key)}/${shortId(a.key)}`,
    );
    assert.equal(
      String(a.device.peer(b.key)!.endpoint),
      `relay://${shortId(r2.key)}/${shortId(b.key)}`,
    );
    assert.equal(a.client.stats.switches, 1);
  } finally {
    for (const n of [a, b, r1, r2]) n.device.close();
  }
});

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

Deno.test("relay end to end: head-and-tag MACs; a payload changed on the way is refused by WireGuard", () => {
  const clock = new ManualClock();
  const net = new Firewall({ manual: true });
  const a = node(net, clock, "A", "10.0.0.1", "192.0.2.1");
  const b = node(net, clock, "B", "10.0.0.2", "192.0.2.2");
  const r = node(net, clock, "R", "10.0.0.100", "192.0.2.100");
  const members = new Set([a.key, b.key, r.key]);
  const { server } = makeRelay(r, clock, () => members);
  // An on-path attacker before the relay: flips a ciphertext byte of A's data messages (between
  // the inner header and the tag, which the head-and-tag MAC leaves to WireGuard) while on.
  let tamper = false;
  let tampered = 0;
  r.mux.setRelayHandler((data, from) => {
    if (tamper && data[0] === MSG_RELAY_TO_RELAY_HT && data[16] === 4 && data.length > 16 + 48) {
      data[16 + 20] ^= 0x01;
      tampered++;
    }
    server.forward(data, from);
  });
  try {
    for (const n of [a, b]) {
      n.client.setRelay(r.key, n.underlay.endpoint("192.0.2.100:51820"));
      server.setEndpoint(n.key, r.underlay.endpoint(`${n.underlay.address}:51820`));
    }
    // Both ask with `ht`, as this version's members do: the grants offer the form.
    server.handle(request({ t: "relay-open", to: b.key, ht: true }), a.key);
    control(
      [a, b],
      r.key,
      server.handle(request({ t: "relay-open", to: a.key, ht: true }), b.key).send,
    );
    a.device.setPeer({
      publicKey: b.key,
      endpoint: `relay://${shortId(r.key)}/${shortId(b.key)}`,
      allowedIps: [`${b.ip}/32`],
    });
    b.device.setPeer({ publicKey: a.key, allowedIps: [`${a.ip}/32`] });
    for (const n of [a, b, r]) n.device.start();
    a.packets.inject(udp(a.ip, b.ip, "hello through R"));
    net.deliver();
    b.packets.inject(udp(b.ip, a.ip, "and back"));
    net.deliver();
    assert.deepEqual(texts(b), ["hello through R"]);
    assert.deepEqual(texts(a), ["and back"]);
    assert.ok(server.stats.headTag >= 2, `${server.stats.headTag} head-and-tag packets`);

    tamper = true;
    const forwarded = server.stats.forwarded.packets;
    const decrypt = b.device.stats.drops.decrypt ?? 0;
    a.packets.inject(udp(a.ip, b.ip, "changed on the way"));
    net.deliver();
    assert.equal(tampered, 1);
    // The relay cannot tell (no more than carrying it one hop), and B's WireGuard refuses it.
    assert.equal(server.stats.forwarded.packets, forwarded + 1);
    assert.equal(b.device.stats.drops.decrypt, decrypt + 1);
    assert.deepEqual(texts(b), ["hello through R"]);
    tamper = false;
    a.packets.inject(udp(a.ip, b.ip, "untouched"));
    net.deliver();
    assert.deepEqual(texts(b), ["hello through R", "untouched"]);
  } finally {
    for (const n of [a, b, r]) n.device.close();
  }
});
