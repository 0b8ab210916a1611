/**
 * The grant and service edits on a plain document (no store): which names grants restrict
 * (and the cache of them), which offers a member keeps, and `weft node set`.
 */
import assert from "node:assert/strict";
import { LeaderError, LeaderNotFoundError } from "./errors.ts";
import {
  grantedServices,
  RestrictedNames,
  restrictedNames,
  setGrants,
  ungrantedServices,
} from "./service_edits.ts";
import {
  addPlainToken,
  apply,
  DOC_LEADER_KEY,
  nodeRecord,
  plainContext,
  plainDocument,
} from "./testing/documents.ts";

const svc = (name: string) => ({ name, port: 80, protocol: "tcp" as const });

Deno.test("service edits: the restricted names are the tokens' and members' grants", () => {
  const ctx = plainContext();
  const d = plainDocument();
  assert.deepEqual([...restrictedNames(d)], []);
  addPlainToken(ctx, d, { services: ["pg"] });
  ctx.index(d).add(nodeRecord("n1", "10.77.0.2", { grants: { services: ["redis"] } }));
  assert.deepEqual([...restrictedNames(d)].sort(), ["pg", "redis"]);
});

Deno.test("service edits: the cache follows new tokens and a new epoch, not other edits", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const cache = new RestrictedNames();
  const first = cache.of(d, 0);
  assert.equal(cache.of(d, 0), first, "the same tokens and epoch: the same set");
  addPlainToken(ctx, d, { services: ["pg"] });
  assert.deepEqual([...cache.of(d, 0)], ["pg"]);
  // Another leader's state may grant what this one's tokens do not say: a new epoch reads it.
  ctx.index(d).add(nodeRecord("n1", "10.77.0.2", { grants: { services: ["redis"] } }));
  assert.deepEqual([...cache.of(d, 0)], ["pg"]);
  assert.deepEqual([...cache.of(d, 1)].sort(), ["pg", "redis"]);
});

Deno.test("service edits: a member keeps open offers and those granted; the leader all", () => {
  const ctx = plainContext();
  const d = plainDocument();
  addPlainToken(ctx, d, { services: ["pg"] });
  const granted = nodeRecord("g", "10.77.0.2", { grants: { services: ["pg"] } });
  const other = nodeRecord("o", "10.77.0.3");
  ctx.index(d).add(granted);
  ctx.index(d).add(other);
  const offered = [svc("pg"), svc("web")];
  assert.deepEqual(grantedServices(ctx, d, granted, offered), offered);
  assert.deepEqual(grantedServices(ctx, d, other, offered), [svc("web")]);
  assert.deepEqual(ungrantedServices(ctx, d, other, offered), ["pg"]);
  // An open offer may not take a name the zone answers otherwise: another member's.
  assert.deepEqual(grantedServices(ctx, d, other, [svc("g")]), []);
  const leader = ctx.index(d).byKey(DOC_LEADER_KEY)!;
  assert.deepEqual(grantedServices(ctx, d, leader, offered), offered);
  assert.deepEqual(ungrantedServices(ctx, d, leader, offered), []);
});

Deno.test("service edits: node set changes relaying and labels, keeps the rest; the same is no change", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const n = nodeRecord("n1", "10.77.0.2", {
    labels: { site: "a" },
    grants: { services: ["pg"], routes: ["198.51.100.0/24"] },
  });
  ctx.index(d).add(n);
  const r = apply(
    d,
    (d, touch) => setGrants(ctx, d, touch, "n1", { relay: true, labels: { tier: "1" } }),
  );
  assert.equal(r.write, true);
  assert.deepEqual(r.touched[0], n.publicKey);
  assert.deepEqual(r.result.labels, { site: "a", tier: "1" });
  assert.deepEqual(r.result.grants, {
    services: ["pg"],
    routes: ["198.51.100.0/24"],
    relay: true,
  });
  const again = apply(d, (d, touch) => setGrants(ctx, d, touch, "n1", { relay: true }));
  assert.deepEqual([again.write, again.touched], [false, []]);
  assert.throws(() => setGrants(ctx, d, () => {}, "nobody", { relay: true }), LeaderNotFoundError);
  assert.throws(() => setGrants(ctx, d, () => {}, "leader", { relay: true }), LeaderError);
});
