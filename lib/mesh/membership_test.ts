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

Deno.test("membership: members changed at the same version reach the parts with the next view, whole", () => {
  // A part that keeps the members it was told of, by change when it has one.
  const held = new Map<string, string>();
  const m = new Membership(view(1, ["a"]), {
    peers: { apply: () => {} },
    policy: { membersChanged: () => {} },
    parts: {
      viewChanged: (v, change) => {
        if (change === null) {
          held.clear();
          for (const r of v.members) held.set(r.publicKey, r.address);
        } else {
          for (const k of change.remove) held.delete(k);
          for (const r of change.upsert) held.set(r.publicKey, r.address);
        }
      },
    },
  });
  m.apply(m.view, true);
  // Another leader's commit adopted at version 1 added b; version 2 then adds c.
  const same = view(1, ["a", "b"]);
  same.members[0] = m.view.members[0];
  m.apply(same, false, { from: 1, upsert: [], remove: [] });
  const next = {
    ...same,
    version: 2,
    members: [...same.members, view(2, ["a", "b", "c"]).members[2]],
  };
  m.apply(next, false, { from: 1, upsert: [next.members[2]], remove: [] });
  assert.deepEqual(
    [...held].sort(),
    next.members.map((r) => [r.publicKey, r.address]).sort(),
  );
  // From there, changes go on as changes.
  const got: (number | null)[] = [];
  const m2 = new Membership(next, {
    peers: { apply: () => {} },
    policy: { membersChanged: () => {} },
    parts: { viewChanged: (_v, c) => got.push(c?.from ?? null) },
  });
  m2.apply({ ...next, members: [...next.members] });
  m2.apply({ ...next, version: 3 }, false, { from: 2, upsert: [], remove: [] });
  assert.deepEqual(got, [2], "the same records at the same version leave the parts in step");
});
