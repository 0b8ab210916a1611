/**
 * The member edits on a plain document (no store): what a hello updates (and what it cannot),
 * a bye, a removal that remembers the key and holds the name.
 */
import assert from "node:assert/strict";
import { MAX_LAN } from "../../members/member.ts";
import { LeaderError, LeaderNotFoundError } from "./errors.ts";
import { checkedUpdate, leave, removeMember, updated, updateMember } from "./member_edits.ts";
import {
  apply,
  DOC_LEADER_KEY,
  nodeRecord,
  plainContext,
  plainDocument,
} from "./testing/documents.ts";

const svc = (name: string) => ({ name, port: 80, protocol: "tcp" as const });

function withNode(extra = {}) {
  const ctx = plainContext();
  const d = plainDocument();
  const n = nodeRecord("n1", "10.77.0.2", { endpoints: ["192.0.2.5:1"], ...extra });
  ctx.index(d).add(n);
  return { ctx, d, n };
}

Deno.test("member edits: an update is checked: bad granted labels refused, others' node labels dropped", () => {
  assert.throws(() => checkedUpdate({ labels: { "node.weft/x": "1" } }), LeaderError);
  assert.deepEqual(
    checkedUpdate({ nodeLabels: { "node.weft/os": "linux", role: "admin" } }).nodeLabels,
    { "node.weft/os": "linux" },
  );
});

Deno.test("member edits: a hello's fields update the record; the same again is no change", () => {
  const { ctx, d, n } = withNode();
  const lan = Array.from({ length: 10 }, (_, i) => `198.51.100.${i % 9}:51820`);
  const patch = checkedUpdate({
    endpoints: Array.from({ length: 10 }, (_, i) => `192.0.2.${i}:1`),
    lan,
    tcpPort: 443,
    services: [svc("web")],
    nodeLabels: { "node.weft/os": "linux" },
  });
  const r = apply(d, (d, touch) => updateMember(ctx, d, touch, n.publicKey, patch));
  assert.deepEqual([r.result, r.write, r.touched], [true, true, [n.publicKey]]);
  const m = ctx.index(d).byKey(n.publicKey)!;
  assert.equal(m.endpoints.length, 8);
  assert.deepEqual(m.lan, lan.slice(0, MAX_LAN));
  assert.equal(m.tcpPort, 443);
  assert.deepEqual(m.services, [svc("web")]);
  assert.equal(updated(ctx, d, m, patch), null);
  assert.equal(
    apply(d, (d, touch) => updateMember(ctx, d, touch, n.publicKey, patch)).write,
    false,
  );
  // Empty lists and null remove the fields.
  apply(d, (d, touch) => updateMember(ctx, d, touch, n.publicKey, { lan: [], tcpPort: null }));
  const cleared = ctx.index(d).byKey(n.publicKey)!;
  assert.equal("lan" in cleared, false);
  assert.equal("tcpPort" in cleared, false);
  assert.equal(apply(d, (d, touch) => updateMember(ctx, d, touch, "nobody", patch)).result, false);
});

Deno.test("member edits: a node relays only when willing and granted", () => {
  const plain = withNode();
  assert.equal(updated(plain.ctx, plain.d, plain.n, { relay: true })?.relay, undefined);
  const granted = withNode({ grants: { relay: true } });
  assert.equal(updated(granted.ctx, granted.d, granted.n, { relay: true })?.relay, true);
  const relaying = { ...granted.n, relay: true as const };
  assert.equal("relay" in updated(granted.ctx, granted.d, relaying, { relay: false })!, false);
});

Deno.test("member edits: a bye withdraws the services and marks the node offline, once", () => {
  const { ctx, d, n } = withNode({ services: [svc("web")] });
  const r = apply(d, (d, touch) => leave(ctx, d, touch, n.publicKey));
  assert.deepEqual([r.result, r.touched], [true, [n.publicKey]]);
  const m = ctx.index(d).byKey(n.publicKey)!;
  assert.deepEqual([m.services, m.offline], [[], true]);
  assert.equal(apply(d, (d, touch) => leave(ctx, d, touch, n.publicKey)).result, false);
  assert.equal(apply(d, (d, touch) => leave(ctx, d, touch, DOC_LEADER_KEY)).result, false);
  // Its next hello says it runs again.
  apply(d, (d, touch) => updateMember(ctx, d, touch, n.publicKey, { online: true }));
  assert.equal("offline" in ctx.index(d).byKey(n.publicKey)!, false);
});

Deno.test("member edits: a removal remembers the key and its name; never this leader", () => {
  const { ctx, d, n } = withNode();
  d.joins.set(n.publicKey, { token: "t1", at: 0, heard: true, time: 1_500 });
  const r = apply(d, (d, touch) => removeMember(ctx, d, touch, "10.77.0.2", 9_000));
  assert.equal(r.result.name, "n1");
  assert.equal(ctx.index(d).byKey(n.publicKey), undefined);
  assert.equal(d.joins.get(n.publicKey), undefined);
  assert.deepEqual(d.left![n.publicKey], {
    time: 1_500,
    at: 9_000,
    removedToken: "t1",
    name: "n1",
  });
  assert.throws(() => removeMember(ctx, d, () => {}, "n1", 0), LeaderNotFoundError);
  assert.throws(() => removeMember(ctx, d, () => {}, "leader", 0), /cannot remove itself/);
});
