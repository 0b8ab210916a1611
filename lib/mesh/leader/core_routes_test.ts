/**
 * LeaderCore and routes through members: advertised routes from joins and hellos, approvals
 * (`weft route approve/revoke`, a token's `--approve-routes`), one carrier per prefix with
 * hand-over and no preemption, and the state on disk.
 */
import assert from "node:assert/strict";
import { type LeaderCore, LeaderError } from "./core.ts";
import { accepted, joinRequest as request, openCore } from "./testing/cores.ts";
import { MemoryStore } from "../store/memory_store.ts";
import { checkLeaderFile } from "../state/state.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import type { Member } from "../../members/member.ts";

const NET = "198.51.100.0/24";
const HOUR = 3_600_000;

const open = (store: MemoryStore, routes?: string[]): Promise<LeaderCore> =>
  openCore(store, routes ? { routes } : {});

/** A core with routers `a` and `b` (joined in that order) advertising `NET`, not approved. */
async function twoRouters(
  store = new MemoryStore(),
): Promise<{ core: LeaderCore; a: Member; b: Member; store: MemoryStore }> {
  const core = await open(store);
  const t = await core.createToken({ ttlMs: HOUR, uses: null, labels: {} });
  const a = accepted(await core.join(request(t, "a", { routes: [NET] }), null, 1_000)).member;
  const b = accepted(await core.join(request(t, "b", { routes: [NET] }), null, 2_000)).member;
  // Both answered: a router carries routes once heard from.
  await core.heardFrom(a.publicKey);
  await core.heardFrom(b.publicKey);
  return { core, a, b, store };
}

const rec = (core: LeaderCore, name: string) => core.member(name)!;

Deno.test("leader routes: a join's routes are advertised, carried only once approved", async () => {
  const { core, a } = await twoRouters();
  assert.deepEqual(a.advertisedRoutes, [NET]);
  assert.equal(a.routes, undefined);
  assert.equal(a.exitNode, undefined);
  const v = core.view().version;
  const m = await core.setRouteApprovals("a", { approve: [NET] });
  assert.deepEqual(m.grants?.routes, [NET]);
  assert.deepEqual(m.routes, [NET], "the member returned is as it is now");
  assert.deepEqual(rec(core, "a").routes, [NET]);
  assert.ok(core.view().version > v, "the view's version moves");
  const listed = core.routes().find((n) => n.name === "a")!;
  assert.deepEqual([listed.primary, listed.standby, listed.pending], [[NET], [], []]);
  // The same approval again changes nothing.
  const v2 = core.view().version;
  await core.setRouteApprovals("a", { approve: [NET] });
  assert.equal(core.view().version, v2);
});

Deno.test("leader routes: a second router is standby; it takes over on a bye, keeps it after", async () => {
  const { core, a, b } = await twoRouters();
  await core.setRouteApprovals("a", { approve: [NET] });
  await core.setRouteApprovals(b.address, { approve: [NET] });
  assert.deepEqual(rec(core, "a").routes, [NET]);
  assert.equal(rec(core, "b").routes, undefined, "standby");
  assert.deepEqual(core.routes().find((n) => n.name === "b")!.standby, [NET]);

  assert.equal(await core.leave(a.publicKey), true);
  assert.equal(rec(core, "a").routes, undefined);
  assert.deepEqual(rec(core, "b").routes, [NET]);

  // a runs again: no preemption.
  assert.equal(await core.updateMember(a.publicKey, { online: true }), true);
  assert.equal(rec(core, "a").offline, undefined);
  assert.equal(rec(core, "a").routes, undefined);
  assert.deepEqual(rec(core, "b").routes, [NET]);
});

