import assert from "node:assert/strict";
import {
  formatLabelExpression,
  labelsMatch,
  parseLabelExpression,
  termMatchesMember,
} from "./selector.ts";
import { member } from "../../tests/fixtures/policy_packets.ts";

Deno.test("policy selector: label expression terms", () => {
  assert.deepEqual(
    parseLabelExpression("role=web, env != prod,tier in (a, b,a), x notin (y), k, !z"),
    [
      { key: "role", op: "=", values: ["web"] },
      { key: "env", op: "!=", values: ["prod"] },
      { key: "tier", op: "in", values: ["a", "b"] },
      { key: "x", op: "notin", values: ["y"] },
      { key: "k", op: "exists", values: [] },
      { key: "z", op: "!exists", values: [] },
    ],
  );
  assert.deepEqual(parseLabelExpression("app.kubernetes.io/name==weft"), [
    { key: "app.kubernetes.io/name", op: "=", values: ["weft"] },
  ]);
});

Deno.test("policy selector: bad expressions say which term", () => {
  for (
    const [text, piece] of [
      ["role=", "bad label value"],
      ["=web", "expected key=value"],
      ["role=web,", "empty term"],
      ["role in ()", "empty value set"],
      ["role in (a,(b))", "parentheses"],
      ["role in (a", "parentheses"],
      ["-role=web", "bad label key"],
      ["role=we b", "expected key=value"],
      ["role=a=b", "expected key=value"],
      ["role=" + "v".repeat(64), "bad label value"],
    ]
  ) {
    assert.throws(() => parseLabelExpression(text), (e: unknown) => {
      assert.ok((e as Error).message.includes(piece), `${text}: ${(e as Error).message}`);
      return true;
    });
  }
});

Deno.test("policy selector: format round-trips", () => {
  const text = "role=web,env!=prod,tier in (a,b),x notin (y),k,!z";
  const parsed = parseLabelExpression(text);
  assert.equal(formatLabelExpression(parsed), text);
  assert.deepEqual(parseLabelExpression(formatLabelExpression(parsed)), parsed);
});

Deno.test("policy selector: label semantics", () => {
  const labels = { role: "web", env: "prod" };
  const m = (e: string) => labelsMatch(parseLabelExpression(e), labels);
  assert.equal(m("role=web"), true);
  assert.equal(m("role=app"), false);
  assert.equal(m("role=web,env=prod"), true);
  assert.equal(m("role=web,env=dev"), false);
  assert.equal(m("env!=dev"), true);
  assert.equal(m("env!=prod"), false);
  assert.equal(m("zone!=eu"), true, "!= holds when the label is absent");
  assert.equal(m("role in (app,web)"), true);
  assert.equal(m("zone in (eu)"), false);
  assert.equal(m("role notin (app)"), true);
  assert.equal(m("role notin (web)"), false);
  assert.equal(m("zone notin (eu)"), true, "notin holds when the label is absent");
  assert.equal(m("role"), true);
  assert.equal(m("zone"), false);
  assert.equal(m("!zone"), true);
  assert.equal(m("!role"), false);
  // Inherited properties are not labels.
  assert.equal(m("toString"), false);
});

Deno.test("policy selector: terms against members", () => {
  const web = member("Web-1", "10.0.0.1", { role: "web" });
  assert.equal(termMatchesMember({ kind: "any" }, web), true);
  assert.equal(termMatchesMember({ kind: "names", names: ["web-1"] }, web), true);
  assert.equal(termMatchesMember({ kind: "names", names: ["web-2"] }, web), false);
  assert.equal(
    termMatchesMember({ kind: "labels", match: parseLabelExpression("role=web") }, web),
    true,
  );
  assert.equal(termMatchesMember({ kind: "cidrs", cidrs: ["10.0.0.0/8"] }, web), false);
});
