import assert from "node:assert/strict";
import { hostRange, MemberIndex, MemberIndexes } from "./member_index.ts";
import type { Member } from "../../members/member.ts";

function member(name: string, address: string, role: "leader" | "node" = "node"): Member {
  return {
    name,
    publicKey: `key-${name}`,
    address,
    endpoints: [],
    labels: {},
    role,
    services: [],
    joinedAt: 0,
  };
}

const RANGE = hostRange("10.1.0.0/29"); // hosts .1 to .6

/** The index agrees with a plain search of its list, for every member and names it lacks. */
function agrees(ix: MemberIndex, absent: string[] = []): void {
  ix.list.forEach((m) => {
    assert.equal(ix.byKey(m.publicKey), m);
    assert.equal(ix.byAddress(m.address), m);
    assert.equal(ix.byName(m.name), m);
    assert.equal(ix.byAddressOrName(m.name), m);
    assert.equal(ix.byAddressOrName(m.address), m);
  });
  for (const a of absent) assert.equal(ix.byName(a), undefined);
  assert.equal(ix.size, ix.list.length);
}

Deno.test("member index: lookups by key, address and name follow adds, replacements and removals", () => {
  const list = [member("lead", "10.1.0.1", "leader"), member("a", "10.1.0.2")];
  const ix = new MemberIndex(list, RANGE);
  agrees(ix);
  ix.add(member("b", "10.1.0.3"));
  ix.add(member("c", "10.1.0.4"));
  agrees(ix);
  // A replaced record (the same key) is found in its place, under its new name.
  ix.replace({ ...list[2], name: "b2", endpoints: ["192.0.2.1:1"] });
  assert.equal(list[2].name, "b2");
  agrees(ix, ["b"]);
  // A removal from the middle moves the later members' positions down.
  assert.equal(ix.remove("key-a")?.name, "a");
  assert.deepEqual(list.map((m) => m.name), ["lead", "b2", "c"]);
  agrees(ix, ["a"]);
  assert.equal(ix.byKey("key-a"), undefined);
  assert.equal(ix.byAddress("10.1.0.2"), undefined);
  assert.equal(ix.remove("key-a"), undefined, "a second removal finds nothing");
  assert.deepEqual([...ix.leaderKeys()], ["key-lead"]);
  assert.throws(() => ix.add(member("c", "10.1.0.5")), /in the list/);
  assert.throws(() => ix.replace(member("zz", "10.1.0.5")), /not in the list/);
});

Deno.test("member index: the lowest free host address, reused first once freed, none when full", () => {
  const ix = new MemberIndex([member("lead", "10.1.0.1", "leader")], RANGE);
  const take = (name: string) => {
    const a = ix.lowestFree();
    if (a) ix.add(member(name, a));
    return a;
  };
  assert.deepEqual(["a", "b", "c"].map(take), ["10.1.0.2", "10.1.0.3", "10.1.0.4"]);
  ix.remove("key-b");
  ix.remove("key-a");
  assert.equal(take("d"), "10.1.0.2", "the lowest freed address comes first");
  assert.equal(take("e"), "10.1.0.3");
  assert.equal(take("f"), "10.1.0.5");
  assert.equal(take("g"), "10.1.0.6");
  // Neither the broadcast (.7) nor the network address (.0) is ever handed out.
  assert.equal(take("h"), null);
  ix.remove("key-c");
  assert.equal(take("h"), "10.1.0.4");
  // A list built with gaps (a stored state) finds them too.
  const gappy = new MemberIndex([member("x", "10.1.0.1"), member("y", "10.1.0.3")], RANGE);
  assert.equal(gappy.lowestFree(), "10.1.0.2");
});

