import assert from "node:assert/strict";
import { makeMesh, run, texts, udp } from "../../tests/fixtures/mesh.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { ManualClock } from "./clock.ts";
import {
  encodeKey,
  generatePresharedKey,
  generatePrivateKey,
  publicKeyOf,
} from "../crypto/keys.ts";
import { MSG_INITIATION, MSG_TRANSPORT } from "../protocol/constants.ts";
import type { DeviceEvent, HeldPacketSink, PacketFilter } from "./device.ts";

Deno.test("a packet triggers a handshake and arrives; the reply flows back on the same session", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  a.packets.inject(udp(a.ip, b.ip, "hello"));
  net.deliver();
  assert.deepEqual(texts(b), ["hello"]);
  b.packets.inject(udp(b.ip, a.ip, "back"));
  net.deliver();
  assert.deepEqual(texts(a), ["back"]);
  const pa = a.device.peer(b.publicKey)!;
  const pb = b.device.peer(a.publicKey)!;
  assert.equal(pa.counters.handshakes, 1);
  assert.equal(pb.counters.handshakes, 1);
  assert.ok(pa.current?.isInitiator);
  assert.equal(pb.current?.isInitiator, false);
  assert.equal(a.device.drops.total() + b.device.drops.total(), 0);
});

Deno.test("the packet device's flush ends each batch the transport delivers", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  a.packets.inject(udp(a.ip, b.ip, "first"));
  net.deliver();
  b.packets.flushedAt.length = 0;
  for (const text of ["x", "y", "z"]) a.packets.sink!.packet(udp(a.ip, b.ip, text));
  a.packets.sink!.flush();
  net.deliver();
  assert.deepEqual(texts(b), ["first", "x", "y", "z"]);
  // One batch of three datagrams: flushed once, after all three were written.
  assert.deepEqual(b.packets.flushedAt, [4]);
});

Deno.test("both roles: each side can initiate, with and without a preshared key", () => {
  for (const psk of [undefined, encodeKey(generatePresharedKey())]) {
    const { nodes: [a, b], net } = makeMesh(2, { presharedKey: psk });
    b.packets.inject(udp(b.ip, a.ip, "from-b"));
    net.deliver();
    assert.deepEqual(texts(a), ["from-b"]);
    assert.ok(b.device.peer(a.publicKey)!.current!.isInitiator);
  }
});

Deno.test("mismatched preshared keys get no session", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  a.device.setPeer({
    publicKey: b.publicKey,
    presharedKey: encodeKey(generatePresharedKey()),
    endpoint: "192.0.2.2:51820",
    allowedIps: [`${b.ip}/32`],
  });
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  assert.deepEqual(texts(b), []);
  assert.equal(a.device.peer(b.publicKey)!.current, null);
  assert.equal(a.device.drops.get("handshake-invalid"), 1);
});

Deno.test("a peer with the wrong key gets no session", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  // a believes b has some other key: b cannot decrypt a's initiation (MAC1 fails).
  const wrong = encodeKey(publicKeyOf(generatePrivateKey()));
  a.device.removePeer(b.publicKey);
  a.device.setPeer({ publicKey: wrong, endpoint: "192.0.2.2:51820", allowedIps: [`${b.ip}/32`] });
  a.packets.inject(udp(a.ip, b.ip, "secret"));
  net.deliver();
  assert.equal(b.device.drops.get("mac1"), 1);
  assert.deepEqual(texts(b), []);
  // And an unknown initiator (b does not list a) is refused after decrypting the static key.
  b.device.removePeer(a.publicKey);
  a.device.removePeer(wrong);
  a.device.setPeer({
    publicKey: b.publicKey,
    endpoint: "192.0.2.2:51820",
    allowedIps: [`${b.ip}/32`],
  });
  a.packets.inject(udp(a.ip, b.ip, "secret"));
  net.deliver();
  assert.equal(b.device.drops.get("handshake-unknown-peer"), 1);
  assert.equal(b.device.drops.get("handshake-invalid"), 0, "an unknown key is not a bad handshake");
  assert.equal(a.device.peer(b.publicKey)!.current, null);
});

