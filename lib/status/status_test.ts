import assert from "node:assert/strict";
import { buildPeerStatus, buildStatus, type StatusContext } from "./status.ts";
import { makeMesh, udp } from "../../tests/fixtures/mesh.ts";
import type { PeerHealth } from "../health/health.ts";
import { Histogram } from "../health/histogram.ts";

function context(extra: Partial<StatusContext> = {}): StatusContext {
  return {
    mode: "userspace",
    addresses: ["10.0.0.1/24"],
    interfaceName: "weft0",
    startedAt: Date.now() - 90_000,
    crypto: "noble",
    version: "9.9.9",
    name: "alpha",
    role: "leader",
    describe: () => ({ name: "", address: "" }),
    health: () => undefined,
    ...extra,
  };
}

Deno.test("node: identity from the device, the rest from the context", () => {
  const { nodes: [a] } = makeMesh(2);
  const before = Date.now();
  const ctx = context();
  const st = buildStatus(a.device, ctx);
  const after = Date.now();
  const n = st.node;
  assert.equal(n.publicKey, a.publicKey);
  assert.equal(n.listenPort, a.device.listenPort);
  assert.equal(n.mtu, a.device.mtu);
  assert.deepEqual(n.crypto, { aead: a.device.aeadName, dh: a.device.dhName, suite: "noble" });
  assert.deepEqual(
    [n.name, n.role, n.mode, n.interface, n.version, n.addresses],
    ["alpha", "leader", "userspace", "weft0", "9.9.9", ["10.0.0.1/24"]],
  );
  // Rounded seconds since startedAt, on the wall clock of the call.
  const lo = Math.round((before - ctx.startedAt) / 1000);
  const hi = Math.round((after - ctx.startedAt) / 1000);
  assert.ok(n.uptimeSeconds >= lo && n.uptimeSeconds <= hi, String(n.uptimeSeconds));
  assert.equal(n.handshakesReceived, 0);
  assert.deepEqual(n.drops, a.device.stats.drops);
  assert.equal(n.policy, undefined);
});

Deno.test("node: extra fields from the layers above are merged in", () => {
  const { nodes: [a] } = makeMesh(2);
  const policy = {
    version: 3,
    rules: 1,
    dropped: { outbound: 0, inbound: 5 },
    droppedByRule: { x: 5 },
  };
  const st = buildStatus(a.device, context({ extra: () => ({ policy, mode: "tun" }) }));
  assert.deepEqual(st.node.policy, policy);
  assert.equal(st.node.mode, "tun");
});

Deno.test("peers before any traffic: unknown health, no session, no handshake", () => {
  const { nodes: [a, b, c] } = makeMesh(3);
  const st = buildStatus(a.device, context());
  assert.deepEqual(st.peers.map((p) => p.publicKey).sort(), [b.publicKey, c.publicKey].sort());
  const pb = st.peers.find((p) => p.publicKey === b.publicKey)!;
  assert.deepEqual(pb, {
    name: "",
    address: "",
    health: "unknown",
    healthReason: "",
    rttMs: null,
    loss: null,
    publicKey: b.publicKey,
    endpoint: "192.0.2.2:51820",
    allowedIps: ["10.0.0.2/32"],
    lastHandshake: null,
    lastHandshakeAgeSeconds: null,
    hasSession: false,
    rxBytes: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
    handshakes: 0,
    persistentKeepalive: 0,
    endpointMoves: 0,
  });
});

