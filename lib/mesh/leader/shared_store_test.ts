/**
 * Two LeaderCores on one store (what several leaders on etcd are): interleaved joins never get
 * one address twice nor use a one-use token twice, the one that lost the race runs again on the
 * newer state, and each core sees the other's changes through the store's watch.
 */
import assert from "node:assert/strict";
import type { JoinRequest, JoinResult } from "../join/request.ts";
import { LeaderCore, LeaderError } from "./core.ts";
import { MemoryStore } from "../store/memory_store.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import type { MembershipView } from "../../members/member.ts";

const LEADER_KEY = generateKeyPair().publicKey;

function open(store: MemoryStore): Promise<LeaderCore> {
  return LeaderCore.open(store, {
    network: "10.77.0.0/24",
    hostname: "leader",
    publicKey: LEADER_KEY,
    endpoints: ["192.0.2.1:51820"],
    // Changes race at two leaders only when each runs at once.
    batchGapFactor: 0,
  });
}

/** Two cores sharing a fresh store, the second opened on what the first created. */
async function pair(): Promise<{ store: MemoryStore; a: LeaderCore; b: LeaderCore }> {
  const store = new MemoryStore();
  const a = await open(store);
  const b = await open(store);
  return { store, a, b };
}

function request(
  token: { id: string; secret: string },
  hostname: string,
  labels: Record<string, string> = {},
): JoinRequest {
  return {
    tokenId: token.id,
    secret: token.secret,
    publicKey: generateKeyPair().publicKey,
    hostname,
    labels,
    services: [],
    endpoints: [],
    time: Date.now(),
  };
}

/** Resolves once `core`'s view satisfies `ok` (at once if it does now). */
function until(core: LeaderCore, ok: (v: MembershipView) => boolean): Promise<MembershipView> {
  return new Promise((resolve) => {
    if (ok(core.view())) return resolve(core.view());
    const stop = core.onChange((v) => {
      if (!ok(v)) return;
      stop();
      resolve(v);
    });
  });
}

/** Resolves once `core` knows the token `id`. */
function knowsToken(core: LeaderCore, id: string): Promise<void> {
  return new Promise((resolve) => {
    if (core.listTokens().some((t) => t.id === id)) return resolve();
    const stop = core.onTokens(() => {
      if (!core.listTokens().some((t) => t.id === id)) return;
      stop();
      resolve();
    });
  });
}

function ok(r: JoinResult): Extract<JoinResult, { ok: true }> {
  assert.ok(r.ok, r.ok ? "" : r.error);
  return r;
}

Deno.test("shared store: a one-use token joined at two leaders at once admits one node", async () => {
  const { store, a, b } = await pair();
  const token = await a.createToken({ ttlMs: 60_000, uses: 1, labels: {} });
  await knowsToken(b, token.id);
  const before = store.conflicts;
  // Both edits start from the same snapshot: the second commit conflicts and runs again.
  const [x, y] = await Promise.all([
    a.join(request(token, "x"), null),
    b.join(request(token, "y"), null),
  ]);
  assert.ok(store.conflicts > before, "the two joins raced");
  assert.deepEqual([x.ok, y.ok].sort(), [false, true]);
  const refused = (x.ok ? y : x) as Extract<JoinResult, { ok: false }>;
  assert.match(refused.error, /used up/);
  // Both leaders end with the one member and the token at zero uses.
  for (const core of [a, b]) {
    const v = await until(core, (v) => v.members.length === 2);
    assert.deepEqual(v.members.map((m) => m.name).sort(), ["leader", x.ok ? "x" : "y"]);
    await until(core, () => core.listTokens()[0].usesLeft === 0);
  }
  a.close();
  b.close();
});