Deno.test("leader routes: revoking hands the prefix over; refusals name the reason", async () => {
  const { core } = await twoRouters();
  await core.setRouteApprovals("a", { approve: [NET] });
  await core.setRouteApprovals("b", { approve: ["198.51.0.0/16"] });
  assert.deepEqual(rec(core, "a").routes, [NET]);
  assert.equal(rec(core, "b").routes, undefined);

  const m = await core.setRouteApprovals("a", { revoke: [NET] });
  assert.equal(m.grants, undefined, "no grants left: no field");
  assert.equal(rec(core, "a").routes, undefined);
  assert.deepEqual(rec(core, "b").routes, [NET], "b's wider approval covers it");

  await assert.rejects(
    core.setRouteApprovals("b", { revoke: [NET] }),
    (e) => e instanceof LeaderError && /198\.51\.0\.0\/16/.test(e.message),
  );
  await assert.rejects(
    core.setRouteApprovals("a", { revoke: ["203.0.113.0/24"] }),
    (e) => e instanceof LeaderError && /not approved for a/.test(e.message),
  );
  await assert.rejects(
    core.setRouteApprovals("a", { revoke: ["exit"] }),
    (e) => e instanceof LeaderError && /not approved/.test(e.message),
  );
  await assert.rejects(
    core.setRouteApprovals("leader", { approve: [NET] }),
    (e) => e instanceof LeaderError && /leader's own routes need no approval/.test(e.message),
  );
  for (const bad of ["not-a-prefix", "198.51.100.1/24", "0.0.0.0/0", "10.0.0.1"]) {
    await assert.rejects(
      core.setRouteApprovals("a", { approve: [bad] }),
      (e) => e instanceof LeaderError && e.message.includes(bad),
      bad,
    );
  }
  await assert.rejects(core.setRouteApprovals("nobody", { approve: [NET] }), LeaderError);
  // Revoking the wider one: nobody carries the prefix.
  await core.setRouteApprovals("b", { revoke: ["198.51.0.0/16"] });
  assert.equal(rec(core, "b").routes, undefined);
  assert.deepEqual(core.routes().find((n) => n.name === "b")!.pending, [NET]);
});

Deno.test("leader routes: a revocation that leaves the prefix approved by a wider one is refused", async () => {
  const { core } = await twoRouters();
  await core.setRouteApprovals("a", { approve: ["198.51.0.0/16", NET] });
  assert.deepEqual(rec(core, "a").routes, [NET]);
  await assert.rejects(
    core.setRouteApprovals("a", { revoke: [NET] }),
    (e) => e instanceof LeaderError && /198\.51\.0\.0\/16/.test(e.message),
  );
});

Deno.test("leader routes: a token's approvals hold for its joiners (prefixes and exit)", async () => {
  const core = await open(new MemoryStore());
  await assert.rejects(
    core.createToken({ ttlMs: HOUR, uses: null, labels: {}, approveRoutes: ["nonsense"] }),
    (e) => e instanceof LeaderError && /approve-routes/.test(e.message),
  );
  const t = await core.createToken({
    ttlMs: HOUR,
    uses: null,
    labels: {},
    approveRoutes: [NET, "exit"],
  });
  const x = accepted(
    await core.join(request(t, "x", { routes: ["0.0.0.0/0", NET, "::/0"] }), null),
  ).member;
  assert.deepEqual(x.grants?.routes, [NET, "exit"]);
  assert.equal(x.exitNode, undefined, "an exit node once heard from, not at its join");
  await core.heardFrom(x.publicKey);
  assert.deepEqual(rec(core, "x").routes, [NET]);
  assert.equal(rec(core, "x").exitNode, true);
  // Quiet (its hellos stopped): withdrawn as an exit node; heard again: back.
  await core.setQuiet(x.publicKey, true);
  assert.equal(rec(core, "x").exitNode, undefined);
  await core.setQuiet(x.publicKey, false);
  assert.equal(rec(core, "x").exitNode, true);
  // The token's approvals do not cover what it did not approve.
  const y = accepted(await core.join(request(t, "y", { routes: ["203.0.113.0/24"] }), null));
  assert.equal(y.member.routes, undefined);
});