Deno.test("peers after a handshake: session, counters, handshake time, names and health", () => {
  const { nodes: [a, b], net, clock } = makeMesh(2);
  a.packets.inject(udp(a.ip, b.ip, "hello"));
  net.deliver();
  assert.equal(b.packets.written.length, 1);
  const health: PeerHealth = {
    peer: b.publicKey,
    state: "degraded",
    since: 0,
    reason: "loss 20%",
    rttMs: { last: 3, avg: 2.5, median: 2.0005000001 },
    loss: 0.2,
    samples: 5,
    lostInARow: 0,
    probesSent: 5,
    probesLost: 1,
    lastHandshakeMs: 0,
    rttHistogram: new Histogram().snapshot(),
  };
  const described: string[] = [];
  const before = Date.now();
  const st = buildStatus(
    a.device,
    context({
      describe: (k) => {
        described.push(k);
        return { name: "bravo", address: "10.0.0.2" };
      },
      health: (k) => k === b.publicKey ? health : undefined,
    }),
  );
  const after = Date.now();
  assert.deepEqual(described, [b.publicKey]);
  const p = st.peers[0];
  assert.deepEqual(
    [p.name, p.address, p.health, p.healthReason, p.rttMs, p.loss],
    ["bravo", "10.0.0.2", "degraded", "loss 20%", 2.001, 0.2],
    "the median RTT to the microsecond",
  );
  assert.equal(p.hasSession, true);
  assert.equal(p.handshakes, 1);
  assert.ok(p.txPackets >= 1 && p.txBytes > 0);
  // The handshake time is the device's wall clock (a ManualClock here), as ISO and as an age.
  const at = clock.wallNow();
  assert.equal(p.lastHandshake, new Date(at).toISOString());
  const age = p.lastHandshakeAgeSeconds!;
  assert.ok(age >= Math.round((before - at) / 1000) && age <= Math.round((after - at) / 1000));
});

Deno.test("a handshake time in the future (clock step back) reads as age 0, not negative", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  const peer = a.device.peer(b.publicKey)!;
  peer.lastHandshakeUnixMs = Date.now() + 3_600_000;
  const st = buildStatus(a.device, context());
  assert.equal(st.peers[0].lastHandshakeAgeSeconds, 0);
});

Deno.test("persistent keepalive is reported in seconds", () => {
  const { nodes: [a, b] } = makeMesh(2);
  a.device.setPeer({
    publicKey: b.publicKey,
    endpoint: "192.0.2.2:51820",
    allowedIps: ["10.0.0.2/32"],
    persistentKeepalive: 25,
  });
  assert.equal(buildStatus(a.device, context()).peers[0].persistentKeepalive, 25);
});

Deno.test("peers: extra fields from the layers above (a mesh peer's path) are merged in", () => {
  const { nodes: [a, b] } = makeMesh(2);
  const plain = buildStatus(a.device, context());
  assert.equal("path" in plain.peers[0], false, "no mesh: no path fields");
  const st = buildStatus(
    a.device,
    context({
      extraPeer: (key) =>
        key === b.publicKey ? { path: "direct", candidates: [], pathChangedAt: null } : {},
    }),
  );
  assert.equal(st.peers[0].path, "direct");
  assert.deepEqual(st.peers[0].candidates, []);
  assert.equal(st.peers[0].pathChangedAt, null);
});

Deno.test("peers: a relayed peer's via and transport pass through, and survive JSON", () => {
  const { nodes: [a, b] } = makeMesh(2);
  const st = buildStatus(
    a.device,
    context({
      extraPeer: (key) =>
        key === b.publicKey
          ? { path: "relay", via: "alpha", transport: "tcp", candidates: [], pathChangedAt: null }
          : {},
    }),
  );
  const back = JSON.parse(JSON.stringify(st)).peers[0];
  assert.equal(back.path, "relay");
  assert.equal(back.via, "alpha");
  assert.equal(back.transport, "tcp");
});

Deno.test("one peer's status is its entry in the document, made without the other peers'", () => {
  const { nodes: [a, b, c] } = makeMesh(3);
  let described = 0;
  const ctx = context({
    describe: (key) => (described++, { name: key === b.publicKey ? "b" : "c", address: "" }),
  });
  const doc = buildStatus(a.device, ctx);
  described = 0;
  const one = buildPeerStatus(a.device, ctx, b.publicKey);
  assert.equal(described, 1, "only the one peer's record is made");
  assert.deepEqual(one, doc.peers.find((p) => p.publicKey === b.publicKey));
  assert.equal(buildPeerStatus(a.device, ctx, c.publicKey)?.name, "c");
  assert.equal(buildPeerStatus(a.device, ctx, "bm8gc3VjaCBwZWVy"), null);
});
