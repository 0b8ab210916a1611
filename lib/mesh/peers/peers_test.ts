import assert from "node:assert/strict";
import { MemberIndex, MeshPeers, peersFromConfig } from "./peers.ts";
import { Device } from "../../device/device.ts";
import { ManualClock } from "../../device/clock.ts";
import { nobleAead, nobleDh } from "../../crypto/noble.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import { nullLogger } from "../../log/logger.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { MemoryNetwork } from "../../../drivers/memory.ts";
import { RecordingPackets } from "../../../tests/fixtures/mesh.ts";
import { member } from "../../../tests/fixtures/members.ts";
import { viewChange, viewSteps } from "../../members/testing/view_change.ts";
import type { AgentConfig } from "../../config/agent_config.ts";

const me = generateKeyPair();

/** A stopped device of our own on a memory network: peers are set, nothing is sent. */
function device(): Device {
  return new Device({
    privateKey: me.privateKey,
    suite: { aead: nobleAead, dh: nobleDh },
    transport: new MemoryNetwork({ manual: true }).bind("192.0.2.1", 51820),
    packets: new RecordingPackets(),
    clock: new ManualClock(),
  });
}

function node(name: string, i: number, extra: Partial<Member> = {}): Member {
  return member(name, `10.1.0.${i}`, {
    publicKey: generateKeyPair().publicKey,
    endpoints: [`192.0.2.${i}:51820`],
    ...extra,
  });
}

function view(version: number, members: Member[]): MembershipView {
  return { network: "10.1.0.0/24", version, members };
}

Deno.test("peers: every other member becomes a peer with its addresses and endpoint", async () => {
  const dev = device();
  const index = new MemberIndex();
  const peers = new MeshPeers({ device: dev, index, logger: nullLogger, keepalive: 10 });
  try {
    const self = node("self", 1, { publicKey: me.publicKey });
    const a = node("a", 2, { address6: "fd00::2" });
    const b = node("b", 3);
    peers.apply(view(1, [self, a, b]));
    assert.equal(dev.peerCount, 2, "not ourselves");
    const pa = dev.peer(a.publicKey)!;
    assert.deepEqual(dev.allowedIpsOf(pa).sort(), ["10.1.0.2/32", "fd00::2/128"]);
    assert.equal(pa.endpoint?.toString(), "192.0.2.2:51820");
    assert.equal(pa.timers.persistentKeepaliveMs, 10_000);
    assert.deepEqual(index.identity(b.publicKey), { name: "b", address: "10.1.0.3" });
    assert.deepEqual(index.identity(me.publicKey), { name: "", address: "" });

    // b leaves; a moves.
    const moved = { ...a, endpoints: ["192.0.2.22:51820"] };
    peers.apply(view(2, [self, moved]));
    assert.equal(dev.peerCount, 1);
    assert.equal(dev.peer(b.publicKey), undefined);
    assert.equal(dev.peer(a.publicKey)!.endpoint?.toString(), "192.0.2.22:51820");
    assert.equal(index.size, 1);
    assert.deepEqual(index.identity(b.publicKey), { name: "", address: "" });
  } finally {
    peers.close();
    await dev.close();
  }
});

Deno.test("peers: an endpoint learned from the peer wins until the view's changes", async () => {
  const dev = device();
  const peers = new MeshPeers({ device: dev, index: new MemberIndex(), logger: nullLogger });
  try {
    const a = node("a", 2);
    peers.apply(view(1, [a]));
    const p = dev.peer(a.publicKey)!;
    p.endpoint = dev.endpoint("198.51.100.9:4000"); // as roaming would set it
    // Same record content in a new view (a new object): nothing is reset.
    peers.apply(view(2, [{ ...a, labels: { tier: "x" } }]));
    assert.equal(dev.peer(a.publicKey)!.endpoint?.toString(), "198.51.100.9:4000");
    peers.apply(view(3, [{ ...a, endpoints: ["192.0.2.77:51820"] }]));
    assert.equal(dev.peer(a.publicKey)!.endpoint?.toString(), "192.0.2.77:51820");
  } finally {
    peers.close();
    await dev.close();
  }
});

