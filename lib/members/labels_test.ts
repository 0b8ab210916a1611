import assert from "node:assert/strict";
import {
  grantedLabelsProblem,
  labelKeyProblem,
  labelsProblem,
  labelValueProblem,
  MAX_LABELS,
  ownLabelsProblem,
  parseLabelText,
  policyLabels,
  splitLabels,
} from "./labels.ts";

Deno.test("labels: key=value text", () => {
  assert.deepEqual(parseLabelText("env=prod"), { key: "env", value: "prod" });
  assert.deepEqual(parseLabelText("a.b/c="), { key: "a.b/c", value: "" });
  assert.throws(() => parseLabelText("a=b=c"), /invalid label "a=b=c": the value must start/);
  assert.throws(() => parseLabelText("Env"), /expected KEY=VALUE/);
  assert.throws(() => parseLabelText("UPPER.com/x=1"), /key prefix/);
  assert.throws(() => parseLabelText("x/y/z=1"), /the key name/);
});

Deno.test("labels: keys and values in Kubernetes syntax", () => {
  for (const ok of ["app", "app.kubernetes.io/name", "a_b-c.d", "node.weft/os"]) {
    assert.equal(labelKeyProblem(ok), undefined, ok);
  }
  for (const bad of ["", "-a", "a/", "/a", "A.com/x", "a".repeat(64), "a b"]) {
    assert.notEqual(labelKeyProblem(bad), undefined, bad);
  }
  assert.equal(labelValueProblem(""), undefined);
  assert.notEqual(labelValueProblem("a b"), undefined);
  assert.notEqual(labelValueProblem("v".repeat(64)), undefined);
});

Deno.test("labels: mappings, granted and asserted", () => {
  assert.equal(labelsProblem({ role: "web" }), undefined);
  assert.match(labelsProblem([])!, /object of strings/);
  assert.match(labelsProblem({ role: 1 })!, /must be a string/);
  const many = Object.fromEntries(Array.from({ length: MAX_LABELS + 1 }, (_, i) => [`k${i}`, ""]));
  assert.match(labelsProblem(many)!, /at most 64/);
  assert.match(grantedLabelsProblem({ "node.weft/os": "linux" })!, /reserved/);
  assert.equal(ownLabelsProblem({ "node.weft/os": "linux" }), undefined);
  assert.match(ownLabelsProblem({ role: "db" })!, /cannot give itself labels/);
  assert.deepEqual(splitLabels({ role: "web", "node.weft/os": "linux" }), {
    granted: { role: "web" },
    asserted: { "node.weft/os": "linux" },
  });
  assert.deepEqual(
    policyLabels({ labels: { role: "web", "node.weft/x": "1" }, nodeLabels: { a: "b" } }),
    { role: "web" },
  );
});