Deno.test("leader routes: weft node set keeps route approvals; revoking still works after it", async () => {
  const { core, a } = await twoRouters();
  await core.setRouteApprovals("a", { approve: [NET] });
  await core.setRouteApprovals("b", { approve: [NET] });
  // Labels and relaying, granted and withdrawn: the approvals stay, a keeps carrying.
  await core.setGrants("a", { labels: { site: "x" } });
  await core.setGrants("a", { relay: true });
  const m = await core.setGrants("a", { relay: false, removeLabels: ["site"] });
  assert.deepEqual(m.grants, { routes: [NET] }, "only the relay grant went");
  assert.deepEqual(rec(core, "a").grants?.routes, [NET]);
  assert.deepEqual(rec(core, "a").routes, [NET]);
  assert.deepEqual(core.routes().find((n) => n.name === "a")!.approved, [NET]);
  // The approval is still there to revoke: the prefix goes to b at once, not black-holed.
  await core.setRouteApprovals("a", { revoke: [NET] });
  assert.equal(rec(core, "a").routes, undefined);
  assert.deepEqual(rec(core, "b").routes, [NET]);
  assert.equal(rec(core, "a").grants, undefined, "no grants left: no field");
  // A token's approvals and services survive a label change too.
  const t = await core.createToken({
    ttlMs: HOUR,
    uses: null,
    labels: {},
    services: ["web"],
    approveRoutes: ["exit"],
  });
  accepted(await core.join(request(t, "x", { routes: ["0.0.0.0/0", "::/0"] }), null));
  await core.setGrants("x", { labels: { tier: "1" } });
  assert.deepEqual(rec(core, "x").grants, { services: ["web"], routes: ["exit"] });
  assert.equal(a.grants, undefined);
});

Deno.test("leader routes: weft node set decides again what the node carries", async () => {
  // A state as a leader that lost the approval left it: a still carries the prefix.
  const store = new MemoryStore();
  const { core } = await twoRouters(store);
  await core.setRouteApprovals("a", { approve: [NET] });
  core.close();
  const s = (await store.load())!;
  const a = s.data.members.find((m) => m.name === "a")!;
  delete a.grants;
  assert.equal(await store.commit(s.data, s.revision), s.revision + 1);
  const again = await open(store);
  try {
    assert.deepEqual(rec(again, "a").routes, [NET]);
    await again.setGrants("a", { labels: { site: "x" } });
    assert.equal(rec(again, "a").routes, undefined, "unapproved: carried no more");
  } finally {
    again.close();
  }
});

Deno.test("leader routes: a hello with no routes clears them; the standby takes over", async () => {
  const { core, a } = await twoRouters();
  await core.setRouteApprovals("a", { approve: [NET] });
  await core.setRouteApprovals("b", { approve: [NET] });
  assert.equal(await core.updateMember(a.publicKey, { advertisedRoutes: [] }), true);
  const now = rec(core, "a");
  assert.ok(!("advertisedRoutes" in now));
  assert.ok(!("routes" in now));
  assert.deepEqual(now.grants?.routes, [NET], "the approval stays");
  assert.deepEqual(rec(core, "b").routes, [NET]);
  // Advertised again: a is standby now.
  await core.updateMember(a.publicKey, { advertisedRoutes: [NET] });
  assert.deepEqual(rec(core, "a").advertisedRoutes, [NET]);
  assert.equal(rec(core, "a").routes, undefined);
});

Deno.test("leader routes: removing the carrier hands its routes over", async () => {
  const { core } = await twoRouters();
  await core.setRouteApprovals("a", { approve: [NET] });
  await core.setRouteApprovals("b", { approve: [NET] });
  const removed = await core.removeNode("a");
  assert.deepEqual(removed.routes, [NET]);
  assert.deepEqual(rec(core, "b").routes, [NET]);
});

Deno.test("leader routes: releasing a carrier never heard from hands its routes over", async () => {
  const core = await open(new MemoryStore());
  const t = await core.createToken({ ttlMs: HOUR, uses: null, labels: {}, approveRoutes: [NET] });
  const lost = accepted(await core.join(request(t, "lost", { routes: [NET] }), null)).member;
  const b = accepted(await core.join(request(t, "b", { routes: [NET] }), null)).member;
  assert.deepEqual(lost.routes, [NET]);
  await core.heardFrom(b.publicKey);
  const released = await core.releaseUnheard(Date.now() + 2 * HOUR);
  assert.deepEqual(released.map((m) => m.name), ["lost"]);
  assert.deepEqual(rec(core, "b").routes, [NET]);
});