Deno.test("replayed transport packets and replayed initiations are dropped", () => {
  const net = new MemoryNetwork({ manual: true });
  const captured: Uint8Array[] = [];
  const { nodes: [a, b] } = makeMesh(2, { net });
  const orig = b.device;
  const tap = b.transport.sink!;
  b.transport.sink = {
    datagram: (d, from) => {
      captured.push(d.slice());
      tap.datagram(d, from);
    },
    flush: () => tap.flush(),
  };
  a.packets.inject(udp(a.ip, b.ip, "once"));
  net.deliver();
  assert.deepEqual(texts(b), ["once"]);
  const from = b.transport.table.parse("192.0.2.1:51820");
  for (const d of captured) tap.datagram(d.slice(), from);
  assert.deepEqual(texts(b), ["once"]);
  assert.ok(orig.drops.get("replay") >= 1);
  assert.ok(orig.drops.get("handshake-replay") >= 1, "replayed initiation timestamp rejected");
  assert.equal(orig.drops.get("handshake-invalid"), 0, "a replay is not a broken handshake");
});

Deno.test("packets whose source is not the peer's allowed IP are dropped", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  a.packets.inject(udp(a.ip, b.ip, "ok"));
  net.deliver();
  // a sends a packet claiming to come from 10.0.0.99, routed to b by destination.
  a.packets.inject(udp("10.0.0.99", b.ip, "spoof"));
  net.deliver();
  assert.deepEqual(texts(b), ["ok"]);
  assert.equal(b.device.drops.get("source-not-allowed"), 1);
});

Deno.test("rekey after time: a new handshake mid-stream loses no packet", () => {
  const { nodes: [a, b], clock, net } = makeMesh(2, {
    device: {
      timers: {
        rekeyAfterTime: 3000,
        rejectAfterTime: 6000,
        keepaliveTimeout: 1000,
        rekeyTimeout: 500,
        rekeyAttemptTime: 3000,
      },
    },
  });
  const sent: string[] = [];
  for (let i = 0; i < 200; i++) {
    const t = `m${i}`;
    sent.push(t);
    a.packets.inject(udp(a.ip, b.ip, t));
    net.deliver();
    run(clock, net, [a, b], 100);
  }
  assert.deepEqual(texts(b), sent);
  const pa = a.device.peer(b.publicKey)!;
  assert.ok(pa.counters.handshakes >= 5, `handshakes: ${pa.counters.handshakes}`);
  assert.equal(b.device.drops.total(), 0, JSON.stringify(b.device.drops.snapshot()));
});

Deno.test("session is not used past reject-after-time, and keys are zeroed after 3x", () => {
  const timers = {
    rekeyAfterTime: 1000,
    rejectAfterTime: 2000,
    keepaliveTimeout: 300,
    rekeyTimeout: 200,
    rekeyAttemptTime: 1000,
  };
  const { nodes: [a, b], clock, net } = makeMesh(2, { device: { timers } });
  const events: DeviceEvent[] = [];
  a.device.onEvent((e) => events.push(e));
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  const pa = a.device.peer(b.publicKey)!;
  const kp = pa.current!;
  // Cut the network: b goes away.
  b.transport.close();
  run(clock, net, [a], 2100);
  assert.ok(clock.now() - kp.created >= timers.rejectAfterTime);
  const sentBefore = pa.counters.txPackets;
  a.packets.inject(udp(a.ip, b.ip, "late"));
  assert.equal(pa.counters.txPackets, sentBefore, "no transport packet on an expired session");
  run(clock, net, [a], 7000);
  assert.ok(events.some((e) => e.type === "handshake-give-up"));
  assert.ok(events.some((e) => e.type === "keys-zeroed"));
  assert.equal(pa.current, null);
  assert.equal(pa.staged.length, 0);
});

Deno.test("handshake retransmits every rekey-timeout and gives up after rekey-attempt-time", () => {
  const { nodes: [a, b], clock, net } = makeMesh(2);
  b.transport.close();
  const events: DeviceEvent[] = [];
  a.device.onEvent((e) => events.push(e));
  a.packets.inject(udp(a.ip, b.ip, "x"));
  const pa = a.device.peer(b.publicKey)!;
  run(clock, net, [a], 60_000, 250);
  const midway = pa.counters.initiationsSent;
  assert.ok(midway >= 11 && midway <= 13, `initiations after 60s: ${midway}`);
  run(clock, net, [a], 60_000, 250);
  assert.equal(pa.counters.initiationsSent, 19, "1 + 18 retries");
  assert.ok(events.some((e) => e.type === "handshake-give-up"));
});

