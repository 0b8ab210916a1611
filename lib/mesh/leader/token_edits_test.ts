/**
 * The token edits on a plain document (no store): a new token is checked and its secret kept
 * only hashed; adding one checks the name it pins and withdraws offers of names it restricts;
 * revoking, listing.
 */
import assert from "node:assert/strict";
import { secretMatches } from "../join/token.ts";
import { LeaderError, LeaderNotFoundError } from "./errors.ts";
import {
  addToken,
  newToken,
  revokeToken,
  TOKEN_TTL_RANGE_MS,
  tokenKeys,
  tokenViews,
} from "./token_edits.ts";
import {
  addPlainToken,
  apply,
  nodeRecord,
  plainContext,
  plainDocument,
} from "./testing/documents.ts";

const MINUTE = 60_000;

Deno.test("token edits: uses must be a positive integer or null (unlimited)", () => {
  for (const uses of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(
      () => newToken({ ttlMs: MINUTE, uses, labels: {} }, 0),
      /uses must be a positive integer/,
      String(uses),
    );
  }
  assert.equal(newToken({ ttlMs: MINUTE, uses: null, labels: {} }, 0).token.usesLeft, null);
  assert.equal(newToken({ ttlMs: MINUTE, uses: 2, labels: {} }, 0).token.usesLeft, 2);
});

Deno.test("token edits: the ttl range, labels, service names and approvals are checked", () => {
  const { min, max } = TOKEN_TTL_RANGE_MS;
  for (const ttlMs of [min - 1, max + 1, NaN]) {
    assert.throws(() => newToken({ ttlMs, uses: 1, labels: {} }, 0), LeaderError, String(ttlMs));
  }
  assert.throws(() => newToken({ ttlMs: min, uses: 1, labels: { "node.weft/x": "1" } }, 0));
  assert.throws(() => newToken({ ttlMs: min, uses: 1, labels: {}, services: ["Bad Name"] }, 0));
  assert.throws(
    () => newToken({ ttlMs: min, uses: 1, labels: {}, approveRoutes: ["not-a-prefix"] }, 0),
    (e: unknown) => e instanceof LeaderError && /^approve-routes: /.test(e.message),
  );
  const t = newToken({
    ttlMs: max,
    uses: 1,
    labels: { role: "db" },
    services: ["pg"],
    relay: true,
    approveRoutes: ["198.51.100.0/24"],
    hostname: "bastion",
  }, 1_000).token;
  assert.equal(t.expiresAt, 1_000 + max);
  assert.deepEqual(
    [t.labels, t.services, t.relay, t.approveRoutes, t.hostname, t.revoked],
    [{ role: "db" }, ["pg"], true, ["198.51.100.0/24"], "bastion", false],
  );
});

Deno.test("token edits: the secret is kept only hashed; views and keys never show it", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const made = newToken({ ttlMs: 10 * MINUTE, uses: 3, labels: {} }, 5_000);
  assert.ok(secretMatches(made.token, made.secret));
  assert.ok(!JSON.stringify(made.token).includes(made.secret));
  const r = apply(d, (d, touch) => addToken(ctx, d, touch, made, 5_000));
  assert.deepEqual(r.result, { id: made.token.id, secret: made.secret, expiresAt: 605_000 });
  assert.equal(r.write, true);
  assert.deepEqual(r.touched, [], "a token is no member change");
  assert.equal(ctx.tokenChanges, 1);
  const [view] = tokenViews(d, 604_999);
  assert.equal(view.expired, false);
  assert.ok(!("secretHash" in view));
  assert.equal(tokenViews(d, 605_000)[0].expired, true);
  assert.deepEqual(tokenKeys(d), [{ id: made.token.id, secretHash: made.token.secretHash }]);
});

Deno.test("token edits: a pinned name another member holds, or a service's, is refused", () => {
  const ctx = plainContext();
  const d = plainDocument();
  ctx.index(d).add(nodeRecord("web1", "10.77.0.2"));
  for (const hostname of ["web1", "leader", "node-0-2"]) {
    const made = newToken({ ttlMs: MINUTE, uses: 1, labels: {}, hostname }, 0);
    assert.throws(() => addToken(ctx, d, () => {}, made, 0), LeaderError, hostname);
  }
  // Its own service name is a claim on the name too.
  const own = newToken({ ttlMs: MINUTE, uses: 1, labels: {}, hostname: "db", services: ["db"] }, 0);
  assert.throws(() => addToken(ctx, d, () => {}, own, 0), /hostname "db"/);
  assert.equal(d.tokens.length, 0);
  addPlainToken(ctx, d, { hostname: "bastion" });
  assert.equal(d.tokens[0].hostname, "bastion");
});

Deno.test("token edits: a token restricting a name withdraws offers of it made without a grant", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const pg = { name: "pg", port: 5432, protocol: "tcp" as const };
  const web = { name: "web", port: 80, protocol: "tcp" as const };
  const n = nodeRecord("n1", "10.77.0.2", { services: [pg, web] });
  ctx.index(d).add(n);
  const made = newToken({ ttlMs: MINUTE, uses: 1, labels: {}, services: ["pg"] }, 0);
  const r = apply(d, (d, touch) => addToken(ctx, d, touch, made, 0));
  assert.deepEqual(r.touched, [n.publicKey]);
  assert.deepEqual(ctx.index(d).byKey(n.publicKey)!.services, [web]);
  assert.equal(ctx.counts.servicesRefused, 1);
});

Deno.test("token edits: revoking marks the token; an unknown id is not found", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const t = addPlainToken(ctx, d);
  assert.equal(revokeToken(d, t.id).write, true);
  assert.equal(d.tokens[0].revoked, true);
  assert.throws(() => revokeToken(d, "nope"), LeaderNotFoundError);
});
