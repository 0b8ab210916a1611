import assert from "node:assert/strict";
import { Membership } from "./membership.ts";
import type { MembershipView } from "../members/member.ts";
import { member } from "../../tests/fixtures/members.ts";

function view(version: number, names: string[]): MembershipView {
  return {
    network: "10.0.0.0/24",
    version,
    members: names.map((n, i) => member(n, `10.0.0.${i + 1}`, { publicKey: `key-${n}` })),
  };
}

/** A membership whose targets record what they were handed, in order. */
function recorded(start: MembershipView) {
  const calls: string[] = [];
  const m = new Membership(start, {
    peers: { apply: (v) => calls.push(`peers ${v.version}`) },
    policy: { membersChanged: (v) => calls.push(`policy ${v.version}`) },
    parts: { viewChanged: (v) => calls.push(`parts ${v.version}`) },
  });
  m.subscribe((v) => calls.push(`listener ${v.version}`));
  return { m, calls };
}

Deno.test("membership: a new view goes to the peers, the policy, the parts, then the subscribers", () => {
  const { m, calls } = recorded(view(1, ["a"]));
  const next = view(2, ["a", "b"]);
  m.apply(next);
  assert.deepEqual(calls, ["peers 2", "policy 2", "parts 2", "listener 2"]);
  assert.equal(m.view, next);
  assert.equal(m.member("key-b")?.name, "b");
  assert.equal(m.member("key-c"), undefined);
});

Deno.test("membership: the same version reaches subscribers only when announced", () => {
  const start = view(3, ["a"]);
  const { m, calls } = recorded(start);
  m.apply(start);
  assert.deepEqual(calls, ["peers 3", "policy 3"], "no news, no parts, no listeners");
  calls.length = 0;
  m.apply(start, true);
  assert.deepEqual(calls, ["peers 3", "policy 3", "parts 3", "listener 3"]);
});

Deno.test("membership: an unsubscribed listener hears nothing more", () => {
  const m = new Membership(view(1, []), {
    peers: { apply: () => {} },
    policy: { membersChanged: () => {} },
    parts: { viewChanged: () => {} },
  });
  const heard: number[] = [];
  const stop = m.subscribe((v) => heard.push(v.version));
  m.apply(view(2, []));
  stop();
  m.apply(view(3, []));
  assert.deepEqual(heard, [2]);
});

Deno.test("membership: a change is passed on only from the view held", () => {
  const got: (number | null)[] = [];
  const m = new Membership(view(1, ["a"]), {
    peers: { apply: () => {} },
    policy: { membersChanged: () => {} },
    parts: { viewChanged: (_v, change) => got.push(change?.from ?? null) },
  });
  const b = view(2, ["a", "b"]).members[1];
  m.apply(view(2, ["a", "b"]), false, { from: 1, upsert: [b], remove: [] });
  // From a view this membership never held: the parts take the view whole.
  m.apply(view(4, ["a", "b"]), false, { from: 3, upsert: [], remove: [] });
  m.apply(view(5, ["a"]), false, { from: 4, upsert: [], remove: ["key-b"] });
  m.apply(view(6, ["a"]));
  assert.deepEqual(got, [1, null, 4, null]);
});