Deno.test("passive keepalive: data received and nothing sent back -> keepalive after 10 s", () => {
  const { nodes: [a, b], clock, net } = makeMesh(2);
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  const pb = b.device.peer(a.publicKey)!;
  const before = pb.counters.txPackets;
  run(clock, net, [a, b], 9_500);
  assert.equal(pb.counters.txPackets, before);
  run(clock, net, [a, b], 1_000);
  assert.equal(pb.counters.txPackets, before + 1);
  assert.equal(a.device.drops.total(), 0);
});

Deno.test("persistent keepalive sends on the interval even when idle", () => {
  const { nodes: [a, b], clock, net } = makeMesh(2);
  a.device.setPeer({
    publicKey: b.publicKey,
    endpoint: "192.0.2.2:51820",
    allowedIps: [`${b.ip}/32`],
    persistentKeepalive: 5,
  });
  net.deliver();
  const pa = a.device.peer(b.publicKey)!;
  assert.equal(pa.counters.handshakes, 1, "setting keepalive reaches out at once");
  const before = pa.counters.txPackets;
  run(clock, net, [a, b], 20_100);
  assert.ok(pa.counters.txPackets - before >= 4, `${pa.counters.txPackets - before}`);
});

Deno.test("endpoint roaming: the endpoint follows the last authenticated packet", () => {
  const net = new MemoryNetwork({ manual: true });
  const { nodes: [a, b] } = makeMesh(2, { net });
  a.packets.inject(udp(a.ip, b.ip, "1"));
  net.deliver();
  // b moves to a new underlay address: rebind its device on another transport.
  const moved = net.bind("198.51.100.7", 4000);
  const sink = b.transport.sink!;
  moved.start(sink);
  // Make b's sends leave from the new address from now on.
  b.transport.send = (d, to) => moved.send(d, to);
  b.packets.inject(udp(b.ip, a.ip, "2"));
  net.deliver();
  assert.equal(a.device.peer(b.publicKey)!.endpoint?.toString(), "198.51.100.7:4000");
  a.packets.inject(udp(a.ip, b.ip, "3"));
  net.deliver();
  assert.deepEqual(texts(b), ["1", "3"]);
});

Deno.test("endpoint roaming: an equal endpoint that is another object is no move", () => {
  const net = new MemoryNetwork({ manual: true });
  const { nodes: [a, b] } = makeMesh(2, { net });
  a.packets.inject(udp(a.ip, b.ip, "1"));
  net.deliver();
  const pb = a.device.peer(b.publicKey)!;
  const was = pb.endpoint!;
  // The same address as a plain object, as a transport's table makes anew once it let the
  // interned one go (a mesh of more members than its generation holds).
  pb.endpoint = { address: was.address, port: was.port, family: was.family, proto: was.proto };
  const events: string[] = [];
  a.device.onEvent((e) => void events.push(e.type));
  b.packets.inject(udp(b.ip, a.ip, "2"));
  net.deliver();
  assert.equal(pb.endpoint, was, "the transport's object is taken");
  assert.ok(!events.includes("endpoint-changed"), events.join(","));
  assert.deepEqual(texts(a), ["2"]);
});

Deno.test("under load, initiators must answer a cookie (MAC2) and then succeed", () => {
  const { nodes: [a, b], clock, net } = makeMesh(2, { device: { underLoadThreshold: 0 } });
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  assert.equal(b.device.stats.cookieRepliesSent, 1);
  assert.deepEqual(texts(b), []);
  // Both sides are under load here, so each demands a cookie once: the first retransmission
  // carries MAC2 for b, whose response then gets a cookie from a; the second round succeeds.
  run(clock, net, [a, b], 12_000);
  assert.deepEqual(texts(b), ["x"]);
  assert.equal(a.device.stats.cookieRepliesSent, 1);
  assert.equal(a.device.drops.get("cookie-invalid"), 0);
});

