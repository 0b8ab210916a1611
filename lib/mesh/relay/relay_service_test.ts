/**
 * The relay service keeps the relay told where each member is: a member whose endpoint moved
 * (the device roamed it on an authenticated packet) is relayed from its new endpoint at once,
 * not only after the next refresh tick.
 */
import assert from "node:assert/strict";
import type { Device } from "../../device/device.ts";
import type { DeviceEvent } from "../../device/types.ts";
import type { Endpoint } from "../../io/driver.ts";
import { nullLogger } from "../../log/logger.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { RelayServer } from "../../relay/server.ts";
import type { ControlMessage } from "../sync/protocol.ts";
import type { ControlPort } from "../sync/control_channel.ts";
import { RelayService } from "./relay_service.ts";
import { dataMessage, ep, newKey, packet } from "../../../tests/fixtures/relay.ts";

/** A device with only what the service reads: the peers' endpoints and the event listeners. */
class FakeDevice {
  readonly publicKey = newKey();
  readonly endpoints = new Map<string, Endpoint | null>();
  readonly listeners = new Set<(e: DeviceEvent) => void>();
  peer(key: string): { endpoint: Endpoint | null } | undefined {
    return this.endpoints.has(key) ? { endpoint: this.endpoints.get(key)! } : undefined;
  }
  onEvent(l: (e: DeviceEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  /** The peer's authenticated packets came from `to`: the device roams it and says so. */
  roam(key: string, to: Endpoint): void {
    this.endpoints.set(key, to);
    for (const l of this.listeners) l({ type: "endpoint-changed", peer: key, endpoint: `${to}` });
  }
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

Deno.test("relay service: a member that moved is relayed from its new endpoint at once", () => {
  const A = newKey();
  const B = newKey();
  const device = new FakeDevice();
  device.endpoints.set(A, ep("198.51.100.1:51820"));
  device.endpoints.set(B, ep("198.51.100.2:51820"));
  const server = new RelayServer({ now: () => 1_000, send: () => {}, isMember: () => true });
  const channel = new FakeChannel();
  const service = new RelayService({
    server,
    device: device as unknown as Device,
    channel,
    logger: nullLogger,
  });
  const view: MembershipView = {
    network: "10.0.0.0/24",
    version: 1,
    members: [member(A, "10.0.0.1"), member(B, "10.0.0.2")],
  };
  service.start(view);
  try {
    channel.deliver({ t: "relay-open", to: B }, "10.0.0.1");
    const grant = channel.sent.find((s) => s.to === "10.0.0.1")?.msg;
    assert.ok(grant?.t === "relay-session", "A got a session");
    const send = grant.send;
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