Deno.test("leader routes: a router carries only once heard from (its join answer arrived)", async () => {
  const core = await open(new MemoryStore());
  const t = await core.createToken({ ttlMs: HOUR, uses: null, labels: {}, approveRoutes: [NET] });
  const a = accepted(await core.join(request(t, "a", { routes: [NET] }), null, 1_000)).member;
  const b = accepted(await core.join(request(t, "b", { routes: [NET] }), null, 2_000)).member;
  await core.heardFrom(b.publicKey);
  assert.deepEqual(rec(core, "b").routes, [NET], "b was heard from, a not yet");
  await core.heardFrom(a.publicKey);
  assert.deepEqual(rec(core, "b").routes, [NET], "no preemption");
  assert.equal(rec(core, "a").routes, undefined);
});

Deno.test("leader routes: the leader's own routes are carried without approval", async () => {
  const core = await open(new MemoryStore(), [NET, "0.0.0.0/0", "::/0"].sort());
  assert.deepEqual(core.leader.routes, [NET]);
  assert.equal(core.leader.exitNode, true);
  // A node advertising the same prefix, approved, is standby behind the leader (joined first).
  const t = await core.createToken({ ttlMs: HOUR, uses: null, labels: {}, approveRoutes: [NET] });
  const n = accepted(await core.join(request(t, "n", { routes: [NET] }), null)).member;
  assert.equal(n.routes, undefined);
});

Deno.test("leader routes: the state survives reopening and passes the state check", async () => {
  const store = new MemoryStore();
  const { core, a } = await twoRouters(store);
  // exit ahead of a's advertisement of it, below.
  await core.setRouteApprovals("a", { approve: [NET, "exit"], preApprove: true });
  await core.setRouteApprovals("b", { approve: [NET] });
  await core.updateMember(a.publicKey, { advertisedRoutes: ["0.0.0.0/0", NET, "::/0"] });
  assert.equal(rec(core, "a").exitNode, true);
  core.close();

  const loaded = (await store.load())!;
  const checked = checkLeaderFile(JSON.parse(JSON.stringify(loaded.data)), "state");
  const stored = checked.members.find((m) => m.name === "a")!;
  assert.deepEqual(stored.advertisedRoutes, ["0.0.0.0/0", NET, "::/0"]);
  assert.deepEqual(stored.routes, [NET]);
  assert.equal(stored.exitNode, true);
  assert.deepEqual(stored.grants?.routes, [NET, "exit"]);

  const again = await open(store);
  try {
    assert.deepEqual(rec(again, "a").routes, [NET]);
    assert.equal(rec(again, "a").exitNode, true);
    assert.equal(rec(again, "b").routes, undefined);
    assert.deepEqual(again.routes().map((n) => [n.name, n.primary, n.standby]), [
      ["a", [NET], []],
      ["b", [], [NET]],
    ]);
  } finally {
    again.close();
  }
});

Deno.test("leader routes: the state check refuses malformed route fields", () => {
  const base = {
    name: "a",
    publicKey: generateKeyPair().publicKey,
    address: "10.77.0.2",
    endpoints: [],
    labels: {},
    role: "node",
    services: [],
    joinedAt: 1,
  };
  const file = (m: Record<string, unknown>) => ({
    format: 1,
    network: "10.77.0.0/24",
    version: 1,
    members: [m],
    tokens: [],
  });
  for (
    const bad of [
      { advertisedRoutes: ["198.51.100.1/24"] },
      { advertisedRoutes: "198.51.100.0/24" },
      { routes: ["nonsense"] },
      { exitNode: false },
      { grants: { routes: ["nonsense"] } },
    ]
  ) {
    assert.throws(() => checkLeaderFile(file({ ...base, ...bad }), "state"), JSON.stringify(bad));
  }
});

Deno.test("leader routes: a router whose hellos stopped hands its routes over; back, it stands by", async () => {
  const { core, a, b } = await twoRouters();
  await core.setRouteApprovals("a", { approve: [NET] });
  await core.setRouteApprovals("b", { approve: [NET] });
  assert.deepEqual(rec(core, "a").routes, [NET]);
  await core.setQuiet(a.publicKey, true);
  assert.equal(rec(core, "a").routes, undefined);
  assert.deepEqual(rec(core, "b").routes, [NET]);
  await core.setQuiet(a.publicKey, false);
  assert.deepEqual(rec(core, "b").routes, [NET], "no preemption");
  // Both quiet: the prefix stays where it is.
  await core.setQuiet(a.publicKey, true);
  await core.setQuiet(b.publicKey, true);
  assert.deepEqual(rec(core, "b").routes, [NET]);
});