Deno.test("peers: a name endpoint is looked up; the first IP endpoint serves meanwhile", async () => {
  const dev = device();
  let answer: (ips: string[]) => void = () => {};
  const peers = new MeshPeers({
    device: dev,
    index: new MemberIndex(),
    logger: nullLogger,
    lookup: () => new Promise((r) => answer = r),
  });
  try {
    const a = node("a", 2, { endpoints: ["a.example:51820", "192.0.2.2:51820"] });
    peers.apply(view(1, [a]));
    assert.equal(dev.peer(a.publicKey)!.endpoint?.toString(), "192.0.2.2:51820");
    answer(["203.0.113.5"]);
    for (
      let i = 0;
      i < 50 && dev.peer(a.publicKey)!.endpoint?.toString() !== "203.0.113.5:51820";
      i++
    ) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(dev.peer(a.publicKey)!.endpoint?.toString(), "203.0.113.5:51820");
  } finally {
    peers.close();
    await dev.close();
  }
});

Deno.test("peers: a bad member record is skipped, the others applied", async () => {
  const dev = device();
  const peers = new MeshPeers({ device: dev, index: new MemberIndex(), logger: nullLogger });
  try {
    const bad = node("bad", 2, { publicKey: "not a key" });
    const good = node("good", 3);
    peers.apply(view(1, [bad, good]));
    assert.equal(dev.peerCount, 1);
    assert.ok(dev.peer(good.publicKey));
  } finally {
    peers.close();
    await dev.close();
  }
});

Deno.test("peers: the keepalive comes from the configuration", () => {
  assert.deepEqual(peersFromConfig({ persistentKeepalive: 7 } as AgentConfig), {
    persistentKeepalive: 7,
  });
});

Deno.test("peers: an endpoint the path probes chose wins over the record's first", async () => {
  const dev = device();
  const chosen = new Map<string, string>();
  const peers = new MeshPeers({
    device: dev,
    index: new MemberIndex(),
    logger: nullLogger,
    chosenEndpoint: (key) => chosen.get(key) ?? null,
  });
  try {
    const self = node("self", 1, { publicKey: me.publicKey });
    const a = node("a", 2);
    peers.apply(view(1, [self, a]));
    assert.equal(dev.peer(a.publicKey)!.endpoint?.toString(), "192.0.2.2:51820");
    // The record moves to another NAT address, but a LAN path answers: it is kept.
    chosen.set(a.publicKey, "198.51.100.2:51820");
    peers.apply(view(2, [self, { ...a, endpoints: ["203.0.113.9:51820"] }]));
    assert.equal(dev.peer(a.publicKey)!.endpoint?.toString(), "198.51.100.2:51820");
  } finally {
    peers.close();
    await dev.close();
  }
});

Deno.test("peers: applied with each view's change, the device ends where whole views leave it", async () => {
  const self = node("self", 1, { publicKey: me.publicKey });
  const [a, b, c] = [node("a", 2, { address6: "fd00::2" }), node("b", 3), node("c", 4)];
  const views = viewSteps(view(1, [self, a, b]), [
    (v) => [...v.members, c], // a join
    (v) => v.members.map((m) => m.name === "a" ? { ...a, endpoints: ["192.0.2.22:51820"] } : m),
    (v) => v.members.filter((m) => m.name !== "b"), // b leaves
    (v) => v.members.map((m) => m.name === "c" ? { ...c, address: "10.1.0.40" } : m),
    (v) => [...v.members, b], // b again
  ]);
  const made = [device(), device()].map((dev) => {
    const index = new MemberIndex();
    return {
      dev,
      index,
      peers: new MeshPeers({ device: dev, index, logger: nullLogger, keepalive: 10 }),
    };
  });
  const state = (t: typeof made[number]) =>
    [...t.dev.peers()].map((p) =>
      [
        p.publicKeyText,
        t.dev.allowedIpsOf(p).sort().join(),
        p.endpoint?.toString(),
        t.index.identity(p.publicKeyText).name,
      ].join(" ")
    ).sort();
  try {
    for (const t of made) t.peers.apply(views[0]);
    for (let i = 1; i < views.length; i++) {
      made[0].peers.apply(views[i]);
      made[1].peers.apply(views[i], false, viewChange(views[i - 1], views[i]));
      assert.deepEqual(state(made[1]), state(made[0]), `after step ${i}`);
      assert.equal(made[1].index.size, made[0].index.size);
    }
    assert.equal(made[0].dev.peerCount, 3);
  } finally {
    for (const t of made) {
      t.peers.close();
      await t.dev.close();
    }
  }
});