Deno.test("member index: a fork is the copy's own: changes to it leave the parent as it was", () => {
  const parentList = [member("lead", "10.1.0.1", "leader"), member("a", "10.1.0.2")];
  const parent = new MemberIndex(parentList, RANGE);
  const copy = [...parentList];
  const fork = new MemberIndex(copy, RANGE, parent);
  fork.remove("key-a");
  fork.add(member("b", fork.lowestFree()!));
  assert.equal(copy[1].address, "10.1.0.2", "the freed address went to b in the fork");
  agrees(fork, ["a"]);
  agrees(parent, ["b"]);
  assert.equal(parent.byAddress("10.1.0.2")?.name, "a");
  assert.equal(parent.lowestFree(), "10.1.0.3");
});

Deno.test("member indexes: one index a list; a copy's forks its parent's and agrees with it", () => {
  const ixs = new MemberIndexes(RANGE);
  const list = [member("l", "10.1.0.1", "leader"), member("a", "10.1.0.2")];
  const ix = ixs.of(list);
  assert.equal(ixs.of(list), ix, "made once per list");
  const copy = [...list];
  ixs.copied(list, copy);
  const fork = ixs.of(copy);
  assert.notEqual(fork, ix);
  fork.add(member("b", fork.lowestFree()!));
  agrees(fork);
  agrees(ix, ["b"]);
  assert.equal(copy.length, 3);
  assert.equal(list.length, 2, "the parent's list is not changed by its copy's index");
  // A list never said to be a copy gets an index of its own, built.
  const other = [...list];
  agrees(ixs.of(other));
});

Deno.test("member indexes: a fork holds what its copy changed, and takes its parent's maps once it is the state", () => {
  const ixs = new MemberIndexes(hostRange("10.2.0.0/16"));
  const list = [member("lead", "10.2.0.1", "leader")];
  for (let i = 2; i < 1002; i++) list.push(member(`n${i}`, `10.2.${i >> 8}.${i & 255}`));
  const parent = ixs.of(list);
  // A batch of changes on a copy, as the change queue makes them.
  const copy = [...list];
  ixs.copied(list, copy);
  const fork = ixs.of(copy);
  fork.add(member("new", fork.lowestFree()!));
  fork.replace({ ...copy[4], name: "renamed" }); // n5
  // Three entries for the member added, four for the one renamed (its key, address and new
  // name, its old name gone): not three maps of a thousand.
  assert.equal(fork.ownEntries, 7);
  agrees(fork, ["n5"]);
  // While the copy is written, the state's index answers for the state.
  agrees(parent, ["new", "renamed"]);
  assert.equal(parent.lowestFree(), "10.2.3.234");
  // The copy is the state now: its index is whole, the parent's (read again) built anew.
  ixs.committed(copy);
  assert.equal(fork.ownEntries, null);
  agrees(fork, ["n5"]);
  agrees(parent, ["new", "renamed"]);
  // The next batches fork from it in turn, a removal among them.
  let state = copy;
  for (let round = 0; round < 3; round++) {
    const next = [...state];
    ixs.copied(state, next);
    const ix = ixs.of(next);
    ix.add(member(`r${round}`, ix.lowestFree()!));
    assert.equal(ix.ownEntries, 3);
    // A removal moves the later members' positions down (rare: a node removed).
    if (round === 1) ix.remove("key-n7");
    ixs.committed(next);
    agrees(ix, round >= 1 ? ["n7"] : []);
    state = next;
  }
  assert.equal(ixs.of(state).byName("r2")?.address, "10.2.0.7", "the address n7 freed");
  // A commit whose edits never read the index: the copy's is made from the parent's maps.
  const quiet = [...state];
  ixs.copied(state, quiet);
  ixs.committed(quiet);
  agrees(ixs.of(quiet));
  agrees(ixs.of(state));
});

