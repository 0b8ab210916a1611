/**
 * The leader's route functions over member records: which routes a member serves, whether it is
 * an exit node, which member carries each prefix, and the list `weft route list` shows.
 */
import assert from "node:assert/strict";
import type { Member } from "../../members/member.ts";
import { member } from "../../../tests/fixtures/members.ts";
import { reassignRoutes, routeList, routesMatter, servedRoutes, servesExit } from "./routes.ts";

const NET = "198.51.100.0/24";
const NET2 = "203.0.113.0/24";

function router(name: string, i: number, extra: Partial<Member> = {}): Member {
  return member(name, `10.1.0.${i}`, { publicKey: `${name}-key`, joinedAt: i * 1000, ...extra });
}

/** Runs the reassignment with everyone not offline eligible; the records replaced, by name. */
function reassign(
  members: Member[],
  eligible: (m: Member) => boolean = (m) => !m.offline,
): { changed: number; replaced: Map<string, Member>; after: Member[] } {
  const replaced = new Map<string, Member>();
  const changed = reassignRoutes(members, eligible, (m) => replaced.set(m.name, m));
  const after = members.map((m) => replaced.get(m.name) ?? m);
  return { changed, replaced, after };
}

const carried = (ms: Member[]) => Object.fromEntries(ms.map((m) => [m.name, m.routes ?? []]));

Deno.test("routes: an approval covers the advertised routes inside it", () => {
  const m = router("a", 2, {
    advertisedRoutes: ["10.20.0.0/16", "10.20.5.0/24", "192.0.2.0/24", NET],
    grants: { routes: ["10.20.0.0/16", NET] },
  });
  assert.deepEqual(servedRoutes(m), ["10.20.0.0/16", "10.20.5.0/24", NET]);
  // A narrower approval does not cover a wider advertisement.
  const narrow = router("b", 3, {
    advertisedRoutes: ["10.20.0.0/16"],
    grants: { routes: ["10.20.5.0/24"] },
  });
  assert.deepEqual(servedRoutes(narrow), []);
  // IPv6 too, and nothing without approvals.
  const v6 = router("c", 4, {
    advertisedRoutes: ["2001:db8:1::/48"],
    grants: { routes: ["2001:db8::/32"] },
  });
  assert.deepEqual(servedRoutes(v6), ["2001:db8:1::/48"]);
  assert.deepEqual(servedRoutes(router("d", 5, { advertisedRoutes: [NET] })), []);
  assert.deepEqual(servedRoutes(router("e", 6)), []);
});

Deno.test("routes: a leader's own routes need no approval; default routes are never served", () => {
  const leader = router("leader", 1, {
    role: "leader",
    advertisedRoutes: ["0.0.0.0/0", "::/0", NET],
  });
  assert.deepEqual(servedRoutes(leader), [NET]);
  const exit = router("x", 2, {
    advertisedRoutes: ["0.0.0.0/0", "::/0", NET],
    grants: { routes: ["exit", NET] },
  });
  assert.deepEqual(servedRoutes(exit), [NET], "exit approval: defaults still left out");
});

Deno.test("routes: an exit node offers both default routes and is approved (or a leader)", () => {
  const both = ["0.0.0.0/0", "::/0"];
  assert.equal(
    servesExit(router("a", 2, { advertisedRoutes: both, grants: { routes: ["exit"] } })),
    true,
  );
  assert.equal(servesExit(router("b", 3, { advertisedRoutes: both })), false, "not approved");
  assert.equal(
    servesExit(router("c", 4, { advertisedRoutes: ["0.0.0.0/0"], grants: { routes: ["exit"] } })),
    false,
    "only one default",
  );
  assert.equal(servesExit(router("d", 5, { grants: { routes: ["exit"] } })), false, "not offered");
  assert.equal(servesExit(router("l", 1, { role: "leader", advertisedRoutes: both })), true);
  // A wide prefix approval is not an exit approval.
  assert.equal(
    servesExit(router("e", 6, { advertisedRoutes: both, grants: { routes: ["0.0.0.0/1"] } })),
    false,
  );
});

Deno.test("routes: routesMatter only for records with route fields", () => {
  assert.equal(routesMatter(undefined), false);
  assert.equal(routesMatter(router("a", 2)), false);
  assert.equal(routesMatter(router("a", 2, { grants: { routes: [NET] } })), false);
  assert.equal(routesMatter(router("a", 2, { advertisedRoutes: [] })), true);
  assert.equal(routesMatter(router("a", 2, { routes: [NET] })), true);
  assert.equal(routesMatter(router("a", 2, { exitNode: true })), true);
});

Deno.test("routes: one carrier per prefix, in join order (then name)", () => {
  const approved = { advertisedRoutes: [NET, NET2], grants: { routes: [NET, NET2] } };
  const c = router("c", 3, { ...approved });
  const b = router("b", 2, { ...approved, advertisedRoutes: [NET2], grants: { routes: [NET2] } });
  const a = router("a", 9, { ...approved });
  const { changed, after } = reassign([a, c, b]);
  assert.equal(changed, 2);
  assert.deepEqual(carried(after), { a: [], c: [NET], b: [NET2] });
  // A tie in join order goes by name.
  const x = router("x", 5, { ...approved });
  const w = router("w", 5, { ...approved });
  assert.deepEqual(carried(reassign([x, w]).after), { x: [], w: [NET, NET2] });
});

