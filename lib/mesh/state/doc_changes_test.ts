/** What a commit changed of the leader's document, record by record. */
import assert from "node:assert/strict";
import type { Member } from "../../members/member.ts";
import { keyedChanges, memberChanges } from "./doc_changes.ts";

function m(publicKey: string, address = "10.9.0.2"): Member {
  return {
    name: publicKey,
    publicKey,
    address,
    endpoints: [],
    labels: {},
    role: "node",
    services: [],
    joinedAt: 1,
  };
}

const keys = (c: ReturnType<typeof memberChanges>) => ({
  set: c.set.map((s) => `${s.was?.publicKey ?? "-"}>${s.now.publicKey}`),
  gone: c.gone.map((g) => g.publicKey),
});

Deno.test("doc changes: members replaced in place, joined, removed and joined again, by identity", () => {
  const [a, b, c, d] = ["A", "B", "C", "D"].map((k) => m(k));
  assert.deepEqual(keys(memberChanges([a, b, c], [a, b, c])), { set: [], gone: [] });
  // Replaced where it is, and two joins appended: one pass side by side.
  const b2 = { ...b, endpoints: ["198.51.100.1:1"] };
  assert.deepEqual(keys(memberChanges([a, b, c], [a, b2, c, d])), {
    set: ["B>B", "->D"],
    gone: [],
  });
  // A removal moves the later ones down: they are the same records, not changes.
  assert.deepEqual(keys(memberChanges([a, b, c, d], [a, c, d])), { set: [], gone: ["B"] });
  // Removed and joined again in one batch (it goes last): replaced, with the old record given.
  const b3 = m("B", "10.9.0.9");
  const c3 = memberChanges([a, b, c], [a, c, b3]);
  assert.deepEqual(keys(c3), { set: ["B>B"], gone: [] });
  assert.equal(c3.set[0].was, b);
  // Everything after the first difference by key: gone in the old list's order.
  assert.deepEqual(keys(memberChanges([a, b, c, d], [d])), { set: [], gone: ["A", "B", "C"] });
});

Deno.test("doc changes: records by key new, replaced and gone; the same object changed nothing", () => {
  const r1 = { at: 1 };
  const r2 = { at: 2 };
  const prev = { x: r1, y: r2 };
  assert.deepEqual(keyedChanges(prev, prev), { set: [], removed: [] });
  assert.deepEqual(keyedChanges(prev, { ...prev }), { set: [], removed: [] });
  const r3 = { at: 3 };
  assert.deepEqual(keyedChanges(prev, { y: { ...r2 }, z: r3 }), {
    set: [["y", { at: 2 }], ["z", r3]],
    removed: ["x"],
  });
  assert.deepEqual(keyedChanges(undefined, { z: r3 }), { set: [["z", r3]], removed: [] });
  assert.deepEqual(keyedChanges(prev, undefined), { set: [], removed: ["x", "y"] });
});
