import assert from "node:assert/strict";
import { formatPath, formatProblem, MAX_PROBLEMS_SHOWN, PolicyError } from "./model.ts";

Deno.test("PolicyError: message from line, path and reason; fields kept", () => {
  const e = new PolicyError("bad thing", "policies[1].to", 7);
  assert.equal(e.message, "line 7: policies[1].to: bad thing");
  assert.deepEqual([e.name, e.line, e.path, e.reason], [
    "PolicyError",
    7,
    "policies[1].to",
    "bad thing",
  ]);
  assert.ok(e instanceof Error);
  assert.equal(new PolicyError("x", "a").message, "a: x");
  assert.equal(new PolicyError("x", "", 3).message, "line 3: x");
  assert.equal(new PolicyError("x").message, "x");
});

Deno.test("formatPath: keys dotted, indices in brackets", () => {
  assert.equal(formatPath([]), "");
  assert.equal(formatPath(["policies", 2, "from", "labels"]), "policies[2].from.labels");
  assert.equal(formatPath(["defaults"]), "defaults");
  assert.equal(formatPath([0, "a"]), "[0].a");
});

Deno.test("PolicyError.of: problems sorted by line, the first on the error, the rest counted", () => {
  const e = PolicyError.of([
    { reason: "b", path: "policies[1]", line: 9 },
    { reason: "no line", path: "future" },
    { reason: "a", path: "policies[0]", line: 4 },
  ]);
  assert.deepEqual([e.line, e.path, e.reason], [4, "policies[0]", "a"]);
  assert.deepEqual(e.problems.map((p) => p.reason), ["a", "b", "no line"]);
  assert.equal(
    e.message,
    "3 problems:\n  line 4: policies[0]: a\n  line 9: policies[1]: b\n  future: no line",
  );
  const many = PolicyError.of(
    Array.from({ length: MAX_PROBLEMS_SHOWN + 3 }, (_, i) => ({ reason: `r${i}`, path: "" })),
  );
  assert.equal(many.problems.length, MAX_PROBLEMS_SHOWN + 3);
  assert.ok(many.message.endsWith("\n  ... and 3 more"), many.message);
  assert.equal(PolicyError.of([{ reason: "one", path: "p" }]).message, "p: one");
  assert.equal(formatProblem({ reason: "r", path: "", line: 2 }), "line 2: r");
});