Deno.test("peers: a peer set on the device outside the view (wg set) goes at the next change, a member's removed comes back, as at the next whole view", async () => {
  const self = node("self", 1, { publicKey: me.publicKey });
  const [a, b, c] = [node("a", 2), node("b", 3), node("c", 4)];
  const views = viewSteps(view(1, [self, a, b]), [
    (v) => [...v.members, c], // a join: a change that does not name the stray
    (v) => v.members.map((m) => m.name === "a" ? { ...a, endpoints: ["192.0.2.22:51820"] } : m),
  ]);
  const made = [device(), device()].map((dev) => ({
    dev,
    peers: new MeshPeers({ device: dev, index: new MemberIndex(), logger: nullLogger }),
  }));
  const keys = (dev: Device) => dev.peers().map((p) => p.publicKeyText).sort();
  try {
    for (const t of made) t.peers.apply(views[0]);
    for (let i = 1; i < views.length; i++) {
      // As the UAPI sets one: a key no member has, at an address of the overlay.
      const stray = generateKeyPair().publicKey;
      for (const t of made) {
        t.dev.setPeer({ publicKey: stray, allowedIps: [`10.1.0.${50 + i}/32`] });
        if (i === 1) t.dev.removePeer(b.publicKey); // a member's, by hand
      }
      made[0].peers.apply(views[i]);
      made[1].peers.apply(views[i], false, viewChange(views[i - 1], views[i]));
      assert.equal(made[0].dev.peer(stray), undefined, `a whole view removes it (step ${i})`);
      assert.ok(made[0].dev.peer(b.publicKey), `a whole view sets the member's again (step ${i})`);
      assert.deepEqual(keys(made[1].dev), keys(made[0].dev), `after step ${i}`);
    }
    assert.equal(made[1].dev.peerCount, 3);
  } finally {
    for (const t of made) {
      t.peers.close();
      await t.dev.close();
    }
  }
});

Deno.test("peers: a member whose peer could not be set is tried again at the next change", async () => {
  const self = node("self", 1, { publicKey: me.publicKey });
  const [a, b, c] = [node("a", 2), node("b", 3), node("c", 4)];
  const views = viewSteps(view(1, [self, a, b]), [
    (v) => v.members.map((m) => m.name === "a" ? { ...a, endpoints: ["192.0.2.22:51820"] } : m),
    (v) => [...v.members, c], // a change that does not name a
  ]);
  const dev = device();
  const peers = new MeshPeers({ device: dev, index: new MemberIndex(), logger: nullLogger });
  // The device refuses a's update once.
  const setPeer = dev.setPeer.bind(dev);
  let refuse = false;
  dev.setPeer = (p) => {
    if (refuse && p.publicKey === a.publicKey) {
      refuse = false;
      throw new Error("refused");
    }
    return setPeer(p);
  };
  try {
    peers.apply(views[0]);
    refuse = true;
    peers.apply(views[1], false, viewChange(views[0], views[1]));
    assert.equal(refuse, false, "the update was refused");
    assert.equal(dev.peer(a.publicKey)?.endpoint?.toString(), "192.0.2.2:51820");
    peers.apply(views[2], false, viewChange(views[1], views[2]));
    assert.equal(dev.peer(a.publicKey)?.endpoint?.toString(), "192.0.2.22:51820");
    assert.ok(dev.peer(c.publicKey));
  } finally {
    peers.close();
    await dev.close();
  }
});
