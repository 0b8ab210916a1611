import assert from "node:assert/strict";
import {
  CARRY_FANOUT,
  CARRY_TO_BYTES,
  type CarryPlan,
  keyHash,
  planCarry,
  PushCarry,
} from "./push_carry.ts";
import { CARRY_TO_MAX, pushKeyOf, unpackCarried, verifyCarried } from "../sync/carried.ts";
import { parseMessage } from "../sync/protocol.ts";
import { generateKeyPair } from "../../crypto/keys.ts";

interface M {
  publicKey: string;
  address: string;
}

/** `n` members with random keys and addresses of `width` characters at least. */
function members(n: number, width = 0): M[] {
  return Array.from({ length: n }, (_, i) => ({
    publicKey: generateKeyPair().publicKey,
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`.padStart(width, "f"),
  }));
}

/** Checks that every member is told exactly once, and carriers are fresh. */
function everyOnce(ms: M[], plans: CarryPlan[], direct: M[], fresh: (k: string) => boolean) {
  const seen = new Map<string, number>();
  const add = (a: string) => seen.set(a, (seen.get(a) ?? 0) + 1);
  for (const p of plans) {
    assert.ok(fresh(p.carrier.publicKey), "a carrier is fresh");
    add(p.carrier.address);
    for (const a of p.to) add(a);
  }
  for (const m of direct) add(m.address);
  assert.equal(seen.size, ms.length);
  for (const m of ms) assert.equal(seen.get(m.address), 1, m.address);
}

/** The bucket of each member's address: its carrier's, or "direct". */
function bucketsOf(plans: CarryPlan[], direct: M[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of plans) {
    out.set(p.carrier.address, p.carrier.address);
    for (const a of p.to) out.set(a, p.carrier.address);
  }
  for (const m of direct) out.set(m.address, "direct");
  return out;
}

Deno.test("push carry: keyHash is the first 24 bits of a base64 key", () => {
  assert.equal(keyHash("AAAA"), 0);
  assert.equal(keyHash("AAAB"), 1);
  assert.equal(keyHash("AABA"), 64);
  assert.equal(keyHash("////"), 2 ** 24 - 1);
  assert.equal(keyHash("BAAAxyz="), 64 ** 3);
  // The same key, the same place; only the first four characters count.
  assert.equal(keyHash("abcdEFG"), keyHash("abcdXYZ"));
});

Deno.test("push carry: a plan tells every member once, from fresh carriers, in lists that fit a datagram", () => {
  for (const [n, freshShare] of [[1, 1], [10, 0.5], [300, 0.3], [1000, 0.05], [2000, 1]]) {
    const ms = members(n);
    const freshKeys = new Set(
      ms.filter((_, i) => i % Math.round(1 / freshShare) === 0)
        .map((m) => m.publicKey),
    );
    const fresh = (k: string) => freshKeys.has(k);
    const { plans, direct } = planCarry(ms, fresh);
    everyOnce(ms, plans, direct, fresh);
    for (const p of plans) {
      assert.ok(p.to.length <= CARRY_TO_MAX);
      assert.ok(p.to.reduce((s, a) => s + a.length + 3, 0) <= CARRY_TO_BYTES);
      assert.equal("bytes" in p, false, "no bookkeeping left in a plan");
    }
    if (freshShare === 1) assert.equal(direct.length, 0, `${n}: all fresh, none direct`);
  }
  // Nobody fresh: everyone direct.
  const ms = members(200);
  const none = planCarry(ms, () => false);
  assert.equal(none.plans.length, 0);
  assert.equal(none.direct.length, 200);
});

Deno.test("push carry: long addresses keep each carry list under its bytes; short ones under its count", () => {
  // 45-character addresses (IPv6 at its longest): some 23 a list.
  const long = members(500, 45);
  const a = planCarry(long, () => true, 1000);
  everyOnce(long, a.plans, a.direct, () => true);
  for (const p of a.plans) assert.ok(p.to.length * 48 <= CARRY_TO_BYTES, `${p.to.length}`);
  assert.ok(a.plans.length >= Math.ceil(500 / 23));
  // Short addresses with a bucket larger than CARRY_TO_MAX: lists stop at CARRY_TO_MAX.
  const short = members(600).map((m, i) => ({ ...m, address: `a${i}` }));
  const b = planCarry(short, () => true, 1000);
  everyOnce(short, b.plans, b.direct, () => true);
  assert.ok(b.plans.some((p) => p.to.length === CARRY_TO_MAX));
  for (const p of b.plans) assert.ok(p.to.length <= CARRY_TO_MAX);
});

Deno.test("push carry: a bucket with no fresh member goes direct; the others are carried", () => {
  const ms = members(4 * CARRY_FANOUT);
  // Buckets: 4 (from CARRY_FANOUT * 2 + 1 to CARRY_FANOUT * 4 members). Bucket 0 has none fresh.
  const bucket = (k: string) => keyHash(k) & 3;
  const fresh = (k: string) => bucket(k) !== 0;
  const { plans, direct } = planCarry(ms, fresh);
  everyOnce(ms, plans, direct, fresh);
  assert.deepEqual(
    direct.map((m) => m.address).sort(),
    ms.filter((m) => bucket(m.publicKey) === 0).map((m) => m.address).sort(),
  );
  // A carrier passes to members of its own bucket only.
  const byAddress = new Map(ms.map((m) => [m.address, m]));
  for (const p of plans) {
    for (const a of p.to) {
      assert.equal(bucket(byAddress.get(a)!.publicKey), bucket(p.carrier.publicKey));
    }
  }
  // One fresh member in a bucket carries it all (its list fits).
  const one = ms.find((m) => bucket(m.publicKey) === 1)!;
  const single = planCarry(ms, (k) => k === one.publicKey);
  const mine = single.plans.find((p) => p.carrier.address === one.address)!;
  assert.equal(single.plans.length, 1);
  assert.equal(
    mine.to.length,
    ms.filter((m) => bucket(m.publicKey) === 1).length - 1,
  );
  assert.equal(single.direct.length, ms.length - 1 - mine.to.length);
});

Deno.test("push carry: buckets stay together as the mesh doubles", () => {
  const big = members(8 * CARRY_FANOUT);
  const small = big.slice(0, 4 * CARRY_FANOUT);
  const fresh = () => true;
  const before = bucketsOf(planCarry(small, fresh).plans, []);
  const after = bucketsOf(planCarry(big, fresh).plans, []);
  // Two members that share a carrier in the doubled mesh shared one before.
  const byCarrier = new Map<string, string[]>();
  for (const [a, c] of after) {
    if (!before.has(a)) continue;
    let l = byCarrier.get(c);
    if (!l) byCarrier.set(c, l = []);
    l.push(a);
  }
  let pairs = 0;
  for (const list of byCarrier.values()) {
    for (const a of list.slice(1)) {
      assert.equal(before.get(a), before.get(list[0]), `${a} and ${list[0]}`);
      pairs++;
    }
  }
  assert.ok(pairs > 0);
  // And the number of buckets doubles.
  assert.ok(planCarry(big, fresh).plans.length > planCarry(small, fresh).plans.length);
});

Deno.test("push carry: heard answers a hello's ck; a member is able once sent the key", () => {
  const now = 1000;
  const pc = new PushCarry({ min: 2, freshMs: () => 5000, now: () => now });
  const k = generateKeyPair().publicKey;
  assert.equal(pc.min, 2);
  assert.equal(pc.heard(k, undefined), false, "no ck: an older node, sent no key");
  assert.equal(pc.able(k), false);
  assert.equal(pc.heard(k, ""), true, "no key held: sent the key");
  assert.equal(pc.able(k), true, "sent the key: takes carried parts");
  assert.equal(pc.heard(k, "AAAAAAAAAAA="), true, "another key's id: sent the key");
  assert.equal(pc.able(k), true);
  assert.equal(pc.heard(k, pc.signer.keyId), false);
  assert.equal(pc.able(k), true);
  // A later hello with no ck (it went back to an older weft): not able; another id: sent the
  // key again, able as one sent it.
  assert.equal(pc.heard(k, 5), false);
  assert.equal(pc.able(k), false);
  pc.heard(k, pc.signer.keyId);
  assert.equal(pc.heard(k, "x"), true);
  assert.equal(pc.able(k), true);
  pc.heard(k, pc.signer.keyId);
  pc.forget(k);
  assert.equal(pc.able(k), false);
  // The default min.
  assert.equal(new PushCarry({ freshMs: () => 1 }).min, 1000);
});

Deno.test("push carry: carry sends each carrier its carry, then the signed parts; members not heard lately go direct", () => {
  let now = 0;
  const pc = new PushCarry({ min: 1, freshMs: () => 5000, now: () => now });
  const ms = members(3 * CARRY_FANOUT);
  // Heard at 0; the last few heard long ago (not fresh at 10,000).
  for (const m of ms) pc.heard(m.publicKey, pc.signer.keyId);
  now = 10_000;
  const fresh = new Set<string>();
  for (const m of ms.slice(0, 2 * CARRY_FANOUT)) {
    pc.heard(m.publicKey, pc.signer.keyId);
    fresh.add(m.publicKey);
  }
  const parts = [new TextEncoder().encode('{"t":"delta","a":1}'), new Uint8Array([1, 2, 3])];
  const out: (string | Uint8Array)[] = [];
  const direct = pc.carry(parts, ms, 4, 10, 12, out);
  const key = pushKeyOf(pc.signer.publicKey)!;
  const told = new Set<string>(direct.map((m) => m.address));
  let i = 0;
  let carriers = 0;
  let passed = 0;
  const byAddress = new Map(ms.map((m) => [m.address, m]));
  while (i < out.length) {
    const to = out[i] as string;
    const carry = parseMessage(out[i + 1] as Uint8Array)!;
    assert.equal(carry.t, "carry");
    if (carry.t !== "carry") break;
    assert.ok(fresh.has(byAddress.get(to)!.publicKey), "a carrier heard lately");
    assert.deepEqual([carry.f, carry.v, carry.n], [10, 12, 2]);
    for (let p = 0; p < carry.n; p++) {
      assert.equal(out[i + 2 + 2 * p], to);
      const c = unpackCarried(out[i + 3 + 2 * p] as Uint8Array)!;
      assert.equal(c.pv, 4);
      assert.deepEqual(c.part, parts[p]);
      assert.ok(verifyCarried(key, c));
    }
    for (const a of [to, ...carry.to]) {
      assert.ok(!told.has(a), a);
      told.add(a);
    }
    carriers++;
    passed += carry.to.length;
    i += 2 + 2 * carry.n;
  }
  assert.equal(told.size, ms.length, "every member told once");
  assert.ok(carriers > 0);
  for (const m of direct) assert.ok(!fresh.has(m.publicKey));
  assert.deepEqual(pc.counts(), { pushes: 1, carriers, passed, direct: direct.length });
  // The datagrams carriers pass on, for the push schedule: read once.
  assert.equal(pc.takePassed(), passed * parts.length);
  assert.equal(pc.takePassed(), 0);
  // Nobody fresh: nothing signed or sent, every member direct, nothing counted.
  now = 1e9;
  const out2: (string | Uint8Array)[] = [];
  assert.equal(pc.carry(parts, ms, 4, 12, 13, out2).length, ms.length);
  assert.equal(out2.length, 0);
  assert.equal(pc.counts().pushes, 1);
});

Deno.test("push carry: a member sent the key but not yet saying its id is told through a carrier, never one", () => {
  const pc = new PushCarry({ min: 1, freshMs: () => 5000, now: () => 0 });
  const ms = members(CARRY_FANOUT);
  // Every member but the last said the key's id; the last was just sent the key.
  for (const m of ms.slice(0, -1)) pc.heard(m.publicKey, pc.signer.keyId);
  const joiner = ms.at(-1)!;
  assert.equal(pc.heard(joiner.publicKey, ""), true);
  assert.equal(pc.able(joiner.publicKey), true);
  // Alone in its bucket with the others gone quiet, it would be sent its parts directly.
  const out: (string | Uint8Array)[] = [];
  const direct = pc.carry([new Uint8Array([1])], ms, 0, 1, 2, out);
  assert.equal(direct.length, 0);
  const carriers = new Set<string>();
  const listed = new Set<string>();
  for (let i = 0; i < out.length; i += 4) {
    carriers.add(out[i] as string);
    const c = parseMessage(out[i + 1] as Uint8Array);
    if (c?.t === "carry") { for (const a of c.to) listed.add(a); }
  }
  assert.ok(!carriers.has(joiner.address), "no carrier");
  assert.ok(listed.has(joiner.address), "told through a carrier");
  const alone = pc.carry([new Uint8Array([1])], [joiner], 0, 2, 3, []);
  assert.deepEqual(alone, [joiner]);
});
