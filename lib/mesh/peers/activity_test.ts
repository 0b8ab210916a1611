import assert from "node:assert/strict";
import type { Device, DeviceEvent } from "../../device/device.ts";
import { createLogger } from "../../log/logger.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { isKept, PeerActivity } from "./activity.ts";
import { viewChange, viewSteps } from "../../members/testing/view_change.ts";

function member(name: string, i: number, extra: Partial<Member> = {}): Member {
  return {
    name,
    publicKey: `key-${name}`,
    address: `10.9.0.${i}`,
    endpoints: [`192.0.2.${i}:51820`],
    labels: {},
    role: "node",
    services: [],
    joinedAt: 0,
    ...extra,
  };
}

/** A device as the tracker reads it: counters, keepalives set, events to fire. */
function fakeDevice(keys: string[]) {
  const listeners = new Set<(e: DeviceEvent) => void>();
  const peers = new Map(
    keys.map((k) => [k, {
      counters: { rxData: 0, txData: 0 },
      current: null as object | null,
      next: null as object | null,
    }]),
  );
  const handshakes: string[] = [];
  const keepalive = new Map<string, number>();
  const reset: string[] = [];
  const device = {
    publicKey: "key-me",
    onEvent: (fn: (e: DeviceEvent) => void) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    peer: (k: string) => peers.get(k),
    setKeepalive: (k: string, s: number) => {
      keepalive.set(k, s);
      return true;
    },
    initiateHandshakeNow: (k: string) => handshakes.push(k),
    resetPeer: (k: string) => {
      reset.push(k);
      return peers.has(k);
    },
  } as unknown as Device;
  const fire = (e: DeviceEvent) => listeners.forEach((l) => l(e));
  return { device, peers, keepalive, fire, reset, handshakes };
}

function setup(keep: string[] = []) {
  const leader = member("leader", 1, { role: "leader" });
  const a = member("a", 2);
  const b = member("b", 3);
  const c = member("c", 4);
  const view: MembershipView = { network: "10.9.0.0/24", version: 1, members: [leader, a, b, c] };
  const d = fakeDevice(view.members.map((m) => m.publicKey));
  const watched = new Set<string>();
  const paths = new Set<string>();
  const probes = new Map<string, number>();
  const act = new PeerActivity(
    {
      device: d.device,
      logger: createLogger({ level: "error" }),
      keepalive: 25,
      watch: (k) => watched.add(k),
      unwatch: (k) => watched.delete(k),
      activatePaths: (k) => paths.add(k),
      deactivatePaths: (k) => paths.delete(k),
      probePackets: (address) => probes.get(address) ?? 0,
      retainProbes: (keep) => {
        for (const a of probes.keys()) if (!keep(a)) probes.delete(a);
      },
    },
    keep,
    { idleAfterMs: 0, checkMs: 3_600_000 },
  );
  return { act, view, d, watched, paths, probes, leader, a, b, c };
}

Deno.test("activity: kept members are active from the start, the others are idle", () => {
  const t = setup(["b"]);
  t.act.start(t.view);
  try {
    assert.deepEqual([...t.watched].sort(), ["key-b", "key-leader"]);
    assert.deepEqual([...t.paths].sort(), ["key-b", "key-leader"]);
    assert.equal(t.d.keepalive.get("key-leader"), 25);
    assert.equal(t.d.keepalive.get("key-a"), undefined, "an idle peer gets no keepalive");
    assert.equal(t.act.active("key-a"), false);
  } finally {
    t.act.close();
  }
});

