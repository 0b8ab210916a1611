/**
 * The join edits on a plain document (no store): a join gets the lowest free address and what
 * its token grants, a refusal changes nothing, a retransmission gets the same answer, and an
 * allocation never heard from is released with its token's use.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../crypto/keys.ts";
import type { JoinRequest } from "../join/request.ts";
import type { LeaderFile } from "../state/state.ts";
import { revokeToken } from "./token_edits.ts";
import { removeMember } from "./member_edits.ts";
import type { PlainContext } from "./testing/documents.ts";
import { heardFrom, join, releaseUnheard } from "./join_edits.ts";
import { accepted, HOLDER, joinRequest, refused } from "./testing/cores.ts";
import {
  addPlainToken,
  apply,
  DOC_LEADER_KEY,
  plainContext,
  plainDocument,
} from "./testing/documents.ts";

const NO_HOLDER = () => false;

Deno.test("join edits: joiners get the lowest free address, the token's grants, one use each", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const t = addPlainToken(ctx, d, { uses: 2, labels: { role: "web" }, relay: true });
  const req = joinRequest(t, "a", { labels: { role: "x", "node.weft/os": "linux" }, relay: true });
  const r = apply(d, (d, touch) => join(ctx, d, touch, req, "192.0.2.9:1", 2_000, NO_HOLDER));
  const a = accepted(r.result);
  assert.deepEqual([a.member.address, a.member.name], ["10.77.0.2", "a"]);
  assert.deepEqual(a.member.labels, { role: "web" }, "granted labels come from the token alone");
  assert.deepEqual(a.member.nodeLabels, { "node.weft/os": "linux" });
  assert.equal(a.member.relay, true);
  assert.deepEqual(a.member.endpoints, ["192.0.2.9:1"]);
  assert.equal(a.leader.publicKey, DOC_LEADER_KEY);
  assert.deepEqual(r.touched, [req.publicKey]);
  assert.equal(a.version, d.version);
  assert.equal(d.tokens[0].usesLeft, 1);
  assert.deepEqual(d.joins.get(req.publicKey)!, {
    token: t.id,
    at: 2_000,
    heard: false,
    time: 1_000,
  });
  assert.equal(ctx.counts.labelsDropped, 1, "the joiner's own `role` label, dropped");
  const b = apply(d, (d, t2) => join(ctx, d, t2, joinRequest(t, "a"), null, 2_000, NO_HOLDER));
  assert.deepEqual([accepted(b.result).member.address, accepted(b.result).member.name], [
    "10.77.0.3",
    "a-2",
  ]);
  const c = apply(d, (d, t2) => join(ctx, d, t2, joinRequest(t, "c"), null, 2_000, NO_HOLDER));
  refused(c.result, /used up/);
});

Deno.test("join edits: a refusal changes nothing in the document", () => {
  const ctx = plainContext();
  const d = plainDocument("10.5.0.0/30");
  const t = addPlainToken(ctx, d);
  const key = generateKeyPair().publicKey;
  accepted(
    join(ctx, d, () => {}, joinRequest(t, "m", { publicKey: key, time: 5_000 }), null, 0, HOLDER)
      .result,
  );
  const before = JSON.stringify(d);
  const cases: [JoinRequest, RegExp][] = [
    [joinRequest(t, "x"), /exhausted/],
    [joinRequest(t, "Bad"), /DNS label/],
    [joinRequest({ id: t.id, secret: "AAAA" }, "x"), /^unknown token$/],
    [joinRequest(t, "m", { publicKey: key, time: 4_999 }), /^stale join request/],
    [joinRequest(t, "leader", { publicKey: DOC_LEADER_KEY }), /leader's/],
  ];
  for (const [req, error] of cases) {
    const r = apply(d, (d, touch) => join(ctx, d, touch, req, null, 0, HOLDER));
    refused(r.result, error);
    assert.equal(r.write, false);
    assert.deepEqual(r.touched, []);
  }
  assert.equal(JSON.stringify(d), before);
});

Deno.test("join edits: a retransmission gets the same answer, from the key's holder only", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const t = addPlainToken(ctx, d, { uses: 1 });
  const req = joinRequest(t, "n1");
  const first = accepted(join(ctx, d, () => {}, req, null, 0, NO_HOLDER).result);
  const again = apply(d, (d, touch) => join(ctx, d, touch, req, null, 0, HOLDER));
  assert.deepEqual(accepted(again.result).member, first.member);
  assert.equal(again.write, false, "the same request time: nothing to keep");
  refused(join(ctx, d, () => {}, req, null, 0, NO_HOLDER).result, /key/);
  // A later request is kept, so an earlier one is stale from then on.
  const later = { ...req, time: 2_000 };
  assert.equal(apply(d, (d, touch) => join(ctx, d, touch, later, null, 0, HOLDER)).write, true);
  assert.equal(d.joins.get(req.publicKey)!.time, 2_000);
  refused(join(ctx, d, () => {}, req, null, 0, HOLDER).result, /^stale join request/);
});

Deno.test("join edits: unheard allocations are released after the hold, the token's use back", () => {
  const ctx = plainContext({ joinHoldMs: 1_000, openedAt: 0 });
  const d = plainDocument();
  const t = addPlainToken(ctx, d, { uses: 2 });
  const a = accepted(join(ctx, d, () => {}, joinRequest(t, "a"), null, 100, NO_HOLDER).result);
  const b = accepted(join(ctx, d, () => {}, joinRequest(t, "b"), null, 100, NO_HOLDER).result);
  assert.equal(d.tokens[0].usesLeft, 0);
  const early = apply(d, (d, touch) => releaseUnheard(ctx, d, touch, 1_099, () => false));
  assert.deepEqual([early.result, early.write], [[], false]);
  // `b` completed a handshake: it is kept for good; `a` is released.
  const heard = (k: string) => k === b.member.publicKey;
  const r = apply(d, (d, touch) => releaseUnheard(ctx, d, touch, 1_100, heard));
  assert.deepEqual(r.result.map((m) => m.name), ["a"]);
  assert.deepEqual(r.touched, [a.member.publicKey]);
  assert.equal(d.joins.get(b.member.publicKey)!.heard, true);
  assert.equal(d.joins.get(a.member.publicKey), undefined);
  assert.equal(d.tokens[0].usesLeft, 1);
  // Its request may still be replayed: only a later one joins again.
  assert.equal(d.left?.[a.member.publicKey]?.time, 1_000);
});

Deno.test("join edits: heard from once is no change the second time", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const t = addPlainToken(ctx, d);
  const a = accepted(join(ctx, d, () => {}, joinRequest(t, "a"), null, 0, NO_HOLDER).result);
  assert.equal(apply(d, (d, touch) => heardFrom(ctx, d, touch, a.member.publicKey)).write, true);
  assert.equal(d.joins.get(a.member.publicKey)!.heard, true);
  assert.equal(apply(d, (d, touch) => heardFrom(ctx, d, touch, a.member.publicKey)).write, false);
  assert.equal(apply(d, (d, touch) => heardFrom(ctx, d, touch, "nobody")).write, false);
});

const MINUTE = 60_000;

/** Runs a join of `req` on `d` at `now`; its answer. */
const joinAt = (
  ctx: PlainContext,
  d: LeaderFile,
  req: JoinRequest,
  now = 0,
  holdsKey = NO_HOLDER,
) => apply(d, (d, touch) => join(ctx, d, touch, req, null, now, holdsKey)).result;

