import assert from "node:assert/strict";
import type { Device, DeviceEvent } from "../device/device.ts";
import { generateKeyPair } from "../crypto/keys.ts";
import { encodeBase64 } from "../crypto/base64.ts";
import type { Endpoint } from "../io/driver.ts";
import { nullLogger } from "../log/logger.ts";
import type { Member, MembershipView } from "../members/member.ts";
import { RelayClient } from "../relay/client.ts";
import type { RelaySession } from "../relay/messages.ts";
import type { ControlMessage } from "../mesh/sync/protocol.ts";
import { RelayRoutes } from "./relay_routes.ts";

const ME = generateKeyPair().publicKey;
const LEADER = generateKeyPair().publicKey;
const B = generateKeyPair().publicKey;
const C = generateKeyPair().publicKey;
const WS: Endpoint = {
  address: "192.0.2.1",
  port: 51820,
  family: 4,
  proto: "tcp",
  toString: () => "ws://192.0.2.1:51820",
};

const member = (publicKey: string, address: string, role: "leader" | "node" = "node") =>
  ({ publicKey, address, name: address, role, endpoints: [], labels: {} }) as unknown as Member;
const view = (...members: Member[]): MembershipView => ({
  network: "10.9.0.0/24",
  version: 1,
  members,
});
const grant = (peer: string, id: number): RelaySession => ({
  t: "relay-session",
  peer,
  send: { id, key: encodeBase64(new Uint8Array(32).fill(id)) },
  recv: { id: id + 1000, key: encodeBase64(new Uint8Array(32).fill(id + 1)) },
});

/** Routes over a stand-in device and channel; what they send and initiate is recorded. */
function setup() {
  const listeners = new Set<(e: DeviceEvent) => void>();
  const initiated: string[] = [];
  const device = {
    publicKey: ME,
    onEvent(fn: (e: DeviceEvent) => void) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    initiateHandshakeNow(key: string) {
      initiated.push(key);
    },
  } as unknown as Device;
  const sent: { to: string; msg: ControlMessage }[] = [];
  let hear: ((msg: ControlMessage, from: string) => void) | null = null;
  const channel = {
    send: (to: string, msg: ControlMessage) => void sent.push({ to, msg }),
    listen(fn: (msg: ControlMessage, from: string) => void) {
      hear = fn;
      return () => hear = null;
    },
  };
  const client = new RelayClient({ now: () => performance.now(), selfKey: ME });
  const routes = new RelayRoutes({
    device,
    client,
    channel,
    leader: LEADER,
    leaderEndpoint: WS,
    logger: nullLogger,
  });
  routes.start(
    view(member(LEADER, "10.9.0.1", "leader"), member(ME, "10.9.0.5"), member(B, "10.9.0.2")),
  );
  return {
    routes,
    client,
    sent,
    initiated,
    event: (e: DeviceEvent) => listeners.forEach((l) => l(e)),
    hear: (msg: ControlMessage, from: string) => hear!(msg, from),
  };
}

Deno.test("relay routes: the leader over the socket, every other member through the leader", () => {
  const t = setup();
  try {
    assert.equal(t.routes.endpointOf(LEADER), "ws://192.0.2.1:51820");
    const viaLeader = t.routes.endpointOf(B);
    assert.equal(viaLeader, t.client.endpoint(LEADER, B).fullText);
    assert.match(viaLeader, /^relay:\/\//);
  } finally {
    t.routes.close();
  }
});

Deno.test("relay routes: a handshake with a member asks the leader for a session, once", () => {
  const t = setup();
  try {
    t.event({ type: "handshake-initiated", peer: B });
    t.event({ type: "handshake-initiated", peer: B });
    assert.deepEqual(t.sent, [{ to: "10.9.0.1", msg: { t: "relay-open", to: B, ht: true } }]);
    // The leader's own handshakes ask nothing.
    t.event({ type: "handshake-initiated", peer: LEADER });
    assert.equal(t.sent.length, 1);
    // Granted by the leader: the session is held, and the waiting handshake goes at once.
    t.hear(grant(B, 7), "10.9.0.1");
    assert.equal(t.client.hasSession(B), true);
    assert.deepEqual(t.initiated, [B]);
  } finally {
    t.routes.close();
  }
});

Deno.test("relay routes: a grant from anyone but the leader is not taken", () => {
  const t = setup();
  try {
    t.event({ type: "handshake-initiated", peer: B });
    t.hear(grant(B, 7), "10.9.0.2"); // B itself claiming to relay
    assert.equal(t.client.hasSession(B), false);
    assert.deepEqual(t.initiated, []);
  } finally {
    t.routes.close();
  }
});

Deno.test("relay routes: a session a member opened to reach this node is asked back", () => {
  const t = setup();
  try {
    t.hear(grant(B, 9), "10.9.0.1");
    assert.equal(t.client.hasSession(B), false, "not asked: not taken");
    assert.deepEqual(t.sent, [{ to: "10.9.0.1", msg: { t: "relay-open", to: B, ht: true } }]);
    t.hear(grant(B, 9), "10.9.0.1");
    assert.equal(t.client.hasSession(B), true);
  } finally {
    t.routes.close();
  }
});

Deno.test("relay routes: a member that leaves the view loses its session; no ask for a stranger", () => {
  const t = setup();
  try {
    t.event({ type: "handshake-initiated", peer: B });
    t.hear(grant(B, 7), "10.9.0.1");
    assert.equal(t.client.hasSession(B), true);
    t.routes.viewChanged(view(member(LEADER, "10.9.0.1", "leader"), member(ME, "10.9.0.5")));
    assert.equal(t.client.hasSession(B), false);
    t.sent.length = 0;
    t.event({ type: "handshake-initiated", peer: C });
    assert.deepEqual(t.sent, [], "C is no member");
  } finally {
    t.routes.close();
  }
});

Deno.test("relay routes: a new session with the leader (it restarted) asks again for those in use", () => {
  const t = setup();
  try {
    t.event({ type: "handshake-complete", peer: B, role: "initiator" });
    t.sent.length = 0;
    t.event({ type: "handshake-complete", peer: LEADER, role: "initiator" });
    assert.deepEqual(t.sent, [{ to: "10.9.0.1", msg: { t: "relay-open", to: B, ht: true } }]);
  } finally {
    t.routes.close();
  }
});
