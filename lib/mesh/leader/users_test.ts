import assert from "node:assert/strict";
import type { Member, MembershipView } from "../../members/member.ts";
import { LeaderUsers, USER_WINDOW_MS } from "./users.ts";

const member = (k: string, more: Partial<Member> = {}) =>
  ({ publicKey: k, address: `a-${k}`, role: "node", ...more }) as Member;

function setup(size = 3) {
  let t = 0;
  let members = size;
  const asked: [string, number][] = [];
  const users = new LeaderUsers({
    size: () => members,
    hellosPerSecond: 1,
    now: () => t,
    askPace: (to, ms) => asked.push([to, ms]),
  });
  return { users, asked, tick: (ms: number) => t += ms, grow: (n: number) => members = n };
}

Deno.test("users: members heard lately are served; offline ones, leaders and the silent are not", () => {
  const { users, tick } = setup();
  const view = {
    version: 1,
    members: [member("n1"), member("n2", { offline: true }), member("l2", { role: "leader" })],
  } as unknown as MembershipView;
  for (const k of ["n1", "n2", "l2"]) users.heard(k);
  assert.deepEqual(users.served(view).map((m) => m.publicKey), ["n1"]);
  assert.equal(users.serves("n1"), true);
  assert.equal(users.serves("n3"), false);
  tick(USER_WINDOW_MS + 1);
  assert.deepEqual(users.served(view), []);
  assert.equal(users.serves("n1"), false);
  // Heard again: served again; forgotten: not.
  users.heard("n1");
  assert.equal(users.serves("n1"), true);
  users.forget("n1");
  assert.equal(users.serves("n1"), false);
  // A leader just started counts its online members as users.
  users.seed(view.members);
  assert.deepEqual(users.served(view).map((m) => m.publicKey), ["n1"]);
});

Deno.test("users: a large fleet's slower hello interval widens the window a member counts as a user", () => {
  const { users, tick, grow } = setup();
  users.heard("n1");
  grow(20); // one hello a second for the fleet: 20 s between hellos, a 60 s window
  assert.equal(users.helloInterval(), 20_000);
  tick(USER_WINDOW_MS + 1);
  assert.equal(users.serves("n1"), true);
  tick(30_000);
  assert.equal(users.serves("n1"), false);
});

Deno.test("users: a member is asked for the fleet's interval when it says another; one that says none is not", () => {
  const { users, asked, grow } = setup(4);
  assert.equal(users.helloInterval(), 4000);
  users.pace(member("n1"), 3000, "a-n1");
  users.pace(member("n2"), undefined, "a-n2");
  users.pace(member("n3"), 4000, "a-n3");
  assert.deepEqual(asked, [["a-n1", 4000]]);
  // The fleet shrinks: a slower member is told once.
  grow(3);
  users.pace(member("n1"), 4000, "a-n1");
  users.pace(member("n1"), 4000, "a-n1");
  assert.deepEqual(asked.slice(1), [["a-n1", 3000]]);
});