/** Removes the member `name` from `d`. */
const remove = (ctx: PlainContext, d: LeaderFile, name: string) =>
  apply(d, (d, touch) => removeMember(ctx, d, touch, name, 0));

Deno.test("join edits: joiners get the lowest free host address; freed addresses are reused first", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const token = addPlainToken(ctx, d);
  const addr = (name: string) => accepted(joinAt(ctx, d, joinRequest(token, name))).member;
  assert.equal(addr("a").address, "10.77.0.2");
  assert.equal(addr("b").address, "10.77.0.3");
  assert.equal(addr("c").address, "10.77.0.4");
  assert.equal(addr("d").address, "10.77.0.5");
  remove(ctx, d, "b");
  remove(ctx, d, "10.77.0.4"); // by address
  assert.equal(addr("e").address, "10.77.0.3");
  assert.equal(addr("f").address, "10.77.0.4");
  assert.equal(addr("g").address, "10.77.0.6");
  const addresses = d.members.map((m) => m.address);
  assert.equal(new Set(addresses).size, addresses.length, "no address twice");
});

Deno.test("join edits: a full network refuses joiners and allocates neither broadcast nor network address", () => {
  const ctx = plainContext();
  const d = plainDocument("10.9.0.0/29"); // 6 hosts: .1 to .6
  const token = addPlainToken(ctx, d);
  const got: string[] = [];
  for (let i = 0; i < 5; i++) {
    got.push(accepted(joinAt(ctx, d, joinRequest(token, `n${i}`))).member.address);
  }
  assert.deepEqual(got, ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]);
  const before = JSON.stringify(d);
  refused(joinAt(ctx, d, joinRequest(token, "n5")), /^network 10\.9\.0\.0\/29 is exhausted$/);
  assert.equal(JSON.stringify(d), before, "a refusal changes nothing");
  // A removal makes room again.
  remove(ctx, d, "n2");
  assert.equal(accepted(joinAt(ctx, d, joinRequest(token, "n5"))).member.address, "10.9.0.4");
});