Deno.test("a second handshake while data flows rotates sessions without loss", () => {
  const { nodes: [a, b], clock, net } = makeMesh(2);
  a.packets.inject(udp(a.ip, b.ip, "a"));
  net.deliver();
  clock.advance(6000);
  // b initiates now (as if its rekey timer fired), while a keeps sending.
  b.device.initiateHandshake(a.publicKey);
  a.packets.inject(udp(a.ip, b.ip, "b")); // still on the old session, in flight with the initiation
  net.deliver();
  a.packets.inject(udp(a.ip, b.ip, "c"));
  net.deliver();
  assert.deepEqual(texts(b), ["a", "b", "c"]);
  assert.equal(b.device.peer(a.publicKey)!.counters.handshakes, 2);
});

Deno.test("initiateHandshakeNow does not wait out REKEY_TIMEOUT after a lost initiation", () => {
  const { nodes: [a, b], clock, net } = makeMesh(2);
  const pa = a.device.peer(b.publicKey)!;
  // The first initiation goes where nothing listens (a NAT's closed door)...
  pa.endpoint = a.transport.endpoint("192.0.2.99:51820");
  a.device.initiateHandshake(b.publicKey);
  net.deliver();
  assert.equal(pa.counters.initiationsSent, 1);
  // ...then the peer's real endpoint is found: a plain request waits for the retransmission...
  clock.advance(300);
  pa.endpoint = a.transport.endpoint("192.0.2.2:51820");
  a.device.initiateHandshake(b.publicKey);
  assert.equal(pa.counters.initiationsSent, 1);
  // ...and this one goes at once.
  a.device.initiateHandshakeNow(b.publicKey);
  net.deliver();
  assert.equal(pa.counters.initiationsSent, 2);
  assert.equal(pa.counters.handshakes, 1);
  assert.throws(() => a.device.initiateHandshakeNow(encodeKey(publicKeyOf(generatePrivateKey()))));
});

Deno.test("unknown message types and wrong sizes are counted, not thrown", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  const sink = b.transport.sink!;
  const from = b.transport.table.parse("192.0.2.1:51820");
  sink.datagram(new Uint8Array([5, 0, 0, 0, 1, 2]), from);
  sink.datagram(new Uint8Array([1, 1, 0, 0]), from); // reserved bytes set
  sink.datagram(new Uint8Array(0), from);
  sink.datagram(new Uint8Array(147).fill(0).map((_, i) => (i === 0 ? MSG_INITIATION : 0)), from);
  sink.datagram(new Uint8Array(20).map((_, i) => (i === 0 ? MSG_TRANSPORT : 0)), from);
  const d = b.device.drops;
  assert.equal(d.get("unknown-type"), 3);
  assert.equal(d.get("bad-size"), 1);
  assert.equal(d.get("short"), 1);
  a.packets.inject(udp(a.ip, b.ip, "still works"));
  net.deliver();
  assert.deepEqual(texts(b), ["still works"]);
});

Deno.test("a removed peer loses its session and its routes", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  assert.ok(b.device.removePeer(a.publicKey));
  a.packets.inject(udp(a.ip, b.ip, "y"));
  net.deliver();
  assert.deepEqual(texts(b), ["x"]);
  assert.equal(b.device.drops.get("unknown-index"), 1);
  assert.equal(a.device.removePeer("nope"), false);
});

Deno.test("bad peer configuration is refused and leaves the device unchanged", () => {
  const { nodes: [a, b] } = makeMesh(2);
  assert.throws(() => a.device.setPeer({ publicKey: "short" }), /peer public key/);
  assert.throws(
    () => a.device.setPeer({ publicKey: b.publicKey, allowedIps: ["10.0.0.0/33"] }),
    /prefix length/,
  );
  assert.throws(
    () => a.device.setPeer({ publicKey: b.publicKey, endpoint: "nohost" }),
    /endpoint/,
  );
  assert.throws(() => a.device.setPeer({ publicKey: a.publicKey }), /own public key/);
  assert.deepEqual(a.device.allowedIpsOf(a.device.peer(b.publicKey)!), ["10.0.0.2/32"]);
});

Deno.test("three nodes: every pair exchanges packets", () => {
  const clock = new ManualClock();
  const { nodes, net } = makeMesh(3, { clock });
  for (const x of nodes) {
    for (const y of nodes) {
      if (x !== y) x.packets.inject(udp(x.ip, y.ip, `${x.ip}>${y.ip}`));
      net.deliver();
    }
  }
  for (const y of nodes) {
    assert.deepEqual(
      texts(y).sort(),
      nodes.filter((x) => x !== y).map((x) => `${x.ip}>${y.ip}`).sort(),
    );
  }
});