Deno.test("activity: a handshake makes a peer active; without traffic it goes idle, probes do not count", () => {
  const t = setup();
  t.act.start(t.view);
  try {
    t.d.fire({ type: "handshake-initiated", peer: "key-a" });
    assert.equal(t.act.active("key-a"), true);
    assert.equal(t.watched.has("key-a") && t.paths.has("key-a"), true);
    assert.equal(t.d.keepalive.get("key-a"), 25);
    // Traffic since the last check: stays.
    t.d.peers.get("key-a")!.counters.txData += 3;
    t.act.check();
    assert.equal(t.act.active("key-a"), true);
    // Only probe packets (ours and their answers): idle (idleAfterMs is 0 here).
    t.d.peers.get("key-a")!.counters.txData += 2;
    t.d.peers.get("key-a")!.counters.rxData += 2;
    t.probes.set(t.a.address, 4);
    t.act.check();
    assert.equal(t.act.active("key-a"), false);
    assert.equal(t.watched.has("key-a") || t.paths.has("key-a"), false);
    assert.equal(t.d.keepalive.get("key-a"), 0, "the keepalive stops: the session runs out");
    // The leader is kept whatever its traffic.
    t.act.check();
    assert.equal(t.act.active("key-leader"), true);
  } finally {
    t.act.close();
  }
});

Deno.test("activity: a woken peer is active; a departed one is forgotten; strangers are ignored", () => {
  const t = setup();
  t.act.start(t.view);
  try {
    t.act.wake("key-c");
    assert.equal(t.act.active("key-c"), true);
    t.d.fire({ type: "handshake-complete", peer: "key-stranger", role: "responder" });
    assert.equal(t.act.active("key-stranger"), false);
    t.act.viewChanged({ ...t.view, members: t.view.members.filter((m) => m.name !== "c") });
    assert.equal(t.act.active("key-c"), false);
    assert.equal(t.watched.has("key-c"), false);
  } finally {
    t.act.close();
  }
});

Deno.test("activity: kept by role, relay, name or address", () => {
  const keep = new Set(["web", "10.9.0.7", "fd00::7"]);
  assert.equal(isKept(member("x", 5, { role: "leader" }), keep), true);
  assert.equal(isKept(member("x", 5, { relay: true }), keep), true);
  assert.equal(isKept(member("web", 5), keep), true);
  assert.equal(isKept(member("x", 7), keep), true);
  assert.equal(isKept(member("x", 8, { address6: "fd00::7" }), keep), true);
  assert.equal(isKept(member("x", 9), keep), false);
});

Deno.test("activity: a member that stops (its bye, or offline in the view) has its sessions wiped and goes idle", () => {
  const t = setup(["b"]);
  t.act.start(t.view);
  try {
    t.d.fire({ type: "handshake-complete", peer: "key-a", role: "initiator" });
    assert.equal(t.act.active("key-a"), true);
    // A bye that names a's key from another member's address is not a's.
    t.act.bye("key-a", t.c.address);
    assert.deepEqual(t.d.reset, []);
    assert.equal(t.act.active("key-a"), true);
    t.act.bye("key-a", t.a.address);
    assert.deepEqual(t.d.reset, ["key-a"]);
    assert.equal(t.act.active("key-a"), false, "idle: no keepalive, no probes");
    assert.equal(t.watched.has("key-a"), false);
    assert.equal(t.d.keepalive.get("key-a"), 0);
    // The leader marks b (kept) offline: its sessions go, it stays kept and active.
    t.act.viewChanged({
      ...t.view,
      version: 2,
      members: [t.leader, t.a, { ...t.b, offline: true }, t.c],
    });
    assert.deepEqual(t.d.reset, ["key-a", "key-b"]);
    assert.equal(t.act.active("key-b"), true);
    // Still offline in the next view: nothing more to wipe.
    t.act.viewChanged({
      ...t.view,
      version: 3,
      members: [t.leader, t.a, { ...t.b, offline: true }, t.c],
    });
    assert.deepEqual(t.d.reset, ["key-a", "key-b"]);
    // b is back, and we hold a session with it (maybe made with its last run after its bye):
    // a fresh handshake replaces it. c, never offline, and a, offline without a session: none.
    t.d.peers.get("key-b")!.current = {};
    t.act.viewChanged({
      ...t.view,
      version: 4,
      members: [t.leader, { ...t.a, offline: true }, t.b, t.c],
    });
    t.act.viewChanged({ ...t.view, version: 5 });
    assert.deepEqual(t.d.handshakes, ["key-b"]);
    assert.deepEqual(t.d.reset, ["key-a", "key-b", "key-a"]);
  } finally {
    t.act.close();
  }
});

