/**
 * The leader's document as keys: round trip, what a change writes, corrupt keys refused, and a
 * batch's key changes from what it changed equal to the whole documents compared.
 */
import assert from "node:assert/strict";
import type { LeaderFile } from "../state/state.ts";
import { RecordMap } from "../state/record_map.ts";
import { newLanKey } from "../state/lan_key.ts";
import type { Member } from "../../members/member.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import {
  applyKeyChanges,
  diffKeys,
  fromKeys,
  type KeyChanges,
  keyChanges,
  type KeyValues,
  toKeys,
} from "./keys.ts";
import { BatchMaker, firstLeaderDoc } from "../../../tests/fixtures/leader_batches.ts";
import { seededRandom } from "../../../tests/fixtures/prng.ts";

function member(name: string, key: string, address: string, role: Member["role"]): Member {
  return {
    name,
    publicKey: key,
    address,
    endpoints: ["192.0.2.1:51820"],
    labels: {},
    role,
    services: [],
    joinedAt: 1,
  };
}

// Keys as WireGuard keys are: base64, with slashes (the key is everything after `members/`).
const DOC: LeaderFile = {
  format: 1,
  network: "10.77.0.0/24",
  network6: "fd00:77::/64",
  version: 5,
  members: [
    member("leader", "zz/leader+key=", "10.77.0.1", "leader"),
    member("b", "bb/key=", "10.77.0.3", "node"),
    member("a", "aa/key=", "10.77.0.2", "node"),
  ],
  tokens: [{
    id: "0a0b0c0d0e0f",
    secretHash: "h",
    createdAt: 1,
    expiresAt: 2,
    usesLeft: 1,
    labels: { role: "edge" },
    revoked: false,
  }],
  joins: RecordMap.of({ "bb/key=": { token: "0a0b0c0d0e0f", at: 1, heard: false, time: 1 } }),
  left: { "gone": { time: 1, at: 2, removedToken: "x" } },
  policy: { version: 2, text: "allow all" },
  lanKey: newLanKey(),
  leases: { last: 3, held: { web: { token: 3, holder: generateKeyPair().publicKey } } },
};

const json = (d: LeaderFile) => JSON.parse(JSON.stringify(d));

/** A copy to edit (structuredClone does not copy a RecordMap's entries). */
function clone(d: LeaderFile): LeaderFile {
  return { ...structuredClone({ ...d, joins: undefined }), joins: new RecordMap(d.joins) };
}

Deno.test("keys: a document round-trips through its keys, members and tokens in order", () => {
  const kv = toKeys(DOC);
  assert.equal(kv.get("alloc/10.77.0.3"), JSON.stringify("bb/key="));
  assert.ok(kv.has("members/zz/leader+key="));
  // As JSON: the join records are a RecordMap, whose entries deepEqual does not see.
  assert.deepEqual(json(fromKeys(kv, "etcd")), json(DOC));
});

Deno.test("keys: a join writes its member, address, token and join record, and the version", () => {
  const next = clone(DOC);
  next.members.push(member("c", "cc/key=", "10.77.0.4", "node"));
  next.tokens[0].usesLeft = 0;
  next.joins.set("cc/key=", { token: "0a0b0c0d0e0f", at: 3, heard: false, time: 3 });
  next.version = 6;
  const d = diffKeys(toKeys(DOC), toKeys(next));
  assert.deepEqual(d.put.map(([k]) => k).sort(), [
    "alloc/10.77.0.4",
    "joins/cc/key=",
    "members/cc/key=",
    "meta",
    "tokens/0a0b0c0d0e0f",
  ]);
  assert.deepEqual(d.created.sort(), ["alloc/10.77.0.4", "joins/cc/key=", "members/cc/key="]);
  assert.deepEqual(d.delete, []);
  // A removal deletes its member, address and join record.
  const removed = clone(DOC);
  removed.members.splice(1, 1);
  removed.joins.delete("bb/key=");
  const r = diffKeys(toKeys(DOC), toKeys(removed));
  assert.deepEqual(r.delete.sort(), ["alloc/10.77.0.3", "joins/bb/key=", "members/bb/key="]);
  assert.deepEqual(r.put, []);
});

Deno.test("keys: corrupt or inconsistent keys are an error naming the store, never a reset", () => {
  const bad = (edit: (kv: Map<string, string>) => void, what: RegExp) => {
    const kv = toKeys(DOC);
    edit(kv);
    assert.throws(() => fromKeys(kv, "etcd://198.51.100.1:2379"), (e: Error) => {
      assert.match(e.message, /^etcd:\/\/198\.51\.100\.1:2379: corrupt state/);
      assert.match(e.message, what);
      return true;
    });
  };
  bad((kv) => kv.delete("meta"), /no meta/);
  bad((kv) => kv.set("tokens/x", "{"), /tokens\/x is not JSON/);
  bad((kv) => kv.set("alloc/10.77.0.2", JSON.stringify("bb/key=")), /alloc\/10\.77\.0\.2/);
  bad((kv) => kv.set("alloc/10.77.0.9", JSON.stringify("nobody")), /has no member/);
  bad((kv) => kv.set("members/x", JSON.stringify({ name: 1 })), /members/);
  bad((kv) => kv.set("surprise", "1"), /unknown key surprise/);
});

/** A commit's changes in one order (a transaction's operations have none). */
function sorted(c: KeyChanges) {
  return {
    put: [...c.put].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
    created: [...c.created].sort(),
    delete: [...c.delete].sort(),
  };
}

const entries = (kv: KeyValues) => [...kv].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);

Deno.test("keys: a batch's key changes are what comparing the whole documents gives, step after step", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const maker = new BatchMaker(seededRandom(seed));
    let prev = firstLeaderDoc();
    // The store's keys, kept up to date in place as a store's cache is.
    const keys = toKeys(prev);
    for (let step = 0; step < 300; step++) {
      const next = maker.batch(prev);
      const whole = diffKeys(toKeys(prev), toKeys(next));
      const changes = keyChanges(prev, next, keys);
      assert.ok(changes, "a batch's copy is compared record by record");
      assert.deepEqual(sorted(changes), sorted(whole), `seed ${seed}, step ${step}`);
      applyKeyChanges(keys, changes);
      assert.deepEqual(entries(keys), entries(toKeys(next)), `seed ${seed}, step ${step}`);
      // Once committed the copy is the state (the core settles its join records).
      next.joins.settle();
      prev = next;
    }
    // The keys kept in place read back as the document. Its members' order is the keys' (a key
    // put again keeps its place, as in a store, where a member who left and joined again in one
    // batch keeps its first creation); the document lists such a member last.
    const byKey = (d: LeaderFile) => {
      const o = json(d);
      o.members.sort((a: Member, b: Member) => a.publicKey < b.publicKey ? -1 : 1);
      return o;
    };
    assert.deepEqual(byKey(fromKeys(keys, "etcd")), byKey(prev));
  }
});

Deno.test("keys: a document that is not a batch's copy of the one before is compared whole", () => {
  const maker = new BatchMaker(seededRandom(9));
  const prev = maker.batch(firstLeaderDoc());
  prev.joins.settle();
  const next = maker.batch(prev);
  // Join records copied rather than forked (another store's, a document read again): no fork.
  const copied = { ...next, joins: new RecordMap(next.joins) };
  assert.equal(keyChanges(prev, copied, toKeys(prev)), null);
  // The same document committed again, its records edited in place: not a copy either.
  assert.equal(keyChanges(prev, prev, toKeys(prev)), null);
});