Deno.test("shared store: interleaved joins at two leaders get distinct addresses, none lost", async () => {
  const { store, a, b } = await pair();
  const token = await a.createToken({ ttlMs: 60_000, uses: 40, labels: {} });
  await knowsToken(b, token.id);
  const before = store.conflicts;
  const joins = Array.from(
    { length: 40 },
    (_, i) => (i % 2 ? b : a).join(request(token, `n${i}`), null),
  );
  const results = (await Promise.all(joins)).map(ok);
  assert.ok(store.conflicts > before, "the joins raced");
  const addresses = results.map((r) => r.member.address);
  assert.equal(new Set(addresses).size, 40, "every address distinct");
  assert.ok(!addresses.includes(a.leader.address));
  // Each leader's view holds every member, at one version; the token is used up at both.
  const va = await until(a, (v) => v.members.length === 41);
  const vb = await until(b, (v) => v.members.length === 41 && v.version === a.view().version);
  assert.deepEqual(vb, a.view());
  assert.equal(b.revision, a.revision, "both at the store's newest revision");
  assert.equal(va.members.length, 41);
  for (const core of [a, b]) {
    await until(core, () => core.listTokens()[0].usesLeft === 0);
  }
  const extra = await b.join(request(token, "late"), null);
  assert.equal(extra.ok, false);
  a.close();
  b.close();
});

Deno.test("shared store: a leader sees another's changes through the watch, as deltas", async () => {
  const { a, b } = await pair();
  const token = await a.createToken({ ttlMs: 60_000, uses: null, labels: {} });
  await knowsToken(b, token.id);
  const start = b.view().version;
  const joined = ok(await a.join(request(token, "seen"), null));
  // b's listeners hear it (the leader service pushes this to b's members).
  const v = await until(b, (v) => v.members.some((m) => m.publicKey === joined.member.publicKey));
  assert.equal(v.version, a.view().version);
  assert.equal(b.member("seen")?.address, joined.member.address);
  assert.deepEqual(b.changesSince(start), { upsert: [joined.member], remove: [] });
  // A removal at b reaches a, and the policy too.
  const policies: number[] = [];
  a.onPolicy((p) => policies.push(p.version));
  await b.removeNode("seen");
  await until(a, (v) => !v.members.some((m) => m.name === "seen"));
  assert.deepEqual(a.changesSince(v.version), { upsert: [], remove: [joined.member.publicKey] });
  await b.setPolicy("allow all");
  await until(a, () => a.policy()?.version === 1);
  assert.deepEqual(policies, [1]);
  a.close();
  b.close();
});

Deno.test("shared store: a join run again after a conflict counts its dropped labels and refused services once", async () => {
  const { store, a, b } = await pair();
  const token = await a.createToken({ ttlMs: 60_000, uses: null, labels: {} });
  await knowsToken(b, token.id);
  await Promise.all([
    a.join(request(token, "p"), null),
    b.join(request(token, "q", { role: "admin" }), null),
  ]);
  assert.equal(a.labelsDropped + b.labelsDropped, 1);
  // Services offered without a grant too: counted once, at the leader that took the join.
  const grant = await a.createToken({ ttlMs: 60_000, uses: null, labels: {}, services: ["db"] });
  await knowsToken(b, grant.id);
  const conflicts = store.conflicts;
  const db = [{ name: "db", port: 5432, protocol: "tcp" as const }];
  const before = a.servicesRefused + b.servicesRefused;
  await Promise.all([
    a.join({ ...request(token, "r"), services: db }, null),
    b.join({ ...request(token, "s"), services: db }, null),
  ]);
  assert.ok(store.conflicts > conflicts, "the two joins raced");
  assert.equal(a.servicesRefused + b.servicesRefused - before, 2);
  a.close();
  b.close();
});

Deno.test("shared store: a closed core stops following the store", async () => {
  const { store, a, b } = await pair();
  const c = await open(store);
  b.close();
  const token = await a.createToken({ ttlMs: 60_000, uses: null, labels: {} });
  const joined = ok(await a.join(request(token, "after"), null));
  // c, still following, hears it; b, closed, was told at the same time and heard nothing.
  await until(c, (v) => v.members.some((m) => m.publicKey === joined.member.publicKey));
  assert.equal(b.view().members.length, 1);
  assert.equal(b.listTokens().length, 0);
  a.close();
  c.close();
});

/** A leader with its own key and name on `store`. */
function openAs(
  store: MemoryStore,
  hostname: string,
  publicKey = generateKeyPair().publicKey,
  endpoints = ["192.0.2.2:51820"],
): Promise<LeaderCore> {
  return LeaderCore.open(store, { network: "10.77.0.0/24", hostname, publicKey, endpoints });
}

