/**
 * The route edits on a plain document (no store): approvals and revocations, one carrier per
 * prefix among the eligible routers (heard from, running, not quiet), and the quiet set.
 */
import assert from "node:assert/strict";
import { LeaderError, LeaderNotFoundError } from "./errors.ts";
import { hostRange, MemberIndex } from "./member_index.ts";
import { parseApprovalChange, QuietMembers, reassign, setRouteApprovals } from "./route_edits.ts";
import { apply, nodeRecord, plainContext, plainDocument } from "./testing/documents.ts";

const NET = "198.51.100.0/24";

/** A document with routers `a` and `b` advertising NET, heard from, not approved. */
function twoRouters() {
  const ctx = plainContext();
  const d = plainDocument();
  const a = nodeRecord("a", "10.77.0.2", { advertisedRoutes: [NET] });
  const b = nodeRecord("b", "10.77.0.3", { advertisedRoutes: [NET] });
  for (const m of [a, b]) {
    ctx.index(d).add(m);
    d.joins.set(m.publicKey, { token: "t", at: 0, heard: true });
  }
  const approve = (name: string, change: { approve?: string[]; revoke?: string[] }) =>
    apply(d, (d, touch) => setRouteApprovals(ctx, d, touch, name, parseApprovalChange(change)));
  const carries = (name: string) => ctx.index(d).byName(name)!.routes;
  return { ctx, d, a, b, approve, carries };
}

Deno.test("route edits: an approval makes the node carry; the same again is no change", () => {
  const { approve, carries } = twoRouters();
  assert.equal(carries("a"), undefined);
  const r = approve("a", { approve: [NET] });
  assert.equal(r.write, true);
  assert.deepEqual(r.result.grants?.routes, [NET]);
  assert.deepEqual(carries("a"), [NET]);
  assert.deepEqual(approve("a", { approve: [NET] }).write, false);
  // The second approved router stands by; revoking the first hands the prefix over.
  approve("b", { approve: [NET] });
  assert.deepEqual([carries("a"), carries("b")], [[NET], undefined]);
  const revoked = approve("a", { revoke: [NET] });
  assert.equal(revoked.result.grants, undefined, "no approvals left: no grants field");
  assert.deepEqual([carries("a"), carries("b")], [undefined, [NET]]);
});

Deno.test("route edits: refusals name the reason and change nothing", () => {
  const { d, approve } = twoRouters();
  const before = JSON.stringify(d);
  assert.throws(() => approve("leader", { approve: [NET] }), /need no approval/);
  assert.throws(() => approve("nobody", { approve: [NET] }), LeaderNotFoundError);
  assert.throws(() => approve("a", { approve: ["203.0.113.0/24"] }), /advertise/);
  assert.throws(() => parseApprovalChange({ approve: ["nope"] }), LeaderError);
  assert.equal(JSON.stringify(d), before);
  const pre = parseApprovalChange({ approve: ["203.0.113.0/24"], preApprove: true });
  assert.deepEqual(pre, { approve: ["203.0.113.0/24"], revoke: [], preApprove: true });
});

Deno.test("route edits: only routers heard from, running and not quiet carry", () => {
  const { ctx, d, a, approve, carries } = twoRouters();
  approve("a", { approve: [NET] });
  approve("b", { approve: [NET] });
  ctx.quiet.add(a.publicKey);
  const r = apply(d, (d, touch) => {
    reassign(ctx, d, touch);
    return { result: undefined, write: false };
  });
  assert.deepEqual([carries("a"), carries("b")], [undefined, [NET]]);
  assert.equal(r.touched.length, 2);
  // Back, it stands by (no preemption).
  ctx.quiet.delete(a.publicKey);
  apply(d, (d, touch) => {
    reassign(ctx, d, touch);
    return { result: undefined, write: false };
  });
  assert.deepEqual([carries("a"), carries("b")], [undefined, [NET]]);
});

Deno.test("route edits: the quiet set says when carriers may change, and sweeps removed keys", () => {
  const list = [
    nodeRecord("r", "10.1.0.2", { advertisedRoutes: [NET], grants: { routes: [NET] } }),
    nodeRecord("p", "10.1.0.3"),
  ];
  const ix = new MemberIndex(list, hostRange("10.1.0.0/24"));
  const quiet = new QuietMembers();
  const [r, p] = list;
  assert.equal(quiet.set(r.publicKey, true, ix), true, "a router went quiet");
  assert.equal(quiet.set(r.publicKey, true, ix), false, "already quiet");
  assert.equal(quiet.set(p.publicKey, true, ix), false, "a plain member: no route changes");
  assert.equal(quiet.set("unknown", true, ix), false);
  assert.deepEqual(quiet.keys.size, 2);
  ix.remove(p.publicKey);
  ix.remove(r.publicKey);
  // More keys than members: the next call sweeps those no longer members.
  quiet.set("other", false, ix);
  assert.equal(quiet.keys.size, 0);
});