Deno.test("a low-order peer key never yields a handshake and never throws on the packet path", () => {
  const { nodes: [a], net } = makeMesh(2);
  const zero = encodeKey(new Uint8Array(32));
  a.device.setPeer({ publicKey: zero, endpoint: "192.0.2.9:51820", allowedIps: ["10.0.9.9/32"] });
  a.packets.inject(udp(a.ip, "10.0.9.9", "x"));
  net.deliver();
  assert.equal(a.device.peer(zero)!.counters.initiationsSent, 0);
  assert.ok(a.device.drops.get("handshake-invalid") >= 1);
});

Deno.test("a crypto backend that throws is counted and reported, not taken for a forgery", () => {
  const errors: [string, unknown][] = [];
  const { nodes: [a, b], net } = makeMesh(2, {
    device: { onError: (source, e) => errors.push([source, e]) },
  });
  a.packets.inject(udp(a.ip, b.ip, "ok"));
  net.deliver();
  assert.deepEqual(texts(b), ["ok"]);
  // b's receive key breaks (a backend fault, not a forged packet).
  const kp = b.device.peer(a.publicKey)!.current!;
  kp.receive.open = () => {
    throw new Error("backend fault");
  };
  a.packets.inject(udp(a.ip, b.ip, "lost"));
  net.deliver();
  assert.deepEqual(texts(b), ["ok"]);
  assert.equal(b.device.drops.get("crypto-error"), 1);
  assert.equal(b.device.drops.get("decrypt"), 0);
  assert.equal(errors.length, 1);
  assert.equal(errors[0][0], "crypto");
  assert.match(String(errors[0][1]), /backend fault/);
  // And on the sending side.
  const akp = a.device.peer(b.publicKey)!.current!;
  akp.send.seal = () => {
    throw new Error("seal fault");
  };
  a.packets.inject(udp(a.ip, b.ip, "never"));
  net.deliver();
  assert.equal(a.device.drops.get("crypto-error"), 1);
  assert.equal(errors.length, 2);
});

Deno.test("an event listener that throws is counted and reported; the others still hear", () => {
  const errors: [string, unknown][] = [];
  const { nodes: [a, b], net } = makeMesh(2, {
    device: { onError: (source, e) => errors.push([source, e]) },
  });
  const heard: string[] = [];
  a.device.onEvent(() => {
    throw new Error("listener bug");
  });
  a.device.onEvent((e) => heard.push(e.type));
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  assert.deepEqual(texts(b), ["x"]);
  assert.ok(heard.includes("handshake-complete"));
  assert.ok(a.device.stats.listenerErrors >= 1);
  assert.equal(errors[0][0], "listener");
  assert.match(String(errors[0][1]), /listener bug/);
});

Deno.test("idle peers cost the tick nothing: live from the first packet, let go once the keys are wiped", () => {
  const timers = {
    rekeyAfterTime: 1000,
    rejectAfterTime: 2000,
    keepaliveTimeout: 300,
    rekeyTimeout: 200,
    rekeyAttemptTime: 1000,
  };
  const { nodes: [a, b, c], clock, net } = makeMesh(3, { device: { timers } });
  const events: DeviceEvent[] = [];
  a.device.onEvent((e) => events.push(e));
  // Configured peers without a keepalive and without traffic: nothing runs for them.
  assert.equal(a.device.livePeerCount, 0);
  a.packets.inject(udp(a.ip, b.ip, "first"));
  // The first packet starts the handshake (and says so); it is staged and goes after it.
  assert.deepEqual(events.map((e) => e.type), ["handshake-initiated"]);
  net.deliver();
  assert.deepEqual(texts(b), ["first"]);
  assert.equal(a.device.livePeerCount, 1, "only b: c was never contacted");
  const pb = a.device.peer(b.publicKey)!;
  assert.equal(pb.counters.txData, 1);
  assert.ok(pb.counters.txPackets >= 1);
  const pc = a.device.peer(c.publicKey)!;
  assert.equal(pc.counters.initiationsSent, 0);
  // No more traffic: the session runs out and its keys are wiped (3 × REJECT_AFTER_TIME).
  run(clock, net, [a, b], timers.rejectAfterTime * 3 + 500, 250);
  assert.ok(events.some((e) => e.type === "keys-zeroed"));
  assert.equal(a.device.livePeerCount, 0, "b is idle again");
  assert.equal(pb.current, null);
  // A keepalive makes a peer live; turned off it leaves at the next tick once its timers stop.
  assert.ok(a.device.setKeepalive(c.publicKey, 1));
  assert.equal(a.device.livePeerCount, 1);
  run(clock, net, [a, c], 100, 50);
  assert.ok(a.device.peer(c.publicKey)!.counters.initiationsSent >= 1, "the keepalive's handshake");
  assert.equal(a.device.setKeepalive("nope", 1), false);
});

