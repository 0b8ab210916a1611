/**
 * Another leader's commit applied to the document by what it changed: after each of many random
 * commits the document is exactly what the whole key set parses to, and what a leader's commit
 * cannot be is left to the whole parse (null).
 */
import assert from "node:assert/strict";
import type { LeaderFile } from "../state/state.ts";
import { diffKeys, fromKeys, type KeyValues, META_KEY, metaValue, toKeys } from "./keys.ts";
import { docAfterChanges, type KeyChange } from "./key_updates.ts";
import { BatchMaker, firstLeaderDoc } from "../../../tests/fixtures/leader_batches.ts";
import { seededRandom } from "../../../tests/fixtures/prng.ts";

/** The keys and values a commit of `next` on `keys` writes (meta always), in a random order. */
function commitOf(keys: KeyValues, next: LeaderFile, rnd: () => number): KeyChange[] {
  const d = diffKeys(keys, toKeys(next));
  const out: KeyChange[] = [...d.put];
  if (!d.put.some(([k]) => k === META_KEY)) out.push([META_KEY, metaValue(next)]);
  for (const k of d.delete) out.push([k, null]);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Applies a revision's changes to keys, as the store's cache does. */
function applyTo(keys: KeyValues, changes: readonly KeyChange[]): void {
  for (const [k, v] of changes) {
    if (v === null) keys.delete(k);
    else keys.set(k, v);
  }
}

/** The two documents are the same: fields, records (in order), join and departure order. */
function assertSame(actual: LeaderFile, expected: LeaderFile, what: string): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), what);
  const { joins: aj, ...a } = actual;
  const { joins: ej, ...e } = expected;
  assert.deepEqual(a, e, what);
  assert.deepEqual([...aj.entries()], [...ej.entries()], what);
  assert.deepEqual(Object.keys(actual.left ?? {}), Object.keys(expected.left ?? {}), what);
}

Deno.test("key updates: after each of another leader's commits the document is what the whole key set parses to", () => {
  let applied = 0;
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const rnd = seededRandom(100 + seed);
    const maker = new BatchMaker(rnd);
    // The other leader's document, and the store's keys as this one's cache keeps them.
    let theirs = firstLeaderDoc();
    const keys = toKeys(theirs);
    // What this leader holds: loaded first, then kept up to date by each commit's changes.
    let doc = fromKeys(keys, "etcd");
    for (let step = 0; step < 300; step++) {
      const next = maker.batch(theirs, 1 + Math.floor(rnd() * 8));
      const changes = commitOf(keys, next, rnd);
      const before = doc;
      const after = docAfterChanges(doc, keys, changes, "etcd");
      assert.ok(after, `seed ${seed}, step ${step}: a leader's commit is followed`);
      applyTo(keys, changes);
      assertSame(after, fromKeys(keys, "etcd"), `seed ${seed}, step ${step}`);
      // Records unchanged are the same objects (the leader's indexes and texts stay valid).
      const kept = new Set(before.members);
      const same = after.members.filter((m) => kept.has(m)).length;
      assert.ok(same >= Math.min(before.members.length, after.members.length) - 8, `step ${step}`);
      // The other leader's commit won: its copy is its state now.
      next.joins.settle();
      theirs = next;
      doc = after;
      applied++;
    }
  }
  assert.equal(applied, 1800);
});

Deno.test("key updates: the document before is left as it was", () => {
  const maker = new BatchMaker(seededRandom(7));
  let theirs = firstLeaderDoc();
  const keys = toKeys(theirs);
  for (let i = 0; i < 20; i++) {
    const next = maker.batch(theirs);
    applyTo(keys, commitOf(keys, next, Math.random));
    next.joins.settle();
    theirs = next;
  }
  const doc = fromKeys(keys, "etcd");
  // Its join records as a map: a settled fork's parent reads the same records, not always in
  // the same order (../state/record_map.ts).
  const records = (d: LeaderFile) => new Map(d.joins.entries());
  const text = JSON.stringify({ ...doc, joins: null });
  const joins = records(doc);
  for (let i = 0; i < 20; i++) {
    const next = maker.batch(theirs, 8);
    const changes = commitOf(keys, next, Math.random);
    // Each a commit on the same document (its keys are not moved on).
    assert.ok(docAfterChanges(doc, keys, changes, "etcd"));
    assert.equal(JSON.stringify({ ...doc, joins: null }), text);
    assert.deepEqual(records(doc), joins);
    next.joins.settle();
  }
});

