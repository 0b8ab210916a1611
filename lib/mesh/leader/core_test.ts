/**
 * LeaderCore: opening a mesh, address allocation, tokens, join refusals, membership versions and
 * deltas, removal, member updates and policy. Retransmissions, failed or batched writes and the
 * release of unheard allocations are tested in core_writes_test.ts.
 */
import assert from "node:assert/strict";
import type { JoinRequest } from "../join/request.ts";
import { LeaderCore, LeaderError, TOKEN_TTL_RANGE_MS } from "./core.ts";
import {
  accepted,
  type CoreOptions,
  HOLDER,
  joinRequest as request,
  LEADER_KEY,
  observable,
  openCore,
  refused,
} from "./testing/cores.ts";
import { decodeLanKey } from "../state/lan_key.ts";
import { encodeBase64 } from "../../crypto/base64.ts";
import { StateDir } from "../state/state.ts";
import { FileStore } from "../store/file_store.ts";
import { hashSecret } from "../join/token.ts";
import { MAX_LAN, type MembershipView } from "../../members/member.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import { dnsLabelProblem } from "../../net/names.ts";

const MINUTE = 60_000;

const open = (opts: CoreOptions = {}, state: StateDir | null = null): Promise<LeaderCore> =>
  openCore(state && new FileStore(state), opts);

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-leader-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const unlimited = (core: LeaderCore, labels: Record<string, string> = {}) =>
  core.createToken({ ttlMs: 60 * MINUTE, uses: null, labels });

Deno.test("leader: host names are one lowercase DNS label (net/names.ts's rule)", () => {
  for (const ok of ["a", "n1", "web-01", "x".repeat(63), "0abc"]) {
    assert.equal(dnsLabelProblem(ok), undefined, ok);
  }
  for (const bad of ["", "-a", "a-", "A", "web_01", "a.b", "x".repeat(64), "a b", "é"]) {
    assert.notEqual(dnsLabelProblem(bad), undefined, bad);
  }
});

Deno.test("leader: a new mesh has the leader as its only member, at the first host address", async () => {
  const core = await open({
    network: "10.77.0.9/24",
    labels: { role: "gw", "node.weft/os": "linux" },
  });
  assert.equal(core.network, "10.77.0.0/24", "canonical network");
  assert.equal(core.network6, undefined);
  const view = core.view();
  assert.equal(view.version, 1);
  assert.equal(view.members.length, 1);
  const leader = core.leader;
  assert.equal(leader.address, "10.77.0.1");
  assert.equal(leader.role, "leader");
  assert.equal(leader.publicKey, LEADER_KEY);
  assert.equal(leader.name, "leader");
  assert.deepEqual(leader.endpoints, ["192.0.2.1:51820"]);
  // Ordinary label keys are granted; node.weft/ ones are the leader's own assertions.
  assert.deepEqual(leader.labels, { role: "gw" });
  assert.deepEqual(leader.nodeLabels, { "node.weft/os": "linux" });
  assert.equal(core.member("leader"), leader);
  assert.equal(core.member("10.77.0.1"), leader);
  assert.equal(core.member("10.77.0.2"), undefined);
  assert.equal(core.policy(), null);
  assert.deepEqual(core.listTokens(), []);
});

Deno.test("leader: open refuses networks it cannot allocate from, bad names and hold times", async () => {
  const base = { hostname: "leader", publicKey: LEADER_KEY, endpoints: [] };
  await assert.rejects(
    LeaderCore.open(null, { ...base, network: "fd00::/64" }),
    LeaderError,
    "IPv4 CIDR",
  );
  await assert.rejects(LeaderCore.open(null, { ...base, network: "10.0.0.0/31" }), /too small/);
  await assert.rejects(LeaderCore.open(null, { ...base, network: "10.0.0.0/32" }), /too small/);
  await assert.rejects(
    LeaderCore.open(null, { ...base, network: "10.0.0.0/24", hostname: "Not_A_Label" }),
    /not a valid DNS label/,
  );
  for (const joinHoldMs of [0, -1, NaN]) {
    await assert.rejects(
      LeaderCore.open(null, { ...base, network: "10.0.0.0/24", joinHoldMs }),
      /hold time must be positive/,
    );
  }
  await assert.rejects(
    LeaderCore.open(null, { ...base, network: "10.0.0.0/24", network6: "10.1.0.0/16" }),
    /not an IPv6 network/,
  );
  // The smallest usable network: the leader and one node.
  const tiny = await open({ network: "10.0.0.0/30" });
  assert.equal(tiny.leader.address, "10.0.0.1");
});