Deno.test("resetPeer: a peer that lost its sessions is reached again by a fresh handshake on the next packet", () => {
  const { nodes: [a, b], net, clock } = makeMesh(2);
  a.packets.inject(udp(a.ip, b.ip, "one"));
  net.deliver();
  assert.deepEqual(texts(b), ["one"]);
  // b restarts: its sessions are gone; a's packets on the old keys are dropped there.
  assert.ok(b.device.resetPeer(a.publicKey));
  a.packets.inject(udp(a.ip, b.ip, "lost"));
  net.deliver();
  assert.deepEqual(texts(b), ["one"]);
  assert.ok(b.device.stats.drops["unknown-index"] >= 1);
  // a hears that b stopped (its bye): the next packet handshakes at once (though the last
  // initiation went out less than REKEY_TIMEOUT ago) and is delivered after it.
  clock.advance(100);
  const before = a.device.peer(b.publicKey)!.counters.initiationsSent;
  assert.ok(a.device.resetPeer(b.publicKey));
  assert.equal(a.device.peer(b.publicKey)!.current, null);
  a.packets.inject(udp(a.ip, b.ip, "two"));
  net.deliver();
  assert.deepEqual(texts(b), ["one", "two"]);
  assert.equal(a.device.peer(b.publicKey)!.counters.initiationsSent, before + 1);
  assert.equal(a.device.resetPeer("nope"), false);
});

Deno.test("a filter's mark goes with the packet to the transport; held packets keep theirs", () => {
  const sinks: HeldPacketSink[] = [];
  let mark = 0;
  const filter: PacketFilter = {
    outbound: () => true,
    inbound: () => true,
    tos: () => mark,
    attach: (sink) => sinks.push(sink),
  };
  const { nodes: [a, b], net } = makeMesh(2, { deviceFor: (i) => i === 0 ? { filter } : {} });
  a.packets.inject(udp(a.ip, b.ip, "first"));
  net.deliver();
  // Data from now on (the handshake above was sent unmarked, as keepalives are).
  const marks: number[] = [];
  const send = a.transport.send.bind(a.transport);
  a.transport.send = (d, to, tos) => {
    marks.push(tos ?? 0);
    send(d, to, tos);
  };
  mark = 0xb0;
  a.packets.inject(udp(a.ip, b.ip, "interactive"));
  mark = 0;
  a.packets.inject(udp(a.ip, b.ip, "plain"));
  sinks[0].send(udp(a.ip, b.ip, "held"), 0x28);
  sinks[0].flush();
  net.deliver();
  assert.deepEqual(texts(b), ["first", "interactive", "plain", "held"]);
  assert.deepEqual(marks, [0xb0, 0, 0x28]);
});