Deno.test("activity: a member whose run id changes restarted: a session held with it is replaced", () => {
  const t = setup();
  const run = (m: Member, r: string | undefined) => ({ ...m, ...(r ? { run: r } : {}) });
  t.act.start({ ...t.view, members: [t.leader, run(t.a, "1111111111111111"), t.b, t.c] });
  try {
    t.d.peers.get("key-a")!.current = {};
    t.d.peers.get("key-b")!.current = {};
    // The same run, and b's first run id (it had none): nothing to replace.
    t.act.viewChanged({
      ...t.view,
      version: 2,
      members: [t.leader, run(t.a, "1111111111111111"), run(t.b, "2222222222222222"), t.c],
    });
    assert.deepEqual(t.d.handshakes, []);
    // a restarted and this node missed its bye and its offline record: a's run says so.
    t.act.viewChanged({
      ...t.view,
      version: 3,
      members: [t.leader, run(t.a, "3333333333333333"), run(t.b, "2222222222222222"), t.c],
    });
    assert.deepEqual(t.d.handshakes, ["key-a"]);
    assert.deepEqual(t.d.reset, []);
  } finally {
    t.act.close();
  }
});

Deno.test("activity: a leader keeps the sessions of a member that says bye (it answers on them)", () => {
  const d = fakeDevice(["key-a"]);
  const a = member("a", 2);
  const act = new PeerActivity({
    device: d.device,
    logger: createLogger({ level: "error" }),
    keepalive: 25,
    watch: () => {},
    unwatch: () => {},
    wipeStopped: false,
  });
  act.start({ network: "10.9.0.0/24", version: 1, members: [a] });
  try {
    d.fire({ type: "handshake-complete", peer: "key-a", role: "responder" });
    act.bye("key-a", a.address);
    assert.deepEqual(d.reset, []);
    assert.equal(act.active("key-a"), false);
  } finally {
    act.close();
  }
});

Deno.test("activity: a kept member the device has no peer for yet is activated by a later view", () => {
  const t = setup(["b"]);
  // A node restarting reads its view from its file before the device has the peers.
  const saved = t.d.peers.get("key-b")!;
  t.d.peers.delete("key-b");
  t.act.start(t.view);
  try {
    assert.equal(t.act.active("key-b"), false);
    t.d.peers.set("key-b", saved);
    t.act.viewChanged(t.view);
    assert.equal(t.act.active("key-b"), true);
    assert.equal(t.d.keepalive.get("key-b"), 25);
  } finally {
    t.act.close();
  }
});

Deno.test("activity: the paths of a member activated while offline start when it is back online", () => {
  // The paths as lib/mesh/nat/mesh_paths.ts holds them: they follow the members online
  // (compose.ts gives them each view before the activity) and ignore an activation for a
  // member that is not, and drop one that goes offline.
  const d = fakeDevice(["key-a", "key-b"]);
  const a = member("a", 2);
  const b = member("b", 3, { relay: true }); // kept
  let online = new Set<string>();
  const paths = new Set<string>();
  const pathsView = (v: MembershipView) => {
    online = new Set(v.members.filter((m) => !m.offline).map((m) => m.publicKey));
    for (const k of paths) if (!online.has(k)) paths.delete(k);
  };
  const act = new PeerActivity({
    device: d.device,
    logger: createLogger({ level: "error" }),
    keepalive: 25,
    watch: () => {},
    unwatch: () => {},
    activatePaths: (k) => {
      if (online.has(k)) paths.add(k);
    },
    deactivatePaths: (k) => paths.delete(k),
    wipeStopped: false, // a leader's
  });
  const view = (version: number, members: Member[]) => {
    const v = { network: "10.9.0.0/24", version, members };
    pathsView(v);
    act.viewChanged(v);
  };
  pathsView({ network: "10.9.0.0/24", version: 1, members: [a, b] });
  act.start({ network: "10.9.0.0/24", version: 1, members: [a, b] });
  try {
    d.fire({ type: "handshake-complete", peer: "key-a", role: "responder" });
    assert.deepEqual([...paths].sort(), ["key-a", "key-b"]);
    // a says bye (offline), b (kept) is marked offline: both lose their paths.
    act.bye("key-a", a.address);
    view(2, [{ ...a, offline: true }, { ...b, offline: true }]);
    assert.deepEqual([...paths], []);
    assert.equal(act.active("key-b"), true, "kept: still active");
    // a restarts: its handshake comes before its hello, while it is still offline.
    d.fire({ type: "handshake-complete", peer: "key-a", role: "responder" });
    assert.equal(act.active("key-a"), true);
    assert.deepEqual([...paths], []);
    // Its hello: both are online again, and their paths are probed again.
    view(3, [{ ...a, run: "1111111111111111" }, b]);
    assert.deepEqual([...paths].sort(), ["key-a", "key-b"]);
  } finally {
    act.close();
  }
});