Deno.test("leader: with an IPv6 network every member's address6 has its IPv4 host index", async () => {
  const core = await open({ network6: "fd00:77::/64" });
  assert.equal(core.network6, "fd00:77::/64");
  assert.equal(core.leader.address6, "fd00:77::1");
  assert.equal(core.view().network6, "fd00:77::/64");
  const token = await unlimited(core);
  const a = accepted(await core.join(request(token, "a"), null));
  assert.equal(a.member.address, "10.77.0.2");
  assert.equal(a.member.address6, "fd00:77::2");
  assert.equal(a.network6, "fd00:77::/64");
});

Deno.test("leader: reopened state keeps its network and leader key; an IPv6 network can be added", async () => {
  await withDir(async (dir) => {
    const core = await open({}, new StateDir(dir));
    const token = await unlimited(core);
    const a = accepted(await core.join(request(token, "a"), null));
    await assert.rejects(open({ network: "10.78.0.0/24" }, new StateDir(dir)), /is for network/);
    // A network that was only a default (no --cidr given) gives way to the stored one.
    const kept = await open(
      { network: "10.78.0.0/24", keepStoredNetwork: true },
      new StateDir(dir),
    );
    assert.equal(kept.network, "10.77.0.0/24");
    kept.close();
    await assert.rejects(
      LeaderCore.open(new FileStore(new StateDir(dir)), {
        network: "10.77.0.0/24",
        hostname: "leader",
        publicKey: generateKeyPair().publicKey,
        endpoints: [],
      }),
      /leader's key does not match/,
    );
    // The same network written differently is the same network.
    const same = await open({ network: "10.77.0.1/24" }, new StateDir(dir));
    assert.deepEqual(same.view(), core.view());
    // Adding an IPv6 network gives every member its address at once, as one new version.
    const v6 = await open({ network6: "fd00:1::/64" }, new StateDir(dir));
    assert.equal(v6.view().version, core.view().version + 1);
    assert.deepEqual(v6.view().members.map((m) => m.address6), ["fd00:1::1", "fd00:1::2"]);
    assert.equal(v6.member("a")!.publicKey, a.member.publicKey);
    // And once set, another IPv6 network is refused.
    await assert.rejects(open({ network6: "fd00:2::/64" }, new StateDir(dir)), /IPv6 network/);
  });
});

Deno.test("leader: the LAN key is made once and kept; state from before it gets one", async () => {
  await withDir(async (dir) => {
    const core = await open({}, new StateDir(dir));
    const key = core.lanKey;
    assert.equal(key.length, 32);
    const stored = (await new StateDir(dir).readLeader())!;
    assert.deepEqual(decodeLanKey(stored.lanKey), key);
    // Reopened: the same key, no new write.
    assert.deepEqual((await open({}, new StateDir(dir))).lanKey, key);
    // A file from before LAN discovery: a key is made and saved, and the view is unchanged.
    const { lanKey: _, ...old } = stored;
    await new StateDir(dir).writeLeader(old);
    const upgraded = await open({}, new StateDir(dir));
    assert.equal(upgraded.lanKey.length, 32);
    assert.notDeepEqual(upgraded.lanKey, key);
    assert.deepEqual(decodeLanKey((await new StateDir(dir).readLeader())!.lanKey), upgraded.lanKey);
    assert.equal(upgraded.view().version, stored.version);
    // The key is in no view: only leader.json holds it.
    assert.ok(!JSON.stringify(upgraded.view()).includes(encodeBase64(upgraded.lanKey)));
  });
});

Deno.test("leader: a joiner's hostname must be a DNS label; one another member holds gets a suffix", async () => {
  const core = await open();
  const token = await unlimited(core);
  refused(await core.join(request(token, "Bad_Name"), null), /"Bad_Name" is not a valid DNS/);
  refused(await core.join(request(token, "a.b"), null), /not a valid DNS label/);
  assert.equal(core.view().members.length, 1, "nothing allocated by refusals");
  // The leader's name (here also the zone's `leader`), then another member's.
  assert.equal(accepted(await core.join(request(token, "leader"), null)).member.name, "leader-2");
  const key = generateKeyPair().publicKey;
  accepted(await core.join(request(token, "web", { publicKey: key }), null));
  await core.heardFrom(key);
  assert.equal(accepted(await core.join(request(token, "web"), null)).member.name, "web-2");
  assert.equal(new Set(core.view().members.map((m) => m.name)).size, 4, "no name twice");
});