Deno.test("join edits: a token for n uses admits n keys; an unlimited one any number", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const two = addPlainToken(ctx, d, { uses: 2 });
  const usesLeft = () => d.tokens.find((t) => t.id === two.id)!.usesLeft;
  accepted(joinAt(ctx, d, joinRequest(two, "a")));
  assert.equal(usesLeft(), 1);
  accepted(joinAt(ctx, d, joinRequest(two, "b")));
  assert.equal(usesLeft(), 0);
  refused(joinAt(ctx, d, joinRequest(two, "c")), /^token used up$/);
  assert.equal(usesLeft(), 0);
  const any = addPlainToken(ctx, d);
  for (let i = 0; i < 10; i++) accepted(joinAt(ctx, d, joinRequest(any, `u${i}`)));
  assert.equal(d.tokens.find((t) => t.id === any.id)!.usesLeft, null);
});

Deno.test("join edits: revoked, expired and unknown tokens refuse new joiners", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const t = addPlainToken(ctx, d, { ttlMs: 10 * MINUTE });
  // Expiry is checked against the join's `now`.
  refused(joinAt(ctx, d, joinRequest(t, "late"), t.expiresAt), /^token expired$/);
  refused(joinAt(ctx, d, joinRequest(t, "late"), t.expiresAt + 1), /^token expired$/);
  accepted(joinAt(ctx, d, joinRequest(t, "early"), t.expiresAt - 1));
  refused(
    joinAt(ctx, d, joinRequest({ id: "000000000000", secret: t.secret }, "x")),
    /^unknown token$/,
  );
  refused(joinAt(ctx, d, joinRequest({ id: t.id, secret: "AAAA" }, "x")), /^unknown token$/);
  revokeToken(d, t.id);
  refused(joinAt(ctx, d, joinRequest(t, "after"), t.expiresAt - 1), /^token revoked$/);
  assert.deepEqual(d.members.map((m) => m.name), ["leader", "early"]);
});

Deno.test("join edits: a member presenting the token that admitted it is answered after it expired", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const t = addPlainToken(ctx, d, { ttlMs: MINUTE, uses: 1 });
  const req = joinRequest(t, "n1");
  const first = accepted(joinAt(ctx, d, req, t.expiresAt - 10));
  const again = accepted(joinAt(ctx, d, req, t.expiresAt + MINUTE, HOLDER));
  assert.equal(again.member.address, first.member.address);
  assert.equal(d.members.length, 2);
  // A new key with it is refused (expired comes before used up).
  refused(joinAt(ctx, d, joinRequest(t, "n2"), t.expiresAt + MINUTE), /^token expired$/);
});
