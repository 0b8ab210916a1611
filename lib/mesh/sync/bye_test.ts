import assert from "node:assert/strict";
import { BYE_WAIT_MAX_MS, BYE_WAIT_MS, type ByeDeps, byeWaitFor, sayBye } from "./bye.ts";
import type { ControlMessage } from "./protocol.ts";
import { createLogger } from "../../log/logger.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { member } from "../../../tests/fixtures/members.ts";

const LEADER = "10.3.0.1";
const leader = member("lead", LEADER, { publicKey: "K-lead", role: "leader" });
const self = member("me", "10.3.0.2", { publicKey: "K-me" });

function view(members: Member[]): MembershipView {
  return { network: "10.3.0.0/24", version: 1, members };
}

/** A node's bye deps over a fake channel: what is sent and logged is recorded. */
function harness(members: Member[], inSession?: ByeDeps["inSession"]) {
  const sent: [string, ControlMessage][] = [];
  const lines: string[] = [];
  const deps: ByeDeps = {
    channel: { send: (to, msg) => sent.push([to, msg]) },
    logger: createLogger({ sink: (l) => lines.push(l) }),
    publicKey: "K-me",
    view: () => view(members),
    ...(inSession ? { inSession } : {}),
  };
  const byesTo = () => sent.filter(([, m]) => m.t === "bye").map(([a]) => a);
  return { deps, sent, lines, byesTo };
}

Deno.test("bye: a stopping node waits for its bye's answer a second, longer in a mesh of more than 5,000", () => {
  // The leader answers once the node's change is written, in its next batch, which takes longer
  // than a second on a busy leader of 10,000 members.
  assert.equal(byeWaitFor(1), BYE_WAIT_MS);
  assert.equal(byeWaitFor(3000), BYE_WAIT_MS);
  assert.equal(byeWaitFor(5000), BYE_WAIT_MS);
  assert.equal(byeWaitFor(10_000), 2000);
  assert.equal(byeWaitFor(1_000_000), BYE_WAIT_MAX_MS);
});

Deno.test("bye: the bye goes once to every other member online, and to the leader until it answers", async () => {
  const peer = member("peer", "10.3.0.4", { publicKey: "K-peer" });
  const gone = { ...member("gone", "10.3.0.5", { publicKey: "K-gone" }), offline: true as const };
  const h = harness([leader, self, peer, gone]);
  // Never answered: three tries within the wait, then said.
  await sayBye(h.deps, LEADER, new Promise<void>(() => {}), 60);
  assert.deepEqual(h.byesTo(), ["10.3.0.4", LEADER, LEADER, LEADER]);
  assert.ok(h.sent.every(([, m]) => m.t === "bye" && m.k === "K-me"), JSON.stringify(h.sent));
  assert.equal(h.lines.length, 1);
  assert.match(h.lines[0], /did not answer this node's bye/);
});

Deno.test("bye: with sessions on demand the bye goes straight only to the members in session", async () => {
  const peer = member("peer", "10.3.0.4", { publicKey: "K-peer" });
  const cold = member("cold", "10.3.0.6", { publicKey: "K-cold" });
  const h = harness([leader, self, peer, cold], (key) => key === "K-peer");
  await sayBye(h.deps, LEADER, new Promise<void>(() => {}), 60);
  assert.deepEqual(
    h.byesTo(),
    ["10.3.0.4", LEADER, LEADER, LEADER],
    "the leader tells the cold one",
  );
});

Deno.test("bye: the leader's answer ends the tries at once, said in one line", async () => {
  const h = harness([leader, self]);
  let answer = () => {};
  const answered = new Promise<void>((resolve) => answer = resolve);
  // A wait no test reaches: only the answer can end it.
  const saying = sayBye(h.deps, LEADER, answered, 3_600_000);
  assert.deepEqual(h.byesTo(), [LEADER]);
  answer();
  await saying;
  assert.deepEqual(h.byesTo(), [LEADER], "no second try");
  assert.equal(h.lines.length, 1);
  assert.match(h.lines[0], /left the mesh/);
});