Deno.test("leader: a node joining again gets the name it had when free, else the hostname it gives", async () => {
  const core = await open();
  const token = await unlimited(core);
  const key = generateKeyPair().publicKey;
  accepted(await core.join(request(token, "web", { publicKey: key }), null));
  await core.removeNode("web");
  const again = await unlimited(core);
  const back = accepted(
    await core.join(
      request(again, "machine", { publicKey: key, previousName: "web", time: 2_000 }),
      null,
    ),
  );
  assert.equal(back.member.name, "web");
  // Held by another member: the hostname given, as without a previous name.
  const other = accepted(
    await core.join(request(token, "box", { previousName: "web" }), null),
  );
  assert.equal(other.member.name, "box");
  // A malformed previous name is ignored, not refused.
  assert.equal(
    accepted(await core.join(request(token, "box2", { previousName: "Bad_Name" }), null)).member
      .name,
    "box2",
  );
});

Deno.test("leader: the leader's own key cannot join as a node", async () => {
  const core = await open();
  const token = await unlimited(core);
  const r = await core.join(request(token, "again", { publicKey: LEADER_KEY }), null);
  refused(r, /^that key is a leader's$/);
  await core.revokeToken(token.id);
  refused(
    await core.join(request(token, "again", { publicKey: LEADER_KEY }), null),
    /^token revoked$/,
  );
  assert.equal(core.view().members.length, 1);
});

Deno.test("leader: an accepted join records the member as asked and as the token grants", async () => {
  const core = await open({ network6: "fd00::/64" });
  const token = await unlimited(core, { env: "prod" });
  const services = [{ name: "web", port: 80, protocol: "tcp" as const }];
  const r = accepted(
    await core.join(
      request(token, "n1", {
        endpoints: ["198.51.100.1:51820", "203.0.113.5:51820", "198.51.100.1:51820"],
        services,
        labels: { env: "dev", "node.weft/zone": "a" },
      }),
      "203.0.113.5:51820",
      5_000_000,
    ),
  );
  const m = r.member;
  assert.equal(m.role, "node");
  assert.equal(m.name, "n1");
  assert.deepEqual(m.endpoints, ["203.0.113.5:51820", "198.51.100.1:51820"], "observed first");
  assert.equal(m.observed, "203.0.113.5:51820", "what the leader saw, apart from the claims");
  assert.deepEqual(m.labels, { env: "prod" }, "granted labels come from the token");
  assert.deepEqual(m.nodeLabels, { "node.weft/zone": "a" });
  assert.deepEqual(m.services, services);
  assert.equal(m.joinedAt, 5_000_000);
  assert.equal(r.leader.publicKey, LEADER_KEY);
  assert.equal(r.network, "10.77.0.0/24");
  assert.equal(r.version, core.view().version);
  // The answer is a copy: changing it changes nothing in the core.
  m.name = "mallory";
  r.leader.address = "10.77.0.99";
  assert.ok(core.member("n1"));
  assert.equal(core.leader.address, "10.77.0.1");
});

Deno.test("tokens: create gives id, secret and expiry; list and keys never show the secret", async () => {
  const core = await open();
  let notified = 0;
  const off = core.onTokens(() => notified++);
  const before = Date.now();
  const t = await core.createToken({ ttlMs: 10 * MINUTE, uses: 3, labels: { role: "db" } });
  const after = Date.now();
  assert.match(t.id, /^[0-9a-f]{12}$/);
  assert.ok(t.expiresAt >= before + 10 * MINUTE && t.expiresAt <= after + 10 * MINUTE);
  assert.equal(notified, 1);
  const listed = core.listTokens();
  assert.equal(listed.length, 1);
  const l = listed[0];
  assert.deepEqual(
    {
      id: l.id,
      expiresAt: l.expiresAt,
      usesLeft: l.usesLeft,
      labels: l.labels,
      revoked: l.revoked,
    },
    { id: t.id, expiresAt: t.expiresAt, usesLeft: 3, labels: { role: "db" }, revoked: false },
  );
  assert.equal(l.expiresAt - l.createdAt, 10 * MINUTE);
  assert.ok(!("secretHash" in l));
  assert.ok(!JSON.stringify(listed).includes(t.secret));
  assert.deepEqual(core.tokenKeys(), [{ id: t.id, secretHash: hashSecret(t.secret) }]);
  // Each token has its own id and secret.
  const t2 = await core.createToken({ ttlMs: TOKEN_TTL_RANGE_MS.min, uses: null, labels: {} });
  assert.notEqual(t2.id, t.id);
  assert.notEqual(t2.secret, t.secret);
  assert.equal(notified, 2);
  off();
  await core.createToken({ ttlMs: TOKEN_TTL_RANGE_MS.max, uses: null, labels: {} });
  assert.equal(notified, 2, "unsubscribed");
  assert.equal(core.listTokens().length, 3);
  assert.equal(core.view().version, 1, "tokens are not membership");
});

Deno.test("leader: refusals change nothing: no member, no version, no token use", async () => {
  const core = await open({ network: "10.5.0.0/30" });
  const t = await core.createToken({ ttlMs: 60 * MINUTE, uses: 5, labels: {} });
  const key = generateKeyPair().publicKey;
  accepted(await core.join(request(t, "member", { publicKey: key, time: 5_000 }), null));
  const revoked = await core.createToken({ ttlMs: 60 * MINUTE, uses: 5, labels: {} });
  await core.revokeToken(revoked.id);
  const before = observable(core);
  const cases: [JoinRequest, RegExp][] = [
    [request(t, "x"), /exhausted/],
    // Its name is taken: it would get a suffix, but no address is left.
    [request(t, "member"), /exhausted/],
    [request(t, "Bad"), /DNS label/],
    [request(revoked, "x"), /revoked/],
    [request({ id: t.id, secret: revoked.secret }, "x"), /unknown token/],
    // The member's key with an older request than the one accepted: a replay.
    [request(t, "member", { publicKey: key, time: 4_999 }), /stale join request/],
    // The member's key with a token other than the one that admitted it, and unusable.
    [request(revoked, "member", { publicKey: key, time: 6_000 }), /revoked/],
    [request(t, "leader", { publicKey: LEADER_KEY }), /leader's/],
  ];
  // Each from the holder of the key it names (./freshness.ts: others are refused before).
  for (const [req, error] of cases) {
    refused(await core.join(req, "192.0.2.50:1", undefined, HOLDER), error);
  }
  assert.equal(observable(core), before);
});

Deno.test("membership: the version moves by one per member change, and only then", async () => {
  const core = await open();
  const views: MembershipView[] = [];
  const off = core.onChange((v) => views.push(v));
  const v = () => core.view().version;
  assert.equal(v(), 1);
  const t = await unlimited(core);
  assert.equal(v(), 1, "a token is not a member change");
  const key = generateKeyPair().publicKey;
  const joined = accepted(await core.join(request(t, "a", { publicKey: key }), null));
  assert.equal(v(), 2);
  assert.equal(joined.version, 2);
  refused(await core.join(request(t, "Not_a_label"), null), /DNS label/);
  assert.equal(v(), 2, "a refusal");
  accepted(await core.join(request(t, "a", { publicKey: key }), null, undefined, HOLDER));
  assert.equal(v(), 2, "a retransmission");
  await core.heardFrom(key);
  assert.equal(v(), 2, "a hello");
  assert.equal(await core.updateMember(key, { endpoints: [] }), false);
  assert.equal(v(), 2, "an update that changes nothing");
  assert.equal(await core.updateMember(key, { endpoints: ["192.0.2.9:1"] }), true);
  assert.equal(v(), 3);
  // A policy scopes the views (fanout.ts): it moves the view's version too, once.
  await core.setPolicy("rules: []");
  assert.equal(v(), 4, "a policy moves the view's version");
  await core.setPolicy("rules: []");
  assert.equal(v(), 4, "the same policy again");
  await core.removeNode("a");
  assert.equal(v(), 5);
  assert.deepEqual(views.map((x) => x.version), [2, 3, 4, 5], "one notification per change");
  assert.equal(views[3].members.length, 1);
  off();
  accepted(await core.join(request(t, "b"), null));
  assert.equal(views.length, 4, "unsubscribed");
});

Deno.test("membership: changesSince gives the members to upsert and keys to remove", async () => {
  const core = await open();
  const t = await unlimited(core);
  const aKey = generateKeyPair().publicKey;
  const bKey = generateKeyPair().publicKey;
  accepted(await core.join(request(t, "a", { publicKey: aKey }), null)); // v2
  accepted(await core.join(request(t, "b", { publicKey: bKey }), null)); // v3
  await core.updateMember(aKey, { endpoints: ["192.0.2.3:3"] }); // v4
  await core.removeNode("b"); // v5
  assert.equal(core.view().version, 5);
  const names = (c: ReturnType<LeaderCore["changesSince"]>) =>
    c && { upsert: c.upsert.map((m) => m.name).sort(), remove: c.remove };
  assert.deepEqual(core.changesSince(5), { upsert: [], remove: [] });
  assert.deepEqual(core.changesSince(9), { upsert: [], remove: [] }, "ahead: nothing to send");
  assert.deepEqual(names(core.changesSince(4)), { upsert: [], remove: [bKey] });
  assert.deepEqual(names(core.changesSince(3)), { upsert: ["a"], remove: [bKey] });
  assert.deepEqual(names(core.changesSince(2)), { upsert: ["a"], remove: [bKey] });
  assert.deepEqual(names(core.changesSince(1)), { upsert: ["a"], remove: [bKey] });
  // Version 0 is older than anything the log holds (the leader's creation): the whole view.
  assert.equal(core.changesSince(0), null);
  // Upserted records are the current ones, as copies.
  const c = core.changesSince(3)!;
  assert.deepEqual(c.upsert[0].endpoints, ["192.0.2.3:3"]);
  c.upsert[0].name = "changed";
  assert.equal(core.member("a")!.name, "a");
});

Deno.test("membership: a restarted leader has no log: older versions get the whole view", async () => {
  await withDir(async (dir) => {
    const core = await open({}, new StateDir(dir));
    const t = await unlimited(core);
    accepted(await core.join(request(t, "a"), null));
    accepted(await core.join(request(t, "b"), null));
    const version = core.view().version;
    const restarted = await open({}, new StateDir(dir));
    assert.equal(restarted.view().version, version);
    assert.deepEqual(restarted.changesSince(version), { upsert: [], remove: [] });
    assert.equal(restarted.changesSince(version - 1), null);
    accepted(await restarted.join(request(t, "c"), null));
    assert.deepEqual(restarted.changesSince(version)!.upsert.map((m) => m.name), ["c"]);
    assert.equal(restarted.changesSince(version - 1), null);
  });
});

Deno.test("removeNode: by name or address, never the leader; the node's key is remembered", async () => {
  const core = await open();
  const t = await unlimited(core);
  const key = generateKeyPair().publicKey;
  const req = request(t, "n1", { publicKey: key, time: 10_000 });
  const joined = accepted(await core.join(req, null));
  await assert.rejects(core.removeNode("nobody"), LeaderError, 'no node "nobody"');
  await assert.rejects(core.removeNode("leader"), LeaderError, "cannot remove itself");
  await assert.rejects(core.removeNode("10.77.0.1"), LeaderError, "cannot remove itself");
  const removed = await core.removeNode(joined.member.address);
  assert.equal(removed.publicKey, key);
  assert.equal(core.member("n1"), undefined);
  assert.deepEqual(core.view().members.map((m) => m.name), ["leader"]);
  await assert.rejects(core.removeNode("n1"), LeaderError, "removed twice");
  // The removed key: its old request is stale, a later one with its token is refused.
  refused(await core.join(req, null), /stale/);
  refused(await core.join({ ...req, time: 10_001 }, null), /removed/);
  // The name is free for another key, and so is the address.
  const other = accepted(await core.join(request(t, "n1"), null));
  assert.equal(other.member.address, joined.member.address);
});

Deno.test("updateMember: endpoints, services and node labels from a node; labels from the operator", async () => {
  const core = await open();
  const t = await unlimited(core, { role: "web" });
  const key = generateKeyPair().publicKey;
  accepted(await core.join(request(t, "n1", { publicKey: key }), null));
  assert.equal(await core.updateMember(generateKeyPair().publicKey, { endpoints: ["a:1"] }), false);
  // Endpoints: duplicates dropped, at most 8 kept, in order.
  const eps = Array.from({ length: 12 }, (_, i) => `192.0.2.${i % 10}:1`);
  assert.equal(await core.updateMember(key, { endpoints: eps }), true);
  assert.deepEqual(
    core.member("n1")!.endpoints,
    Array.from({ length: 8 }, (_, i) => `192.0.2.${i}:1`),
  );
  // Node labels outside node.weft/ are dropped; granted labels stay as they were.
  assert.equal(
    await core.updateMember(key, { nodeLabels: { role: "db", "node.weft/zone": "b" } }),
    true,
  );
  assert.deepEqual(core.member("n1")!.labels, { role: "web" });
  assert.deepEqual(core.member("n1")!.nodeLabels, { "node.weft/zone": "b" });
  // Only dropped keys: no change at all.
  assert.equal(
    await core.updateMember(key, { nodeLabels: { role: "db", "node.weft/zone": "b" } }),
    false,
  );
  // An empty set clears them.
  assert.equal(await core.updateMember(key, { nodeLabels: {} }), true);
  assert.equal(core.member("n1")!.nodeLabels, undefined);
  // The operator's labels are checked as granted labels.
  await assert.rejects(core.updateMember(key, { labels: { "node.weft/x": "y" } }), LeaderError);
  assert.equal(await core.updateMember(key, { labels: { role: "db" } }), true);
  assert.deepEqual(core.member("n1")!.labels, { role: "db" });
  const services = [{ name: "db", port: 5432, protocol: "tcp" as const }];
  assert.equal(await core.updateMember(key, { services }), true);
  assert.deepEqual(core.member("n1")!.services, services);
  // LAN candidates: duplicates dropped, at most 8, a new version; the same again is no change;
  // an empty list removes the field.
  const lan = Array.from({ length: 10 }, (_, i) => `198.51.100.${i % 9}:51820`);
  const v = core.view().version;
  assert.equal(await core.updateMember(key, { lan }), true);
  assert.deepEqual(core.member("n1")!.lan, lan.slice(0, MAX_LAN));
  assert.equal(core.view().version, v + 1);
  assert.equal(await core.updateMember(key, { lan }), false);
  assert.equal(await core.updateMember(key, { endpoints: core.member("n1")!.endpoints }), false);
  assert.equal(await core.updateMember(key, { lan: [] }), true);
  assert.equal("lan" in core.member("n1")!, false);
});

Deno.test("policy: versions count changes; the same text is no change; listeners hear each", async () => {
  await withDir(async (dir) => {
    const core = await open({}, new StateDir(dir));
    assert.equal(core.policy(), null);
    const heard: { version: number; text: string }[] = [];
    const off = core.onPolicy((p) => heard.push(p));
    assert.equal(await core.setPolicy("rules: [a]"), 1);
    assert.deepEqual(core.policy(), { version: 1, text: "rules: [a]" });
    assert.equal(await core.setPolicy("rules: [a]"), 1);
    assert.equal(await core.setPolicy("rules: [b]"), 2);
    assert.deepEqual(heard, [{ version: 1, text: "rules: [a]" }, {
      version: 2,
      text: "rules: [b]",
    }]);
    off();
    assert.equal(await core.setPolicy("rules: [c]"), 3);
    assert.equal(heard.length, 2, "unsubscribed");
    // Going back to an earlier text is a new version, not the old one.
    assert.equal(await core.setPolicy("rules: [a]"), 4);
    // On disk.
    const restarted = await open({}, new StateDir(dir));
    assert.deepEqual(restarted.policy(), { version: 4, text: "rules: [a]" });
    assert.equal(await restarted.setPolicy("rules: [a]"), 4);
  });
});

Deno.test("leader: the service leases' record is written with the state and read back after a restart", async () => {
  await withDir(async (dir) => {
    const core = await open({}, new StateDir(dir));
    assert.equal(core.leases(), null);
    const holder = generateKeyPair().publicKey;
    await core.saveLeases({ last: 7, held: { svc: { token: 7, holder } } });
    const version = core.view().version;
    assert.equal((await new StateDir(dir).readLeader())!.leases!.last, 7, "on disk once resolved");
    const again = await open({}, new StateDir(dir));
    assert.deepEqual(again.leases(), { last: 7, held: { svc: { token: 7, holder } } });
    assert.equal(again.view().version, version, "not a membership change");
  });
});

const svc = (name: string, port = 80) => ({ name, port, protocol: "tcp" as const });

Deno.test("service grants: a name a token grants is offered only by the nodes granted it", async () => {
  const core = await open();
  // Without any grant every name is open, as before grants existed.
  const open1 = await unlimited(core);
  const early = accepted(
    await core.join(request(open1, "early", { services: [svc("auth")] }), null),
  );
  assert.deepEqual(early.member.services, [svc("auth")]);
  // A token that grants auth closes the name: the member offering it without a grant loses it
  // at once (a new view version), the open name "web" stays.
  await core.updateMember(early.member.publicKey, { services: [svc("auth"), svc("web")] });
  const v = core.view().version;
  const granted = await core.createToken({
    ttlMs: 60 * MINUTE,
    uses: null,
    labels: {},
    services: ["auth"],
  });
  assert.ok(core.view().version > v);
  assert.deepEqual(core.member("early")!.services, [svc("web")]);
  assert.deepEqual(core.listTokens().find((t) => t.id === granted.id)!.services, ["auth"]);
  // A node joining with the granting token offers it; one joining with another does not.
  const good = accepted(
    await core.join(request(granted, "good", { services: [svc("auth"), svc("web")] }), null),
  );
  assert.deepEqual(good.member.services, [svc("auth"), svc("web")]);
  assert.deepEqual(good.member.grants, { services: ["auth"] });
  const bad = accepted(
    await core.join(request(open1, "bad", { services: [svc("auth"), svc("web")] }), null),
  );
  assert.deepEqual(bad.member.services, [svc("web")]);
  assert.equal(bad.member.grants, undefined);
  // Hellos are held to the same: the ungranted offer stays out, and is named for the log.
  await core.updateMember(bad.member.publicKey, { services: [svc("auth", 81)] });
  assert.deepEqual(core.member("bad")!.services, []);
  assert.deepEqual(core.ungrantedServices(bad.member.publicKey, [svc("auth"), svc("x")]), ["auth"]);
  assert.deepEqual(core.ungrantedServices(good.member.publicKey, [svc("auth")]), []);
  await core.updateMember(good.member.publicKey, { services: [svc("auth", 81)] });
  assert.deepEqual(core.member("good")!.services, [svc("auth", 81)]);
  assert.ok(core.servicesRefused >= 3, String(core.servicesRefused));
  // The grant outlives its token: revoked, the name stays closed to others.
  await core.revokeToken(granted.id);
  await core.updateMember(bad.member.publicKey, { services: [svc("auth")] });
  assert.deepEqual(core.member("bad")!.services, []);
  // The leader's operator may offer anything.
  await core.updateMember(LEADER_KEY, { services: [svc("auth")] });
  assert.deepEqual(core.leader.services, [svc("auth")]);
});

Deno.test("service grants: token service names are checked; grants survive a restart", async () => {
  await withDir(async (dir) => {
    const core = await open({}, new StateDir(dir));
    const make = (services: string[]) =>
      core.createToken({ ttlMs: 60 * MINUTE, uses: null, labels: {}, services });
    await assert.rejects(make(["Not A Name"]), LeaderError);
    await assert.rejects(make(["a", "a"]), /given twice/);
    await assert.rejects(make(Array.from({ length: 65 }, (_, i) => `s${i}`)), /at most 64/);
    const t = await make(["auth"]);
    const m = accepted(await core.join(request(t, "n1", { services: [svc("auth")] }), null));
    const again = await open({}, new StateDir(dir));
    assert.deepEqual(again.member("n1")!.grants, { services: ["auth"] });
    assert.deepEqual(again.member("n1")!.services, [svc("auth")]);
    assert.equal(m.member.name, "n1");
  });
});

Deno.test("relay grants: a node relays only when the leader granted it and it is willing", async () => {
  const core = await open();
  const plain = await unlimited(core);
  const relaying = await core.createToken({
    ttlMs: 60 * MINUTE,
    uses: null,
    labels: {},
    relay: true,
  });
  // --relay alone no longer makes a relay.
  const a = accepted(await core.join(request(plain, "a", { relay: true }), null)).member;
  assert.equal(a.relay, undefined);
  await core.updateMember(a.publicKey, { relay: true });
  assert.equal(core.member("a")!.relay, undefined, "a hello cannot make it one");
  // A token's grant, with the node willing: a relay.
  const b = accepted(await core.join(request(relaying, "b", { relay: true }), null)).member;
  assert.equal(b.relay, true);
  assert.deepEqual(b.grants, { relay: true });
  const c = accepted(await core.join(request(relaying, "c"), null)).member;
  assert.equal(c.relay, undefined, "granted but not willing");
  // weft node set: granted later, it relays from its next hello; withdrawn, it stops at once.
  const set = await core.setGrants("a", { relay: true });
  assert.deepEqual(set.grants, { relay: true });
  await core.updateMember(a.publicKey, { relay: true });
  assert.equal(core.member("a")!.relay, true);
  await core.setGrants(a.address, { relay: false });
  assert.equal(core.member("a")!.relay, undefined);
  assert.equal(core.member("a")!.grants, undefined);
  await core.updateMember(a.publicKey, { relay: true });
  assert.equal(core.member("a")!.relay, undefined);
  await assert.rejects(core.setGrants("nobody", { relay: true }), /no node/);
  await assert.rejects(core.setGrants("leader", { relay: false }), /always relays/);
  assert.deepEqual(core.listTokens().find((t) => t.id === relaying.id)!.relay, true);
  // Labels: granted, changed and withdrawn by the leader only; the view moves with them.
  const v0 = core.view().version;
  const labelled = await core.setGrants("a", { labels: { site: "x", tier: "1" } });
  assert.deepEqual(labelled.labels, { site: "x", tier: "1" });
  assert.ok(core.view().version > v0);
  const changed = await core.setGrants("a", { labels: { site: "y" }, removeLabels: ["tier"] });
  assert.deepEqual(changed.labels, { site: "y" });
  await assert.rejects(
    core.setGrants("a", { labels: { "node.weft/os": "linux" } }),
    /reserved/,
  );
  await assert.rejects(core.setGrants("a", { removeLabels: ["bad key!"] }), /the key must/);
  await assert.rejects(core.setGrants("a", {}), /nothing to change/);
  await assert.rejects(core.setGrants("leader", { labels: { a: "b" } }), /its own/);
  const many = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, "v"]));
  await assert.rejects(core.setGrants("a", { labels: many }), /at most 64 labels/);
  assert.deepEqual(core.member("a")!.labels, { site: "y" }, "a refused change changes nothing");
});

