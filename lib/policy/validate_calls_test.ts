import assert from "node:assert/strict";
import { PolicyError } from "./model.ts";
import { validatePolicy } from "./validate.ts";

Deno.test("call rules: every problem is reported with its place", () => {
  let err: unknown;
  try {
    validatePolicy({
      calls: [
        { name: "a", action: "allow", service: "Bad Name", actions: ["x y"], extra: 1 },
        { name: "b", action: "maybe", service: "s", from: { cidrs: ["10.0.0.0/8"] } },
        { name: "a", action: "allow", service: "s" },
        { action: "allow", service: "s" },
        { name: "c", action: "allow", from: { services: ["UPPER"] } },
      ],
    });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PolicyError);
  const reasons = err.problems.map((p) => `${p.path}: ${p.reason}`).join("\n");
  for (
    const re of [
      /calls\[0\]\.extra: unknown key "extra" in a call rule/,
      /calls\[0\]\.service: bad service/,
      /calls\[0\]\.actions\[0\]: bad action name/,
      /calls\[1\]\.action: bad action/,
      /calls\[1\]\.from: a call rule's from picks members/,
      /calls\[2\]\.name: duplicate call rule name "a"/,
      /calls\[3\]: a call rule needs a name/,
      /calls\[4\]: call rule "c" needs a service/,
      /calls\[4\]\.from\.services\[0\]: bad service name/,
    ]
  ) assert.match(reasons, re);
  assert.throws(() => validatePolicy({ calls: "x" }), /calls must be a list/);
});