Deno.test("several leaders: a second leader's key is added as a leader member with its own address", async () => {
  const store = new MemoryStore();
  const a = await open(store);
  const key2 = generateKeyPair().publicKey;
  const b = await openAs(store, "leader2", key2);
  assert.equal(b.leader.publicKey, key2, "b's own record");
  assert.equal(b.leader.role, "leader");
  assert.equal(b.leader.name, "leader2");
  assert.equal(b.leader.address, "10.77.0.2", "allocated as a join's, after leader 1's");
  assert.deepEqual(b.leaders().map((m) => m.publicKey), [LEADER_KEY, key2]);
  assert.equal(a.leader.publicKey, LEADER_KEY, "a's own record stays a's");
  // a hears b's arrival through the watch.
  await until(a, (v) => v.members.some((m) => m.publicKey === key2));
  assert.deepEqual(a.leaders().map((m) => m.name), ["leader", "leader2"]);
  // A join answered at b names b as the leader; the address skips both leaders'.
  const token = await a.createToken({ ttlMs: 60_000, uses: null, labels: {} });
  await knowsToken(b, token.id);
  const joined = ok(await b.join(request(token, "n"), null));
  assert.equal(joined.leader.publicKey, key2);
  assert.equal(joined.member.address, "10.77.0.3");
  // A leader's key cannot join as a node.
  const r = await a.join({ ...request(token, "x"), publicKey: key2 }, null);
  assert.deepEqual(r, { ok: false, error: "that key is a leader's", usage: true });
  // Restarted with other endpoints: the same member, its endpoints updated.
  b.close();
  const again = await openAs(store, "leader2", key2, ["198.51.100.2:51820"]);
  assert.equal(again.leader.address, "10.77.0.2");
  assert.deepEqual(again.leader.endpoints, ["198.51.100.2:51820"]);
  assert.equal(again.leaders().length, 2);
  a.close();
  again.close();
});

Deno.test("several leaders: a name another member holds is refused, a node's key too", async () => {
  const store = new MemoryStore();
  const a = await open(store);
  await assert.rejects(openAs(store, "leader"), LeaderError, `hostname "leader" is already taken`);
  const token = await a.createToken({ ttlMs: 60_000, uses: null, labels: {} });
  const joined = ok(await a.join(request(token, "node"), null));
  await assert.rejects(
    openAs(store, "other", joined.member.publicKey),
    LeaderError,
    "this leader's key is a node's",
  );
  assert.equal((await store.load())!.data.members.length, 2, "nothing was added");
  a.close();
});

Deno.test("several leaders: two leaders starting at once on an empty store both serve it", async () => {
  const store = new MemoryStore();
  const [a, b] = await Promise.all([openAs(store, "one"), openAs(store, "two")]);
  assert.ok(store.conflicts > 0, "the second creation conflicted and ran again");
  const addresses = [a.leader.address, b.leader.address].sort();
  assert.deepEqual(addresses, ["10.77.0.1", "10.77.0.2"]);
  for (const core of [a, b]) {
    await until(core, (v) => v.members.length === 2);
    assert.deepEqual(core.leaders().map((m) => m.name).sort(), ["one", "two"]);
  }
  a.close();
  b.close();
});

Deno.test("several leaders: one leader removes another, never itself; a removed leader stays out", async () => {
  const store = new MemoryStore();
  const a = await open(store);
  const key2 = generateKeyPair().publicKey;
  const b = await openAs(store, "leader2", key2);
  await until(a, (v) => v.members.length === 2);
  await assert.rejects(a.removeNode("leader"), LeaderError, "a leader cannot remove itself");
  await assert.rejects(b.removeNode("leader2"), LeaderError, "a leader cannot remove itself");
  const removed = await a.removeNode("leader2");
  assert.equal(removed.publicKey, key2);
  await until(b, (v) => !v.members.some((m) => m.publicKey === key2));
  assert.equal(b.leader.publicKey, key2, "b still knows who it was");
  assert.deepEqual(b.leaders().map((m) => m.name), ["leader"]);
  b.close();
  await assert.rejects(openAs(store, "leader2", key2), LeaderError, "was removed from the mesh");
  a.close();
});