Deno.test("a filter that holds packets back: not a drop; sent later through the device's sink", () => {
  const sinks: HeldPacketSink[] = [];
  const held: Uint8Array[] = [];
  let holdNext = false;
  const filter: PacketFilter = {
    outbound: (pkt) => {
      if (!holdNext) return true;
      held.push(pkt.slice());
      return false;
    },
    inbound: () => true,
    held: () => holdNext,
    attach: (sink) => sinks.push(sink),
  };
  const { nodes: [a, b], net } = makeMesh(2, { deviceFor: (i) => i === 0 ? { filter } : {} });
  assert.equal(sinks.length, 1, "the device attaches its sink");
  a.packets.inject(udp(a.ip, b.ip, "first"));
  net.deliver();
  holdNext = true;
  a.packets.inject(udp(a.ip, b.ip, "second"));
  a.packets.inject(udp(a.ip, b.ip, "third"));
  net.deliver();
  assert.deepEqual(texts(b), ["first"]);
  assert.equal(a.device.drops.total(), 0, "held back is not dropped");
  for (const p of held) sinks[0].send(p, 0);
  sinks[0].flush();
  net.deliver();
  assert.deepEqual(texts(b), ["first", "second", "third"]);
  // A packet to nowhere is counted as the device counts it.
  sinks[0].send(udp(a.ip, "10.9.9.9", "lost"), 0);
  assert.equal(a.device.drops.snapshot()["no-route"], 1);
  // A filter given later is attached too; one without `held` drops as before.
  a.device.setFilter({ outbound: () => false, inbound: () => true });
  a.packets.inject(udp(a.ip, b.ip, "refused"));
  assert.equal(a.device.drops.snapshot().policy, 1);
  a.device.setFilter(filter);
  assert.equal(sinks.length, 2);
});

Deno.test("a packet to a group (multicast, broadcast) is counted apart from no-route", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  // What a new interface's kernel sends: MLD and router solicitations to ff02::/16, IGMP.
  const v6 = new Uint8Array(48);
  v6[0] = 0x60;
  v6[6] = 17;
  v6.set([0xfe, 0x80], 8);
  v6.set([0xff, 0x02], 24);
  v6[39] = 2;
  a.packets.inject(v6);
  a.packets.inject(udp(a.ip, "224.0.0.22", "igmp-ish"));
  a.packets.inject(udp(a.ip, "255.255.255.255", "broadcast"));
  net.deliver();
  const drops = a.device.drops.snapshot();
  assert.equal(drops.multicast, 3);
  assert.equal(drops["no-route"], 0);
  // A unicast address no peer holds is still no-route.
  a.packets.inject(udp(a.ip, "10.9.9.9", "lost"));
  assert.equal(a.device.drops.snapshot()["no-route"], 1);
  // A peer's address goes through.
  a.packets.inject(udp(a.ip, b.ip, "ok"));
  net.deliver();
  assert.deepEqual(texts(b), ["ok"]);
});

Deno.test("peer watchers hear each peer set or removed, and a throwing one is counted", () => {
  const { nodes: [a] } = makeMesh(1);
  const heard: string[] = [];
  const stop = a.device.onPeerChanged((k) => heard.push(k));
  const bad = a.device.onPeerChanged(() => {
    throw new Error("a watcher's bug");
  });
  const k = encodeKey(publicKeyOf(generatePrivateKey()));
  const errors = a.device.stats.listenerErrors;
  a.device.setPeer({ publicKey: k, allowedIps: ["10.9.0.9/32"] });
  a.device.setPeer({ publicKey: k, allowedIps: ["10.9.0.10/32"] });
  assert.equal(a.device.removePeer(k), true);
  assert.equal(a.device.removePeer(k), false, "none left: nobody is told");
  assert.deepEqual(heard, [k, k, k]);
  assert.equal(a.device.stats.listenerErrors, errors + 3);
  stop();
  bad();
  a.device.setPeer({ publicKey: k, allowedIps: ["10.9.0.9/32"] });
  assert.equal(heard.length, 3);
});

Deno.test("peer watchers hear a peer whose prefix another peer's setPeer took", () => {
  const { nodes: [a] } = makeMesh(1);
  const [k1, k2] = [0, 1].map(() => encodeKey(publicKeyOf(generatePrivateKey())));
  a.device.setPeer({ publicKey: k1, allowedIps: ["10.9.0.9/32", "10.9.1.0/24"] });
  const heard: string[] = [];
  a.device.onPeerChanged((k) => heard.push(k));
  a.device.setPeer({ publicKey: k2, allowedIps: ["10.9.0.9/32"] });
  assert.deepEqual(heard, [k2, k1], "k1 lost 10.9.0.9/32 to k2");
  assert.deepEqual(a.device.allowedIpsOf(a.device.peer(k1)!), ["10.9.1.0/24"]);
  // Nothing taken from anyone: only the peer set is told.
  a.device.setPeer({ publicKey: k2, allowedIps: ["10.9.0.9/32", "10.9.2.0/24"] });
  assert.deepEqual(heard, [k2, k1, k2]);
});
