import assert from "node:assert/strict";
import { MISSED_HELLOS } from "./leader_choice.ts";
import { deltaParts, policyParts, viewParts } from "./protocol.ts";
import { decodeLanKey, newLanKey } from "../state/lan_key.ts";
import { eventually, HANG_GUARD_MS } from "../../../tests/fixtures/netns.ts";
import {
  guarded,
  harness,
  hellosTo,
  LEADER,
  leader,
  LEADER2,
  leader2,
  logged,
  other,
  self,
  view,
} from "./testing/node_sync_harness.ts";

Deno.test("node sync: a leader that leaves its hellos unanswered is left for another, in one line", async () => {
  const log = logged();
  const h = await harness({
    start: view(1, [leader, self, leader2, other]),
    intervalMs: 20,
    answers: (a) => a !== LEADER,
    logger: log.logger,
  });
  try {
    h.sync.start(null);
    assert.equal(h.sync.leader.address, LEADER, "the saved leader first");
    const line = await log.line(/now syncing with leader/);
    assert.match(line, /now syncing with leader lead-2: lead stopped answering/);
    assert.equal(h.sync.leader.address, LEADER2);
    // The hello at the start and the next: MISSED_HELLOS unanswered, then the move.
    assert.equal(hellosTo(h.sent, LEADER), MISSED_HELLOS);
    const at = h.sent.findIndex(([a]) => a === LEADER2);
    assert.ok(at >= 0 && h.sent.slice(at).every(([a]) => a !== LEADER), "all to lead-2 after");
    assert.ok(!h.probed.includes("10.3.0.3"), "a member that is no leader is not probed");
    assert.equal((await h.saved()).leader.address, LEADER2, "the file records the leader in use");
    const st = h.sync.status();
    assert.equal(st.leader.name, "lead-2");
    assert.equal(st.leader.address, LEADER2);
    assert.ok(!Number.isNaN(Date.parse(st.leader.since)));
    assert.deepEqual(
      st.leaders.map((l) => [l.name, l.inUse, l.answers, l.offline]),
      [["lead", false, false, false], ["lead-2", true, true, false]],
    );
    // lead-2 answers: the node stays with it (more hellos, no second move).
    const hellos = hellosTo(h.sent, LEADER2);
    await eventually(
      () => Promise.resolve(hellosTo(h.sent, LEADER2) >= hellos + 2 * MISSED_HELLOS),
      HANG_GUARD_MS,
    );
    assert.equal(h.sync.leader.address, LEADER2);
    assert.equal(log.lines.filter((l) => l.includes("now syncing")).length, 1);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: one leader answering every other hello is kept; none to move to is said once", async () => {
  const log = logged();
  const h = await harness({ intervalMs: 20, answers: () => false, logger: log.logger });
  try {
    h.sync.start(null);
    // Nobody else to go to: one warning, and the hellos go on to the one leader known.
    await log.line(/no other leader is known/);
    const before = hellosTo(h.sent, LEADER);
    await eventually(() => Promise.resolve(hellosTo(h.sent, LEADER) > before + 3), HANG_GUARD_MS);
    assert.equal(log.lines.filter((l) => l.includes("no other leader")).length, 1, "said once");
    assert.equal(h.sync.leader.address, LEADER);
  } finally {
    await h.cleanup();
  }
  // With a second leader, a leader that misses fewer than MISSED_HELLOS in a row is kept.
  const flaky = logged();
  let n = 0;
  const f = await harness({
    start: view(1, [leader, self, leader2]),
    intervalMs: 20,
    // lead answers every other probe: a miss never follows a miss.
    answers: (a) => a !== LEADER || n++ % 2 === 0,
    logger: flaky.logger,
  });
  try {
    f.sync.start(null);
    await eventually(() => Promise.resolve(n >= 12), HANG_GUARD_MS);
    assert.equal(f.sync.leader.address, LEADER);
    assert.ok(!flaky.lines.some((l) => l.includes("now syncing")), flaky.lines.join("\n"));
  } finally {
    await f.cleanup();
  }
});

Deno.test("node sync: views, deltas, policy and the LAN key from any leader are taken, the higher version only", async () => {
  const keys: Uint8Array[] = [];
  const h = await harness({
    start: view(1, [leader, self, leader2, other]),
    nat: { onLanKey: (k) => keys.push(k) },
  });
  try {
    h.sync.start(null);
    const v5 = view(5, [leader, self, leader2, other]);
    // From a member that is no leader: dropped, whatever it says.
    for (const part of viewParts(v5)) h.deliver(part, "10.3.0.3");
    for (const part of policyParts({ version: 2, text: "p" })) h.deliver(part, "10.3.0.3");
    h.deliver({ t: "lankey", k: newLanKey() }, "10.3.0.3");
    assert.equal(h.held().version, 1);
    assert.equal(h.policy(), null);
    assert.equal(keys.length, 0);
    // From the leader not in use: taken.
    for (const part of viewParts(v5)) h.deliver(part, LEADER2);
    assert.equal(h.held().version, 5);
    for (
      const part of deltaParts(5, view(6, [leader, self, leader2]), {
        upsert: [],
        remove: ["K-o"],
      })
    ) h.deliver(part, LEADER2);
    assert.equal(h.held().version, 6);
    assert.equal(h.held().members.length, 3);
    for (const part of policyParts({ version: 3, text: "q" })) h.deliver(part, LEADER2);
    assert.equal(h.policy()?.version, 3);
    const key = newLanKey();
    h.deliver({ t: "lankey", k: key }, LEADER2);
    assert.deepEqual(keys, [decodeLanKey(key)]);
    // A leader behind the other: its older view and policy change nothing.
    for (const part of viewParts(view(4, [leader, self]))) h.deliver(part, LEADER);
    assert.equal(h.held().version, 6);
    for (const part of policyParts({ version: 2, text: "old" })) h.deliver(part, LEADER);
    assert.equal(h.policy()?.version, 3);
    // News from lead-2 is asked of the leader in use.
    h.sent.length = 0;
    h.deliver({ t: "changed", v: 7 }, LEADER2);
    h.deliver({ t: "changed", v: 6, pv: 3 }, LEADER2); // held already: nothing to ask
    assert.deepEqual(h.sent.map(([a, m]) => [a, m.t]), [[LEADER, "hello"]]);
    assert.equal(h.sync.leader.address, LEADER, "taking news moves nothing");
    const file = await h.saved();
    assert.equal(file.view.version, 6);
    assert.equal(file.policy.version, 3);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: a removal counts from any leader, from no other member", async () => {
  const h = await harness({ start: view(1, [leader, self, leader2, other]) });
  try {
    let removed = 0;
    h.sync.onRemoved(() => removed++);
    h.sync.start(null);
    for (const part of viewParts(view(5, [leader, leader2, other]))) h.deliver(part, "10.3.0.3");
    assert.equal(removed, 0, "a member that is no leader cannot remove it");
    assert.equal(h.sync.removed, false);
    for (const part of viewParts(view(5, [leader, leader2, other]))) h.deliver(part, LEADER2);
    assert.equal(removed, 1, "the leader not in use can");
    assert.equal(h.sync.removed, true);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: a saved leader that is no leader online now is replaced at the start and when the view says so", async () => {
  const log = logged();
  // The file names a leader the saved view no longer has as one.
  const h = await harness({
    start: view(3, [{ ...leader, offline: true }, self, leader2]),
    logger: log.logger,
  });
  try {
    assert.equal(h.sync.leader.address, LEADER2, "the first leader online");
    assert.match(
      await log.line(/now syncing/),
      /now syncing with leader lead-2: lead is not a leader online in the saved view/,
    );
    h.sync.start(null);
    assert.equal(h.sent[0][0], LEADER2, "the first hello goes to it");
    // lead is back online: kept in reserve, lead-2 stays in use.
    for (const part of viewParts(view(4, [leader, self, leader2]))) h.deliver(part, LEADER2);
    assert.equal(h.sync.leader.address, LEADER2);
    // lead-2 stops being a leader: the node moves to lead at once.
    const demoted = { ...leader2, role: "node" as const };
    for (const part of viewParts(view(5, [leader, self, demoted]))) h.deliver(part, LEADER2);
    assert.equal(h.sync.leader.address, LEADER);
    assert.ok(log.lines.some((l) => /lead-2 is no longer a leader/.test(l)), log.lines.join("\n"));
    assert.equal(h.sync.isLeader(LEADER2), false, "its word counts no more");
    for (const part of viewParts(view(9, [leader, self]))) h.deliver(part, LEADER2);
    assert.equal(h.held().version, 5);
    assert.equal((await h.saved()).leader.address, LEADER);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: a leader that says its store is unreachable is left for a current one; with none current the node stays", async () => {
  const log = logged();
  const stale = new Set<string>();
  const h = await harness({
    start: view(1, [leader, self, leader2, other]),
    intervalMs: 20,
    logger: log.logger,
    nat: { stale: (a) => stale.has(a) },
  });
  try {
    h.sync.start(null);
    // Current: kept through a few hellos.
    await eventually(() => Promise.resolve(hellosTo(h.sent, LEADER) >= 3), HANG_GUARD_MS);
    assert.equal(h.sync.leader.address, LEADER);
    // Cut off from its store: the others are probed at once and the node moves to lead-2.
    stale.add(LEADER);
    const line = await guarded(log.line(/now syncing with leader/));
    assert.match(line, /now syncing with leader lead-2: lead cannot reach its store/);
    assert.equal(h.sync.leader.address, LEADER2);
    assert.deepEqual(
      h.sync.status().leaders.map((l) => [l.name, l.inUse, l.storeUnreachable ?? false]),
      [["lead", false, true], ["lead-2", true, false]],
    );
    // Both cut off (the store is down for all): neither counts as current, the node stays with
    // lead-2, says so once, and keeps its view: no going round the leaders.
    stale.add(LEADER2);
    await guarded(log.line(/no other leader that does answers/));
    const before = hellosTo(h.sent, LEADER2);
    await eventually(
      () => Promise.resolve(hellosTo(h.sent, LEADER2) >= before + 4 * MISSED_HELLOS),
      HANG_GUARD_MS,
    );
    assert.equal(h.sync.leader.address, LEADER2);
    assert.equal(log.lines.filter((l) => l.includes("now syncing")).length, 1, log.lines.join());
    assert.equal(log.lines.filter((l) => l.includes("no other leader that")).length, 1);
    assert.equal(h.held().version, 1, "the view held is kept");
    // lead reaches its store again: lead-2 is still stale, the node moves back to lead.
    stale.delete(LEADER);
    await eventually(() => Promise.resolve(h.sync.leader.address === LEADER), HANG_GUARD_MS);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: the only leader, cut off from its store, is kept (nowhere else to go), said once", async () => {
  const log = logged();
  const h = await harness({ intervalMs: 20, logger: log.logger, nat: { stale: () => true } });
  try {
    h.sync.start(null);
    await guarded(log.line(/cannot reach its store and no other leader/));
    const before = hellosTo(h.sent, LEADER);
    await eventually(() => Promise.resolve(hellosTo(h.sent, LEADER) > before + 3), HANG_GUARD_MS);
    assert.equal(h.sync.leader.address, LEADER);
    assert.equal(log.lines.filter((l) => l.includes("cannot reach its store")).length, 1);
    assert.equal(h.sync.status().leaders[0].storeUnreachable, true);
  } finally {
    await h.cleanup();
  }
});
