import assert from "node:assert/strict";
import { LeaderChoice, MISSED_HELLOS, OTHERS_PROBED_EVERY } from "./leader_choice.ts";
import type { MembershipView } from "../../members/member.ts";
import { member } from "../../../tests/fixtures/members.ts";
import {
  LEADER,
  leader,
  LEADER2,
  leader2,
  logged,
  other,
  self,
  view,
} from "./testing/node_sync_harness.ts";

const LEADER3 = "10.3.0.10";
const leader3 = member("lead-3", LEADER3, { publicKey: "K-lead-3", role: "leader" });

/**
 * A choice over `start`, probes answered at once as `answers` and `stale` say of each address,
 * and what it probed; `settled()` waits until every probe's answer is taken (the probes a stale
 * answer starts too).
 */
function choice(
  start: MembershipView,
  answers = (_: string) => true,
  stale = (_: string) => false,
) {
  const log = logged();
  let held = start;
  const probed: string[] = [];
  const pending: Promise<unknown>[] = [];
  let changes = 0;
  const c = new LeaderChoice({
    probe: (address) => {
      probed.push(address);
      const p = Promise.resolve(answers(address) ? 1 : null);
      pending.push(p);
      return p;
    },
    stale,
    logger: log.logger,
    publicKey: self.publicKey,
    view: () => held,
    closed: () => false,
    changed: () => changes++,
  }, { publicKey: leader.publicKey, address: LEADER, endpoints: leader.endpoints });
  const settled = async () => {
    // An answer's callback runs before the wait on it: one round a probe it started.
    while (pending.length) await Promise.all(pending.splice(0));
  };
  const hellos: string[] = [];
  const tick = async () => {
    c.tick(() => hellos.push(c.leader.address), 1000);
    await settled();
  };
  const apply = (v: MembershipView, removed = false) => {
    held = v;
    c.know(v);
    c.follow(removed);
  };
  return { c, log, probed, hellos, tick, settled, apply, changes: () => changes };
}

Deno.test("leader choice: the saved leader while online; else the first online, said in one line", () => {
  const kept = choice(view(1, [leader, self, leader2]));
  assert.equal(kept.c.leader.address, LEADER);
  const gone = choice(view(1, [{ ...leader, offline: true }, self, leader2]));
  assert.equal(gone.c.leader.address, LEADER2);
  assert.match(
    gone.log.lines.join("\n"),
    /now syncing with leader lead-2: lead is not a leader online/,
  );
  assert.equal(gone.changes(), 0, "the sync saves its file itself at the start");
  assert.equal(gone.c.isLeader(LEADER), true, "still a leader of the view");
  assert.equal(gone.c.isLeader(other.address), false);
});

Deno.test("leader choice: after MISSED_HELLOS unanswered, the next one that answered; a message counts as an answer", async () => {
  const t = choice(view(1, [leader, self, leader2, leader3]), (a) => a !== LEADER && a !== LEADER2);
  t.c.probe(true, 1000);
  await t.settled();
  assert.deepEqual(t.probed, [LEADER, LEADER2, LEADER3]);
  // A message from the leader in use is heard, as an answer to its probe is.
  for (let i = 0; i < 3 * MISSED_HELLOS; i++) {
    t.c.heardFrom(LEADER);
    await t.tick();
  }
  assert.equal(t.c.leader.address, LEADER);
  for (let i = 0; i < MISSED_HELLOS; i++) await t.tick();
  // lead-2 is next in the view's order, but lead-3 answered its probe: it goes first.
  assert.equal(t.c.leader.address, LEADER3);
  assert.equal(t.hellos.at(-1), LEADER3, "the hello of that interval goes to the new one");
  assert.equal(t.changes(), 1);
  assert.match(t.log.lines.join("\n"), /now syncing with leader lead-3: lead stopped answering/);
  const st = t.c.status();
  assert.equal(st.leader.name, "lead-3");
  assert.deepEqual(st.leaders.map((l) => [l.name, l.inUse, l.answers]), [
    ["lead", false, false],
    ["lead-2", false, false],
    ["lead-3", true, true],
  ]);
});

Deno.test("leader choice: the others are probed every OTHERS_PROBED_EVERY hellos; the one in use every hello", async () => {
  const t = choice(view(1, [leader, self, leader2]));
  for (let i = 0; i < OTHERS_PROBED_EVERY; i++) await t.tick();
  assert.equal(t.probed.filter((a) => a === LEADER).length, OTHERS_PROBED_EVERY);
  assert.equal(t.probed.filter((a) => a === LEADER2).length, 1);
  assert.equal(t.c.rtt, 1);
});

Deno.test("leader choice: a stale leader has the others probed at once and is left for a current one; none current: it stays, said once", async () => {
  let stale = new Set([LEADER]);
  const t = choice(view(1, [leader, self, leader2]), () => true, (a) => stale.has(a));
  t.c.probe(false, 1000);
  await t.settled();
  assert.deepEqual(t.probed, [LEADER, LEADER2], "the others asked at once");
  assert.equal(t.c.status().leaders[0].storeUnreachable, true);
  await t.tick();
  assert.equal(t.c.leader.address, LEADER2);
  assert.match(t.log.lines.join("\n"), /lead-2: lead cannot reach its store/);
  // Every leader cut off: nowhere better to go.
  stale = new Set([LEADER, LEADER2]);
  await t.tick();
  await t.tick();
  await t.tick();
  assert.equal(t.c.leader.address, LEADER2);
  const said = t.log.lines.filter((l) => /cannot reach its store and no other/.test(l));
  assert.equal(said.length, 1);
});

Deno.test("leader choice: a view where the leader in use is no leader, or offline, moves on; not once removed", () => {
  const t = choice(view(1, [leader, self, leader2]));
  t.apply(view(2, [{ ...leader, role: "node" }, self, leader2]), true);
  assert.equal(t.c.leader.address, LEADER, "a removed node moves nowhere");
  t.apply(view(3, [{ ...leader, role: "node" }, self, leader2]));
  assert.equal(t.c.leader.address, LEADER2);
  assert.match(t.log.lines.join("\n"), /lead-2: lead is no longer a leader/);
  t.apply(view(4, [leader, self, { ...leader2, offline: true }]));
  assert.equal(t.c.leader.address, LEADER);
  assert.match(t.log.lines.join("\n"), /now syncing with leader lead: lead-2 stopped \(offline\)/);
  // Its record moved: the new address is the one in use.
  t.apply(view(5, [{ ...leader, address: "10.3.0.11" }, self, leader2]));
  assert.equal(t.c.leader.address, "10.3.0.11");
  assert.equal(t.c.isLeader(LEADER), false);
});
