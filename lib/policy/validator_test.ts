import assert from "node:assert/strict";
import { Validator } from "./validator.ts";

/** `v` checked as a selector at `from`, with no problem. */
function sel(v: unknown) {
  const check = new Validator(() => undefined);
  const out = check.selector(v, ["from"]);
  assert.deepEqual(check.problems, []);
  return out;
}

/** `v` checked as a selector at `to`: its first problem is at `path`, for `reason`. */
function rejects(v: unknown, path: string, reason: RegExp | string) {
  const check = new Validator(() => undefined);
  check.guard(() => check.selector(v, ["to"]), null);
  const first = check.problems[0];
  assert.ok(first, `expected a problem with ${JSON.stringify(v)}`);
  assert.equal(first.path, path, first.reason);
  if (typeof reason === "string") assert.ok(first.reason.includes(reason), first.reason);
  else assert.match(first.reason, reason);
}

Deno.test("selectors: every form normalized; '*' anywhere in a list means any", () => {
  assert.deepEqual(sel(" * "), [{ kind: "any" }]);
  assert.deepEqual(sel(["role=web", "*"]), [{ kind: "any" }]);
  assert.deepEqual(sel({ names: ["Web1", "db-2"] }), [{ kind: "names", names: ["web1", "db-2"] }]);
  assert.deepEqual(sel({ cidrs: ["10.1.0.0/16", "10.9.9.9", "FD00::/8"] }), [
    { kind: "cidrs", cidrs: ["10.1.0.0/16", "10.9.9.9/32", "fd00::/8"] },
  ]);
  // Map form: a string is "=", a list is "in" (duplicates dropped).
  assert.deepEqual(sel({ labels: { role: "web", env: ["prod", "dev", "prod"] } }), [{
    kind: "labels",
    match: [
      { key: "role", op: "=", values: ["web"] },
      { key: "env", op: "in", values: ["prod", "dev"] },
    ],
  }]);
  // Alternatives keep their order.
  const alt = sel([{ names: ["a"] }, "role=x"]);
  assert.deepEqual(alt.map((t) => t.kind), ["names", "labels"]);
});

Deno.test("selector errors carry the path to the bad part", () => {
  rejects([[]], "to[0]", "cannot nest");
  rejects({ names: ["ok", 5] }, "to.names[1]", "bad node name");
  rejects({ cidrs: [null] }, "to.cidrs[0]", "bad CIDR");
  rejects({ labels: { "bad key!": "x" } }, "to.labels.bad key!", /./);
  rejects({ labels: { k: [] } }, "to.labels.k", "non-empty list");
  rejects({ labels: 3 }, "to.labels", "labels must be");
  rejects({}, "to", "exactly one");
});
