import assert from "node:assert/strict";
import type { Member } from "../members/member.ts";
import { CALL_DEFAULT_RULE, callerTermMatches, decideCall, explainCall } from "./calls.ts";
import type { CallerTerm } from "./model.ts";
import { checkPolicyText, parsePolicy } from "./parse.ts";
import { policyFromWire, policyToWire } from "./wire.ts";

function member(
  name: string,
  labels: Record<string, string> = {},
  services: string[] = [],
): Member {
  return {
    name,
    address: "10.200.0.9",
    publicKey: name,
    endpoints: [],
    labels,
    role: "node",
    services: services.map((s) => ({ name: s, port: 0, protocol: "tcp" as const })),
    joinedAt: 0,
  };
}

const POLICY = `
calls:
  - name: web-bills
    action: allow
    from: "role=web"
    service: billing
    actions: [charge]
  - name: ops-all
    action: allow
    priority: 10
    from: [{ names: [ops1] }, { services: [audit] }]
    service: "*"
  - name: no-refunds
    action: deny
    priority: 5
    from: "*"
    service: billing
    actions: [refund]
`;

Deno.test("call rules: parsed with their defaults, and back through the wire form", () => {
  const doc = parsePolicy(POLICY);
  assert.equal(doc.policies.length, 0);
  assert.deepEqual(doc.calls?.[0], {
    name: "web-bills",
    action: "allow",
    priority: 1000,
    from: [{ kind: "labels", match: [{ key: "role", op: "=", values: ["web"] }] }],
    service: "billing",
    actions: ["charge"],
  });
  assert.deepEqual(doc.calls?.[1].from, [
    { kind: "names", names: ["ops1"] },
    { kind: "services", services: ["audit"] },
  ]);
  assert.deepEqual(policyFromWire(JSON.parse(JSON.stringify(policyToWire(doc)))), doc);
});

Deno.test("call rules: the first matching rule by priority decides, naming itself", () => {
  const { calls } = parsePolicy(POLICY);
  const web = member("web1", { role: "web" });
  const ops = member("ops1");
  const auditor = member("aud1", {}, ["audit"]);
  const other = member("db1", { role: "db" });
  assert.deepEqual(decideCall(calls, web, "billing", "charge"), {
    allowed: true,
    rule: "web-bills",
    reason: "allowed by call rule web-bills",
  });
  // no-refunds (priority 5) comes before ops-all (10) and web-bills (1000).
  assert.equal(decideCall(calls, ops, "billing", "refund").rule, "no-refunds");
  assert.equal(decideCall(calls, ops, "billing", "refund").allowed, false);
  assert.equal(decideCall(calls, ops, "billing", "charge").rule, "ops-all");
  assert.equal(decideCall(calls, auditor, "shipping", "track").allowed, true);
  // A service named by a rule (here every one, by ops-all's "*") is closed to the others.
  const v = decideCall(calls, other, "billing", "charge");
  assert.equal(v.allowed, false);
  assert.equal(v.rule, CALL_DEFAULT_RULE);
  assert.match(v.reason, /none lets db1 call billing\/charge/);
  assert.equal(decideCall(calls, web, "billing", "history").allowed, false);
  // A caller that is no member is picked by "*" only.
  assert.equal(decideCall(calls, null, "billing", "refund").rule, "no-refunds");
  assert.equal(decideCall(calls, null, "billing", "charge").allowed, false);
});

Deno.test("call rules: a service no rule names stays open; no rules is open", () => {
  const { calls } = parsePolicy(
    "calls:\n  - { name: a, action: allow, from: role=web, service: billing }\n",
  );
  const v = decideCall(calls, member("db1"), "shipping", "track");
  assert.deepEqual(v, {
    allowed: true,
    rule: null,
    reason: "no call rule names shipping: it is open",
  });
  assert.equal(decideCall(undefined, null, "billing", "charge").allowed, true);
  assert.equal(decideCall([], null, "billing", "charge").allowed, true);
  assert.equal(parsePolicy("policies: []").calls, undefined);
});

Deno.test("call rules: granted labels count, a node's own claims do not", () => {
  const term: CallerTerm = {
    kind: "labels",
    match: [{ key: "role", op: "=", values: ["web"] }],
  };
  const claimed = { ...member("x"), nodeLabels: { "node.weft/role": "web" } };
  assert.equal(callerTermMatches(term, claimed), false);
  assert.equal(callerTermMatches(term, member("y", { role: "web" })), true);
  assert.equal(callerTermMatches({ kind: "services", services: ["a"] }, null), false);
});

Deno.test("call rules: a name no member has is refused, as in the network rules", () => {
  const view = { network: "10.200.0.0/24", version: 1, members: [member("n1"), member("n2")] };
  assert.throws(
    () =>
      checkPolicyText(
        "calls:\n  - { name: a, action: allow, from: { names: [n9] }, service: billing }\n",
        { view },
      ),
    /line 2: calls\[0\]\.from\.names\[0\]: no member n9/,
  );
});

Deno.test("call rules: explainCall names the rule, the default, or an open service", () => {
  const doc = parsePolicy(POLICY);
  const view = {
    network: "10.200.0.0/24",
    version: 1,
    members: [member("web1", { role: "web" }), member("db1")],
  };
  const ok = explainCall(doc, view, { from: "WEB1", call: "billing/charge" });
  assert.deepEqual(ok, {
    allowed: true,
    decidedBy: "rule",
    rule: { name: "web-bills", action: "allow", priority: 1000 },
    from: { member: "web1" },
    service: "billing",
    action: "charge",
    summary: "web1 calling billing/charge: allowed by call rule web-bills (priority 1000)",
  });
  const no = explainCall(doc, view, { from: "db1", call: "billing/charge" });
  assert.equal(no.decidedBy, "default");
  assert.equal(no.allowed, false);
  // An address no member has is judged as no member.
  const stranger = explainCall(doc, view, { from: "192.0.2.7", call: "billing/refund" });
  assert.deepEqual(stranger.from, { address: "192.0.2.7" });
  assert.equal(stranger.rule?.name, "no-refunds");
  assert.equal(explainCall(null, view, { from: "db1", call: "x/y" }).decidedBy, "open");
  assert.throws(() => explainCall(doc, view, { from: "nobody", call: "a/b" }), /neither/);
  assert.throws(() => explainCall(doc, view, { from: "db1", call: "billing" }), /bad call/);
});