Deno.test("leader routes: at most 64 approvals a node", async () => {
  const { core } = await twoRouters();
  const many = Array.from({ length: 40 }, (_, i) => `10.${i}.0.0/16`);
  const more = Array.from({ length: 40 }, (_, i) => `10.${100 + i}.0.0/16`);
  await core.setRouteApprovals("a", { approve: many, preApprove: true });
  await assert.rejects(
    core.setRouteApprovals("a", { approve: more, preApprove: true }),
    (e) => e instanceof LeaderError && /at most 64 routes/.test(e.message),
  );
  assert.equal(rec(core, "a").grants?.routes?.length, 40);
});

Deno.test("leader core: the quiet set holds no more keys than there are members, removed ones swept", async () => {
  const core = await open(new MemoryStore());
  const t = await core.createToken({ ttlMs: HOUR, uses: null, labels: {} });
  const members: Member[] = [];
  for (let i = 0; i < 20; i++) {
    members.push(accepted(await core.join(request(t, `n${i}`), null, 1_000 + i)).member);
  }
  for (const m of members) await core.setQuiet(m.publicKey, true);
  assert.equal(core.quietHeld, 20);
  // Ten quiet members removed, then ten more join and go quiet: the removed ones are swept.
  for (const m of members.slice(0, 10)) await core.removeNode(m.name);
  for (let i = 20; i < 30; i++) {
    const m = accepted(await core.join(request(t, `n${i}`), null, 1_000 + i)).member;
    await core.setQuiet(m.publicKey, true);
    assert.ok(core.quietHeld <= core.view().members.length, `${core.quietHeld} held`);
  }
  // A member not (or no longer) in the mesh is never taken as quiet.
  await core.setQuiet(members[0].publicKey, true);
  assert.ok(core.quietHeld <= core.view().members.length);
  core.close();
});

Deno.test("leader routes: an approval covering nothing the node advertises is refused unless pre-approved", async () => {
  const { core } = await twoRouters();
  const v = core.view().version;
  // A typo (198.51.10.0/24 for 198.51.100.0/24) is refused, naming what a advertises.
  await assert.rejects(
    core.setRouteApprovals("a", { approve: ["198.51.10.0/24"] }),
    (e) =>
      e instanceof LeaderError && e.message.includes("198.51.10.0/24") &&
      e.message.includes(`a advertises ${NET}`) && e.message.includes("pre-approve"),
  );
  await assert.rejects(
    core.setRouteApprovals("a", { approve: ["exit"] }),
    (e) => e instanceof LeaderError && /would approve none/.test(e.message),
    "a offers no exit node",
  );
  // One good and one idle approval: the whole change is refused.
  await assert.rejects(
    core.setRouteApprovals("a", { approve: [NET, "203.0.113.0/24"] }),
    (e) => e instanceof LeaderError && e.message.includes("203.0.113.0/24"),
  );
  assert.equal(rec(core, "a").grants, undefined);
  assert.equal(core.view().version, v, "nothing changed");
  // A wider prefix covering an advertised route is an approval of it.
  await core.setRouteApprovals("a", { approve: ["198.51.0.0/16"] });
  assert.deepEqual(rec(core, "a").routes, [NET]);
  // Asked for, an approval ahead of the advertisement is kept (and not asked about again).
  const m = await core.setRouteApprovals("b", { approve: ["203.0.113.0/24"], preApprove: true });
  assert.deepEqual(m.grants?.routes, ["203.0.113.0/24"]);
  await core.setRouteApprovals("b", { approve: ["203.0.113.0/24", NET] });
  // A long list of idle approvals is named by its first few.
  const many = Array.from({ length: 40 }, (_, i) => `10.${i}.0.0/16`);
  await assert.rejects(
    core.setRouteApprovals("a", { approve: many }),
    (e) => e instanceof LeaderError && e.message.includes("and 36 more") && e.message.length < 300,
  );
  assert.deepEqual(rec(core, "b").grants?.routes, [NET, "203.0.113.0/24"]);
});