Deno.test("routes: an offline carrier hands over; with nobody eligible the prefix stays", () => {
  const ok = { advertisedRoutes: [NET], grants: { routes: [NET] } };
  const a = router("a", 2, { ...ok, routes: [NET], offline: true });
  const b = router("b", 3, { ...ok });
  const { after } = reassign([a, b]);
  assert.deepEqual(carried(after), { a: [], b: [NET] });
  assert.equal(after[0].routes, undefined, "no empty list left in the record");
  // a back online: b keeps it (no preemption).
  const back = reassign([{ ...after[0], offline: undefined }, after[1]]);
  assert.equal(back.changed, 0);
  assert.deepEqual(carried(back.after), { a: [], b: [NET] });
  // Nobody eligible: the holder keeps it.
  const none = reassign([a, b], () => false);
  assert.equal(none.changed, 0);
  assert.deepEqual(carried(none.after), { a: [NET], b: [] });
  // Nobody eligible and nobody holding it: the first in join order.
  const fresh = reassign([router("b", 3, ok), router("a", 2, ok)], () => false);
  assert.deepEqual(carried(fresh.after), { b: [], a: [NET] });
});

Deno.test("routes: records are replaced only when what they carry changes", () => {
  const ok = { advertisedRoutes: [NET], grants: { routes: [NET] } };
  const a = router("a", 2, { ...ok, routes: [NET] });
  const b = router("b", 3, { ...ok });
  const plain = router("p", 4);
  const pending = router("q", 5, { advertisedRoutes: [NET2] });
  const r = reassign([a, b, plain, pending]);
  assert.equal(r.changed, 0);
  assert.equal(r.replaced.size, 0);
  // A record is a new object, the old left as it was.
  const first = reassign([router("a", 2, ok)]);
  assert.equal(first.changed, 1);
  assert.notEqual(first.after[0], a);
  assert.deepEqual(first.after[0].routes, [NET]);
  // An approval withdrawn: the carrier drops it.
  const revoked = reassign([{ ...a, grants: undefined }]);
  assert.equal(revoked.changed, 1);
  assert.equal(revoked.after[0].routes, undefined);
  assert.ok(!("routes" in revoked.after[0]));
});

Deno.test("routes: exitNode is set for an approved exit and cleared when it no longer is", () => {
  const exit = router("x", 2, {
    advertisedRoutes: ["0.0.0.0/0", "::/0"],
    grants: { routes: ["exit"] },
  });
  const set = reassign([exit]);
  assert.equal(set.changed, 1);
  assert.equal(set.after[0].exitNode, true);
  assert.equal(set.after[0].routes, undefined, "exit nodes carry no subnet routes for it");
  assert.equal(reassign(set.after).changed, 0);
  // Exits are not one per mesh: two approved exits are both exit nodes.
  const two = reassign([exit, { ...exit, name: "y", publicKey: "y-key", joinedAt: 9000 }]);
  assert.deepEqual(two.after.map((m) => m.exitNode), [true, true]);
  // Revoked: cleared, field gone.
  const cleared = reassign([{ ...set.after[0], grants: undefined }]);
  assert.equal(cleared.changed, 1);
  assert.ok(!("exitNode" in cleared.after[0]));
  // No longer offered: cleared too.
  const stopped = reassign([{ ...set.after[0], advertisedRoutes: [] }]);
  assert.ok(!("exitNode" in stopped.after[0]));
});

Deno.test("routes: the route list shows primary, standby and pending; others left out", () => {
  const ok = { advertisedRoutes: [NET], grants: { routes: [NET] } };
  const { after } = reassign([
    router("b", 3, { ...ok, advertisedRoutes: [NET, NET2] }),
    router("a", 2, { ...ok, offline: true }),
    router("c", 4, { advertisedRoutes: ["0.0.0.0/0", "::/0", NET2] }),
    router("plain", 5),
    router("granted", 6, { grants: { routes: ["exit"] } }),
    router("x", 7, { advertisedRoutes: ["0.0.0.0/0", "::/0"], grants: { routes: ["exit"] } }),
    router("relay-only", 8, { grants: { relay: true } }),
  ]);
  const list = routeList(after);
  assert.deepEqual(list.map((n) => n.name), ["a", "b", "c", "granted", "x"]);
  const by = Object.fromEntries(list.map((n) => [n.name, n]));
  assert.deepEqual(by.a, {
    name: "a",
    address: "10.1.0.2",
    advertised: [NET],
    approved: [NET],
    primary: [],
    standby: [NET],
    pending: [],
    exitNode: false,
    offline: true,
  });
  assert.deepEqual(
    [by.b.primary, by.b.standby, by.b.pending, by.b.offline],
    [[NET], [], [NET2], false],
  );
  assert.deepEqual(
    [by.c.primary, by.c.standby, by.c.pending, by.c.exitNode],
    [[], [], ["0.0.0.0/0", "::/0", NET2], false],
  );
  assert.deepEqual([by.granted.advertised, by.granted.approved], [[], ["exit"]]);
  assert.deepEqual([by.x.pending, by.x.exitNode, by.x.primary], [[], true, []]);
});