Deno.test("activity: a tracker given each view's change ends where one given the whole views does", () => {
  const whole = setup(["b"]);
  const changes = setup(["b"]);
  const d = member("d", 5);
  const e = member("e", 6, { relay: true });
  const views = viewSteps(whole.view, [
    (v) => [...v.members, d], // a join
    (v) => v.members.map((m) => m.name === "a" ? { ...m, offline: true } : m), // a stops
    (v) => [...v.members, e], // a relay joins: kept
    (v) => v.members.map((m) => m.name === "a" ? member("a", 2) : m), // a is back
    (v) => v.members.map((m) => m.name === "c" ? { ...m, run: "r2" } : m), // c restarts
    (v) => v.members.map((m) => m.name === "c" ? { ...m, run: "r3" } : m), // and again
    (v) => v.members.filter((m) => m.name !== "b"), // a kept member removed
    (v) => v.members.map((m) => m.name === "e" ? member("e", 6) : m), // no longer kept
  ]);
  for (const t of [whole, changes]) {
    t.d.peers.set(d.publicKey, { counters: { rxData: 0, txData: 0 }, current: null, next: null });
    t.d.peers.set(e.publicKey, { counters: { rxData: 0, txData: 0 }, current: null, next: null });
    t.act.start(views[0]);
    // c's session is up: its restarts wipe it.
    t.d.fire({ type: "handshake-complete", peer: "key-c", role: "responder" });
    t.d.fire({ type: "handshake-complete", peer: "key-a", role: "responder" });
  }
  const state = (t: ReturnType<typeof setup>) => ({
    active: t.act.activeKeys().sort(),
    kept: ["key-a", "key-b", "key-c", "key-d", "key-e"].filter((k) => t.act.kept(k)),
    watched: [...t.watched].sort(),
    paths: [...t.paths].sort(),
    keepalive: [...t.d.keepalive].sort(),
    reset: t.d.reset,
    handshakes: t.d.handshakes,
  });
  try {
    for (let i = 1; i < views.length; i++) {
      whole.act.viewChanged(views[i]);
      changes.act.viewChanged(views[i], viewChange(views[i - 1], views[i]));
      assert.deepEqual(state(changes), state(whole), `after step ${i}`);
    }
    assert.ok(whole.d.reset.length > 0, "the steps did wipe sessions");
  } finally {
    whole.act.close();
    changes.act.close();
  }
});

Deno.test("activity: the probe counts of an address a member moved from are forgotten with a change", () => {
  const { act, view, probes, a, b } = setup();
  try {
    act.start(view);
    probes.set(a.address, 5);
    probes.set(b.address, 7);
    const views = viewSteps(view, [
      (v) => v.members.map((m) => m.name === "b" ? { ...m, name: "bee" } : m), // not moved
      (v) => v.members.map((m) => m.name === "a" ? { ...m, address: "10.9.0.9" } : m), // moved
    ]);
    act.viewChanged(views[1], viewChange(views[0], views[1]));
    assert.deepEqual([...probes.keys()].sort(), [a.address, b.address]);
    act.viewChanged(views[2], viewChange(views[1], views[2]));
    assert.deepEqual([...probes.keys()], [b.address], "a's old address holds no count");
  } finally {
    act.close();
  }
});
