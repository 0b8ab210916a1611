/**
 * The relay service keeps the relay told where each member is: a member whose endpoint moved
 * (the device roamed it on an authenticated packet) is relayed from its new endpoint at once,
 * not only after the next refresh tick; a member that reaches the relay another way than the
 * relay sends to it (over TCP while the relay sends over UDP) is relayed from there too.
 */
import assert from "node:assert/strict";
import type { Device } from "../../device/device.ts";
import type { DeviceEvent } from "../../device/types.ts";
import { moveEndpoint, roam } from "../../device/roaming.ts";
import type { DeviceState } from "../../device/state.ts";
import type { Peer } from "../../peer/peer.ts";
import type { Endpoint } from "../../io/driver.ts";
import { nullLogger } from "../../log/logger.ts";
import {
  type Member,
  type MembershipView,
  onlineChange,
  onlineView,
} from "../../members/member.ts";
import { viewChange, viewSteps } from "../../members/testing/view_change.ts";
import { RelayServer } from "../../relay/server.ts";
import type { ControlMessage } from "../sync/protocol.ts";
import type { ControlPort } from "../sync/control_channel.ts";
import { RelayService } from "./relay_service.ts";
import { dataMessage, ep, newKey, packet } from "../../../tests/fixtures/relay.ts";

/** The part of a peer that roaming and the service touch. */
interface FakePeer {
  publicKeyText: string;
  endpoint: Endpoint | null;
  udpHeardAt: Float64Array;
  otherEndpoint: Endpoint | null;
  earlierEndpoints: (Endpoint | null)[];
  earlierNext: number;
}