/** What an index answers: every lookup of `keys`, `addresses`, `names` and `services`. */
function answers(
  ix: MemberIndex,
  keys: string[],
  addresses: string[],
  names: string[],
  services: string[],
): unknown {
  return {
    size: ix.size,
    byKey: keys.map((k) => ix.byKey(k)),
    byAddress: addresses.map((a) => ix.byAddress(a)),
    byName: names.map((n) => ix.byName(n)),
    services: services.map((s) => ix.offersService(s)),
    leaders: [...ix.leaderKeys()].sort(),
    lowestFree: ix.lowestFree(),
  };
}

/** A small deterministic random source (xorshift), so a failure repeats. */
function random(seed: number): (n: number) => number {
  let x = seed | 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

Deno.test("member index: one adopted from the previous document's equals one built from the list", () => {
  const range = hostRange("10.2.0.0/26");
  for (let seed = 1; seed <= 400; seed++) {
    const r = random(seed);
    let serial = 0;
    const fresh = (used: Set<string>): Member => {
      let a: string;
      do a = `10.2.0.${1 + r(62)}`; while (used.has(a));
      used.add(a);
      const m = member(`m${seed}-${serial++}`, a, r(5) === 0 ? "leader" : "node");
      const svc = ["web", "db", "dns"][r(4)];
      return svc ? { ...m, services: [{ name: svc.toUpperCase(), port: 1 }] } as Member : m;
    };
    const usedBefore = new Set<string>();
    const before = Array.from({ length: r(30) }, () => fresh(usedBefore));
    const indexes = new MemberIndexes(range);
    const old = indexes.of(before);
    // Sometimes the previous index is a fork not yet made whole (an edit's copy).
    let from = before;
    if (r(3) === 0) {
      from = [...before];
      indexes.copied(before, from);
      if (from.length) indexes.of(from).replace({ ...from[0], endpoints: ["192.0.2.9:1"] });
      indexes.committed(from);
    } else old.byKey("x");
    // The next document: records kept (the same objects), replaced in place (same key, maybe a
    // new address, name, role or service), removed, added last; now and then reordered.
    const used = new Set(from.map((m) => m.address));
    const after: Member[] = [];
    for (const m of from) {
      const c = r(6);
      if (c === 0) continue;
      if (c === 1) {
        const n = fresh(used);
        after.push({ ...n, publicKey: m.publicKey, name: r(2) ? m.name : n.name });
      } else after.push(m);
    }
    for (let k = r(4); k > 0; k--) after.push(fresh(used));
    if (r(8) === 0) after.reverse();
    if (r(8) === 0 && after.length > 2) after.push(after.splice(r(after.length), 1)[0]);
    indexes.adopted(from, after);
    const all = [...from, ...after];
    const keys = [...all.map((m) => m.publicKey), "key-none"];
    const addresses = [...all.map((m) => m.address), "10.2.0.63"];
    const names = [...all.map((m) => m.name), "none"];
    const services = ["web", "db", "dns", "none"];
    assert.deepEqual(
      answers(indexes.of(after), keys, addresses, names, services),
      answers(new MemberIndex([...after], range), keys, addresses, names, services),
      `seed ${seed}`,
    );
    // The previous document's index, read again, still answers for its own list.
    assert.deepEqual(
      answers(indexes.of(from), keys, addresses, names, services),
      answers(new MemberIndex([...from], range), keys, addresses, names, services),
      `seed ${seed}, the previous list`,
    );
  }
});

Deno.test("member index: another leader's commit of one join indexes that record, not the list", () => {
  const range = hostRange("10.3.0.0/16");
  const before = Array.from(
    { length: 1000 },
    (_, i) => member(`n${i}`, `10.3.${i >> 8}.${i & 255}`),
  );
  before.shift();
  const indexes = new MemberIndexes(range);
  indexes.of(before).byKey("x");
  const after = [...before, member("new", "10.3.4.1")];
  indexes.adopted(before, after);
  const ix = indexes.of(after);
  assert.equal(ix.byName("new")?.address, "10.3.4.1");
  assert.equal(ix.byKey("key-n500"), before[499]);
  assert.equal(ix.recordsIndexed, 1);
});