Deno.test("membership: lookups by key, address and name follow joins, updates and removals", async () => {
  const core = await open();
  const t = await unlimited(core);
  const a = accepted(await core.join(request(t, "a"), null)).member;
  const b = accepted(await core.join(request(t, "b"), null)).member;
  assert.equal(core.size, 3);
  assert.equal(core.memberByKey(a.publicKey)?.name, "a");
  assert.equal(core.member("b")?.publicKey, b.publicKey);
  assert.equal(core.member(b.address)?.name, "b");
  await core.updateMember(a.publicKey, { endpoints: ["192.0.2.5:5"] });
  assert.deepEqual(core.memberByKey(a.publicKey)?.endpoints, ["192.0.2.5:5"]);
  assert.deepEqual(core.member("a")?.endpoints, ["192.0.2.5:5"]);
  await core.removeNode("a");
  assert.equal(core.memberByKey(a.publicKey), undefined);
  assert.equal(core.member("a"), undefined);
  assert.equal(core.member(a.address), undefined);
  assert.equal(core.member("b")?.name, "b", "a later member is still found after a removal");
  assert.equal(core.size, 2);
  assert.deepEqual(core.leaders().map((m) => m.name), ["leader"]);
  // The keys changed since a version: the log's, without a pass over the members.
  const v = core.view().version;
  assert.deepEqual(core.changedKeysSince(v), new Set());
  await core.updateMember(b.publicKey, { endpoints: ["192.0.2.6:6"] });
  assert.deepEqual(core.changedKeysSince(v), new Set([b.publicKey]));
  assert.deepEqual(core.changedKeysSince(v - 1), new Set([a.publicKey, b.publicKey]));
  assert.equal(core.changedKeysSince(0), null);
});

Deno.test("membership: views of one state are the same records; a change makes a new view", async () => {
  const core = await open();
  const t = await unlimited(core);
  const a = accepted(await core.join(request(t, "a"), null)).member;
  const v1 = core.view();
  const v2 = core.view();
  assert.equal(v1.members, v2.members, "made once per state");
  v1.version = 99;
  assert.notEqual(core.view().version, 99, "the view object handed out is the caller's");
  await core.updateMember(a.publicKey, { endpoints: ["192.0.2.5:5"] });
  const v3 = core.view();
  assert.notEqual(v3.members, v1.members);
  assert.deepEqual(v1.members.find((m) => m.name === "a")?.endpoints, [], "the old view is kept");
  assert.deepEqual(v3.members.find((m) => m.name === "a")?.endpoints, ["192.0.2.5:5"]);
});