/** A device with only what the service reads: the peers' endpoints and the event listeners. */
class FakeDevice {
  readonly publicKey = newKey();
  readonly peers = new Map<string, FakePeer>();
  readonly listeners = new Set<(e: DeviceEvent) => void>();
  /** The state the real roaming works on: a transport with nothing to keep, the listeners. */
  readonly #state = { transport: {}, listeners: this.listeners } as unknown as DeviceState;
  peer(key: string): FakePeer | undefined {
    return this.peers.get(key);
  }
  onEvent(l: (e: DeviceEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  /** A peer at `endpoint`, as a handshake over it at `now` leaves it. */
  add(key: string, endpoint: Endpoint, now = 0): void {
    this.peers.set(key, {
      publicKeyText: key,
      endpoint: null,
      udpHeardAt: new Float64Array([-Infinity]),
      otherEndpoint: null,
      earlierEndpoints: [null, null, null, null],
      earlierNext: 0,
    });
    this.roam(key, endpoint, now);
  }
  /** The peer's authenticated packet came from `from` at `now`: the device's own roaming. */
  roam(key: string, from: Endpoint, now = 0): void {
    roam(this.#state, this.peers.get(key)! as unknown as Peer, from, now);
  }
}

/** A TCP endpoint: the connection a member dialled, as the relay's stream transport names it. */
function tcp(address: string, port: number): Endpoint {
  return { address, port, family: 4, proto: "tcp", toString: () => `tcp://${address}:${port}` };
}

/** A WebSocket endpoint: one a member dialled, as the relay's stream transport names it. */
function wsEp(address: string, port: number): Endpoint {
  return { address, port, family: 4, proto: "ws", toString: () => `ws://${address}:${port}` };
}

/** A control channel that records what is sent and lets the test deliver requests. */
class FakeChannel implements ControlPort {
  readonly sent: { to: string; msg: ControlMessage }[] = [];
  #handler: ((msg: ControlMessage, from: string) => void) | null = null;
  send(to: string, msg: ControlMessage): void {
    this.sent.push({ to, msg });
  }
  listen(h: (msg: ControlMessage, from: string) => void): () => void {
    this.#handler = h;
    return () => this.#handler = null;
  }
  deliver(msg: ControlMessage, from: string): void {
    this.#handler!(msg, from);
  }
}

function member(publicKey: string, address: string): Member {
  return { publicKey, address, name: address, endpoints: [] } as unknown as Member;
}

/** A relay service over `device`, its server counting every sender a member, and its channel. */
function serviceOn(device: FakeDevice) {
  const server = new RelayServer({ now: () => 1_000, send: () => {}, isMember: () => true });
  const channel = new FakeChannel();
  const service = new RelayService({
    server,
    device: device as unknown as Device,
    channel,
    logger: nullLogger,
  });
  return { server, channel, service };
}

/**
 * A relay service for new members A (at `aAt`) and B (at 198.51.100.2:51820) of a fake device,
 * each heard there at time 0, A holding a session with B.
 */
function relayed(aAt: Endpoint) {
  const A = newKey();
  const B = newKey();
  const device = new FakeDevice();
  device.add(A, aAt, 0);
  device.add(B, ep("198.51.100.2:51820"), 0);
  const { server, channel, service } = serviceOn(device);
  service.start({
    network: "10.0.0.0/24",
    version: 1,
    members: [member(A, "10.0.0.1"), member(B, "10.0.0.2")],
  });
  channel.deliver({ t: "relay-open", to: B }, "10.0.0.1");
  const grant = channel.sent.find((s) => s.to === "10.0.0.1")?.msg;
  assert.ok(grant?.t === "relay-session", "A got a session");
  return { A, device, server, service, send: grant.send };
}

Deno.test("relay service: a member that moved is relayed from its new endpoint at once", () => {
  const { A, device, server, service, send } = relayed(ep("198.51.100.1:51820"));
  try {
    assert.equal(server.forward(packet(send, dataMessage()), ep("198.51.100.1:51820")), null);
    // A's NAT gave it another port (or the relay restarted and learnt it anew): its next
    // handshake moves its WireGuard peer, and its relayed packets come from there.
    const moved = ep("198.51.100.1:40000");
    device.roam(A, moved);
    assert.equal(server.forward(packet(send, dataMessage()), moved), null, "forwarded from there");
    assert.equal(server.stats.drops.source, 0);
  } finally {
    service.close();
  }
});

Deno.test("relay service: a member that reaches the relay over TCP is relayed from there", () => {
  const udp = ep("198.51.100.1:51820");
  const { A, device, server, service, send } = relayed(udp);
  try {
    // The relay restarted: A's route to it fell back to TCP meanwhile, and A's handshake comes
    // over TCP just after its UDP packets. The device keeps sending to A over UDP (heard there
    // within UDP_PREFERRED_MS), but A sends its relayed packets the way it reaches the relay.
    const conn = tcp("198.51.100.1", 40_000);
    device.roam(A, conn, 500);
    assert.equal(device.peer(A)!.endpoint, udp, "the relay still sends to A over UDP");
    assert.equal(server.forward(packet(send, dataMessage()), conn), null, "forwarded from TCP");
    assert.equal(server.forward(packet(send, dataMessage()), udp), null, "and from UDP");
    // Later A's packets come over TCP only (the device follows them there), and then the route
    // choice moves the device's peer back to UDP by itself (no event), while A keeps sending
    // over TCP: its relayed packets from TCP still pass.
    device.roam(A, conn, 5_000);
    assert.equal(device.peer(A)!.endpoint, conn);
    moveEndpoint(device.peer(A)! as unknown as Peer, udp);
    assert.equal(server.forward(packet(send, dataMessage()), conn), null, "TCP, sent to over UDP");
    assert.equal(server.stats.drops.source, 0, JSON.stringify(server.stats.drops));
    // A replay from anywhere else is still dropped: another TCP connection, another UDP port.
    assert.equal(
      server.forward(packet(send, dataMessage()), tcp("198.51.100.9", 40_000)),
      "source",
    );
    assert.equal(server.forward(packet(send, dataMessage()), ep("198.51.100.1:9")), "source");
    assert.equal(server.stats.drops.source, 2);
  } finally {
    service.close();
  }
});

Deno.test("relay service: a member relaying over its WebSocket while its TCP probe moved the relay is relayed from there", () => {
  const udp = ep("198.51.100.1:51820");
  const { A, device, server, service, send } = relayed(udp);
  try {
    // After a restart A's route to the relay is its WebSocket: its packets move the relay there.
    const ws = wsEp("198.51.100.1", 40_000);
    device.roam(A, ws, 10_000);
    // The relay's own route moves its sending back to A's UDP (a direct pong), and A's
    // handshake over TCP (a probe from the WebSocket) moves the relay's endpoint there, while
    // A's data still comes on the WebSocket until the answer reaches it.
    moveEndpoint(device.peer(A)! as unknown as Peer, udp);
    const probe = tcp("198.51.100.1", 40_001);
    device.roam(A, probe, 10_500);
    assert.equal(device.peer(A)!.endpoint, probe);
    assert.equal(
      server.forward(packet(send, dataMessage()), ws),
      null,
      "forwarded from the WebSocket",
    );
    assert.equal(server.forward(packet(send, dataMessage()), probe), null, "and from TCP");
    assert.equal(server.forward(packet(send, dataMessage()), udp), null, "and from UDP");
    assert.equal(server.stats.drops.source, 0, JSON.stringify(server.stats.drops));
  } finally {
    service.close();
  }
});

Deno.test("relay service: only the places the member sent from lately count, six at most", () => {
  const first = ep("198.51.100.1:51820");
  const { A, device, server, service, send } = relayed(first);
  try {
    const conns = [1, 2, 3, 4, 5, 6].map((i) => tcp("198.51.100.1", 40_000 + i));
    for (const [i, c] of conns.entries()) device.roam(A, c, 10_000 + 100 * i);
    // The endpoint, the place last left and the four before it.
    for (const c of conns) assert.equal(server.forward(packet(send, dataMessage()), c), null);
    // The seventh place back no longer counts, nor a place A never sent from.
    assert.equal(server.forward(packet(send, dataMessage()), first), "source");
    assert.equal(
      server.forward(packet(send, dataMessage()), tcp("198.51.100.1", 39_999)),
      "source",
    );
    assert.equal(server.stats.drops.source, 2);
  } finally {
    service.close();
  }
});

Deno.test("relay service: given each view's change it ends where one given the whole views does", () => {
  const [A, B, C, D] = [newKey(), newKey(), newKey(), newKey()];
  const first: MembershipView = {
    network: "10.0.0.0/24",
    version: 1,
    members: [member(A, "10.0.0.1"), member(B, "10.0.0.2"), member(C, "10.0.0.3")],
  };
  const views = viewSteps(first, [
    (v) => [...v.members, member(D, "10.0.0.4")], // a join
    (v) => v.members.map((m) => m.publicKey === B ? member(B, "10.0.0.22") : m), // B moved
    (v) => v.members.filter((m) => m.publicKey !== C), // C removed
    (v) => v.members.map((m) => m.publicKey === D ? { ...m, offline: true as const } : m), // D stops
  ]);
  const make = () => {
    const device = new FakeDevice();
    for (const [i, k] of [A, B, C, D].entries()) device.add(k, ep(`198.51.100.${i + 1}:51820`), 0);
    const { channel, service } = serviceOn(device);
    service.start(views[0]);
    // Sessions through the relay: A with C, and C with A's other peers later gone.
    channel.deliver({ t: "relay-open", to: C }, "10.0.0.1");
    channel.deliver({ t: "relay-open", to: A }, "10.0.0.3");
    return { service, channel };
  };
  const whole = make();
  const changes = make();
  const told = (c: FakeChannel) => c.sent.map((s) => `${s.to} ${s.msg.t}`);
  try {
    for (let i = 1; i < views.length; i++) {
      whole.service.viewChanged(onlineView(views[i], "me"));
      changes.service.viewChanged(
        views[i],
        onlineChange(viewChange(views[i - 1], views[i]), "me"),
      );
      assert.deepEqual(told(changes.channel), told(whole.channel), `after step ${i}`);
    }
    assert.ok(told(whole.channel).some((t) => t.endsWith("relay-closed")), "C's going was told");
    // Who the relay takes requests from: the members online at their addresses now.
    for (const from of ["10.0.0.1", "10.0.0.2", "10.0.0.22", "10.0.0.3", "10.0.0.4"]) {
      for (const t of [whole, changes]) t.channel.deliver({ t: "relay-open", to: A }, from);
      assert.equal(changes.service.notMember, whole.service.notMember, `from ${from}`);
    }
    assert.equal(whole.service.notMember, 3, "the old address, the removed and the stopped");
    assert.deepEqual(told(changes.channel), told(whole.channel));
  } finally {
    whole.service.close();
    changes.service.close();
  }
});