Deno.test("key updates: what is not a leader's commit on these keys is left to the whole parse", () => {
  const maker = new BatchMaker(seededRandom(11));
  let theirs = firstLeaderDoc();
  const keys = toKeys(theirs);
  for (let i = 0; i < 30; i++) {
    const next = maker.batch(theirs, 4);
    applyTo(keys, commitOf(keys, next, Math.random));
    next.joins.settle();
    theirs = next;
  }
  const doc = fromKeys(keys, "etcd");
  const member = doc.members[doc.members.length - 1];
  const other = doc.members[1];
  const meta = metaValue(doc);
  const cases: [string, KeyChange[], boolean][] = [
    // [what, changes, whether the whole parse refuses them too]
    [
      "no meta",
      [[`members/${member.publicKey}`, JSON.stringify({ ...member, endpoints: [] })]],
      false,
    ],
    ["a value that does not parse", [[META_KEY, meta], ["policy", "{"]], true],
    ["an unknown key", [[META_KEY, meta], ["surprise", "1"]], true],
    ["a key named twice", [[META_KEY, meta], [META_KEY, meta]], false],
    [
      "meta with a field a leader does not write",
      [[META_KEY, meta.replace("{", '{"x":1,')]],
      false,
    ],
    ["a member that fails the checks", [
      [META_KEY, meta],
      [`members/${member.publicKey}`, JSON.stringify({ ...member, endpoints: "x" })],
    ], true],
    ["a member filed under another key", [
      [META_KEY, meta],
      [`members/${member.publicKey}`, JSON.stringify({ ...member, publicKey: "other=" })],
    ], false],
    [
      "a member gone, its address kept",
      [[META_KEY, meta], [`members/${member.publicKey}`, null]],
      true,
    ],
    ["an address given to another member", [
      [META_KEY, meta],
      [`alloc/${member.address}`, JSON.stringify(other.publicKey)],
    ], true],
    ["a member moved without its address", [
      [META_KEY, meta],
      [`members/${member.publicKey}`, JSON.stringify({ ...member, address: "10.77.200.200" })],
    ], true],
    ["a member without its address", [
      [META_KEY, meta],
      ["members/new=", JSON.stringify({ ...member, publicKey: "new=", address: "10.77.200.202" })],
    ], true],
    [
      "an address freed, its member kept",
      [[META_KEY, meta], [`alloc/${member.address}`, null]],
      true,
    ],
    [
      "an address of nobody",
      [[META_KEY, meta], ["alloc/10.77.200.201", JSON.stringify("nobody=")]],
      true,
    ],
    ["a delete of a key that is not there", [[META_KEY, meta], ["tokens/none", null]], false],
    ["meta gone", [[META_KEY, null]], true],
    // JSON null is a value, not a delete.
    ["a member put as null", [
      [META_KEY, meta],
      [`members/${member.publicKey}`, "null"],
      [`alloc/${member.address}`, null],
    ], true],
    ["an address put as null", [[META_KEY, meta], [`alloc/${member.address}`, "null"]], true],
    ["a join record put as null", [[META_KEY, meta], [`joins/${member.publicKey}`, "null"]], true],
  ];
  for (const [what, changes, refused] of cases) {
    assert.equal(docAfterChanges(doc, keys, changes, "etcd"), null, what);
    const after = new Map(keys);
    applyTo(after, changes);
    if (refused) assert.throws(() => fromKeys(after, "etcd"), /corrupt state/, what);
  }
  // A member moved with its address, and a valid one of each kind, are followed.
  const moved = { ...member, address: "10.77.200.200" };
  const ok: KeyChange[] = [
    [META_KEY, meta],
    [`members/${member.publicKey}`, JSON.stringify(moved)],
    [`alloc/${member.address}`, null],
    ["alloc/10.77.200.200", JSON.stringify(member.publicKey)],
  ];
  const after = docAfterChanges(doc, keys, ok, "etcd");
  assert.ok(after);
  applyTo(keys, ok);
  assertSame(after, fromKeys(keys, "etcd"), "moved");
  // The last departure gone: the document has none (as the whole parse gives).
  const noneLeft: KeyChange[] = [
    [META_KEY, meta],
    ...Object.keys(after.left ?? {}).map((k): KeyChange => [`left/${k}`, null]),
  ];
  assert.ok(noneLeft.length > 1);
  const cleared = docAfterChanges(after, keys, noneLeft, "etcd");
  assert.ok(cleared);
  applyTo(keys, noneLeft);
  assert.equal("left" in cleared, false);
  assertSame(cleared, fromKeys(keys, "etcd"), "no departures");
});
