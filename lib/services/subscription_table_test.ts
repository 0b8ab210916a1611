import assert from "node:assert/strict";
import { Subscription } from "./subscription.ts";
import { SubscriptionTable } from "./subscription_table.ts";
import { TopicPattern } from "./topics.ts";
import { MAX_SUBSCRIPTION_ENTRIES } from "./wire.ts";

const sub = (t: SubscriptionTable, pattern: string, group?: string) => {
  const s = new Subscription(new TopicPattern(pattern), { group }, (x) => t.removeLocal(x));
  t.addLocal(s);
  return s;
};

Deno.test("table: local entries are distinct pairs; the version moves only when they change", () => {
  const t = new SubscriptionTable(100);
  const a = sub(t, "status/*");
  assert.equal(t.version, 101);
  const b = sub(t, "status/*");
  assert.equal(t.version, 101, "the same pair again is no new entry");
  sub(t, "status/*", "worker");
  assert.deepEqual(t.localEntries(), [{ pattern: "status/*" }, {
    pattern: "status/*",
    group: "worker",
  }]);
  a.close();
  assert.equal(t.version, 102, "closing b's twin leaves the entry");
  b.close();
  assert.equal(t.version, 103);
  assert.deepEqual(t.localEntries(), [{ pattern: "status/*", group: "worker" }]);
  assert.equal(t.localCount, 1);
});

Deno.test("table: hasLocal says whether localEntries lists anything, as entries come and go", () => {
  const t = new SubscriptionTable();
  const agree = () => assert.equal(t.hasLocal, t.localEntries().length > 0);
  assert.equal(t.hasLocal, false);
  const a = sub(t, "status/*");
  const b = sub(t, "status/*");
  assert.equal(t.hasLocal, true);
  agree();
  a.close();
  assert.equal(t.hasLocal, true, "the twin still subscribes");
  agree();
  b.close();
  assert.equal(t.hasLocal, false);
  agree();
});

Deno.test("table: too many distinct entries are refused", () => {
  const t = new SubscriptionTable();
  for (let i = 0; i < MAX_SUBSCRIPTION_ENTRIES; i++) sub(t, `t${i}`);
  assert.throws(() => sub(t, "one/more"), /too many distinct subscriptions/);
  sub(t, "t0"); // an existing pair is fine
});

Deno.test("table: remote announcements replace older ones and expire", () => {
  const t = new SubscriptionTable();
  assert.ok(t.setRemote("10.0.0.2", 5, [{ pattern: "a" }], 1000));
  assert.ok(!t.setRemote("10.0.0.2", 4, [], 1001), "an older one is ignored");
  assert.ok(t.setRemote("10.0.0.2", 6, [{ pattern: "b" }], 1002));
  assert.deepEqual(t.remote(), [{ address: "10.0.0.2", version: 6, entries: [{ pattern: "b" }] }]);
  t.setRemote("10.0.0.3", 1, [{ pattern: "b" }], 5000);
  t.expire(2000);
  assert.deepEqual(t.remote().map((r) => r.address), ["10.0.0.3"]);
  t.expire(0, (a) => a !== "10.0.0.3");
  assert.equal(t.remote().length, 0);
});

Deno.test("table: mode all plans every node with a match, this node included", () => {
  const t = new SubscriptionTable();
  sub(t, "status/*");
  t.setRemote("10.0.0.2", 1, [{ pattern: "status/>" }], 0);
  t.setRemote("10.0.0.3", 1, [{ pattern: "other" }], 0);
  t.setRemote("10.0.0.4", 1, [{ pattern: "status/up", group: "audit" }], 0);
  const plan = t.plan("status/up", "all", "self");
  assert.deepEqual([...plan.keys()].sort(), ["10.0.0.2", "10.0.0.4", "self"]);
  for (const p of plan.values()) assert.deepEqual(p, { groups: [], loose: true });
  // A node not eligible (down) is left out.
  assert.ok(!t.plan("status/up", "all", "self", (a) => a !== "10.0.0.2").has("10.0.0.2"));
});

Deno.test("table: one-per-service picks one node per group in turn; ungrouped get everything", () => {
  const t = new SubscriptionTable();
  sub(t, "jobs/*", "worker");
  t.setRemote("10.0.0.2", 1, [{ pattern: "jobs/>", group: "worker" }, { pattern: "jobs/*" }], 0);
  t.setRemote("10.0.0.3", 1, [{ pattern: "jobs/*", group: "worker" }, {
    pattern: "jobs/*",
    group: "audit",
  }], 0);
  const chosen: string[] = [];
  for (let i = 0; i < 6; i++) {
    const plan = t.plan("jobs/x", "one-per-service", "self");
    const workers = [...plan].filter(([, p]) => p.groups.includes("worker")).map(([a]) => a);
    assert.equal(workers.length, 1, "one node per group");
    chosen.push(workers[0]);
    assert.deepEqual(plan.get("10.0.0.3")?.groups.includes("audit"), true, "the only audit node");
    assert.equal(plan.get("10.0.0.2")?.loose, true, "the ungrouped subscriber gets it");
  }
  assert.deepEqual(chosen.sort(), ["10.0.0.2", "10.0.0.2", "10.0.0.3", "10.0.0.3", "self", "self"]);
});

Deno.test("table: on a node, one subscriber per group in turn, and every ungrouped one", () => {
  const t = new SubscriptionTable();
  const w1 = sub(t, "jobs/*", "worker");
  const w2 = sub(t, "jobs/>", "worker");
  const loose = sub(t, "jobs/*");
  const other = sub(t, "other");
  const picks: Subscription[] = [];
  for (let i = 0; i < 4; i++) {
    const got = t.localTargets("jobs/x", "one-per-service", { groups: ["worker"], loose: true });
    assert.ok(got.includes(loose));
    assert.ok(!got.includes(other));
    picks.push(...got.filter((s) => s !== loose));
  }
  assert.equal(picks.filter((s) => s === w1).length, 2);
  assert.equal(picks.filter((s) => s === w2).length, 2);
  // Not asked to serve the group: only the ungrouped subscriber.
  assert.deepEqual(t.localTargets("jobs/x", "one-per-service", { groups: [], loose: true }), [
    loose,
  ]);
  // Mode all: every matching subscriber.
  assert.equal(t.localTargets("jobs/x", "all", { groups: [], loose: true }).length, 3);
});
