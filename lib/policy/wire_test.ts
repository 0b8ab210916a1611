import assert from "node:assert/strict";
import { DEFAULT_PRIORITY, type PolicyDocument, PolicyError } from "./model.ts";
import { validatePolicy } from "./validate.ts";
import { policyFromWire, policyToWire } from "./wire.ts";

const rule = (extra: Record<string, unknown>) => ({ name: "r", action: "allow", ...extra });

Deno.test("policyToWire: map form where it can, expressions otherwise, ports compacted", () => {
  const doc: PolicyDocument = validatePolicy({
    policies: [
      rule({
        name: "a",
        description: "d",
        from: { labels: { role: ["web", "api"], env: "prod" } },
        to: "role!=db,!canary",
        proto: "tcp",
        ports: [22, "1000-2000"],
      }),
      rule({
        name: "b",
        from: [{ names: ["n1"] }, { cidrs: ["10.0.0.0/8"] }],
        to: "role=a,role=b",
      }),
    ],
  });
  const wire = policyToWire(doc);
  assert.ok(!("defaults" in wire));
  assert.deepEqual(wire.policies[0], {
    name: "a",
    action: "allow",
    priority: DEFAULT_PRIORITY,
    from: { labels: { role: ["web", "api"], env: "prod" } },
    to: { labels: "role!=db,!canary" },
    proto: "tcp",
    description: "d",
    ports: [22, "1000-2000"],
  });
  assert.deepEqual(wire.policies[1].from, [{ names: ["n1"] }, { cidrs: ["10.0.0.0/8"] }]);
  assert.deepEqual(wire.policies[1].to, { labels: "role=a,role=b" });
  assert.ok(!("ports" in wire.policies[1]));
  // A repeated key cannot be a map: it stays an expression and means the same.
  assert.deepEqual(policyFromWire(JSON.parse(JSON.stringify(wire))), doc);
  // The wire form owns its arrays: changing it leaves the document alone.
  (wire.policies[1].from as { names: string[] }[])[0].names.push("zz");
  assert.deepEqual((doc.policies[1].from[0] as { names: string[] }).names, ["n1"]);
  assert.deepEqual(policyToWire(validatePolicy({ defaults: { outbound: "deny" } })), {
    defaults: { outbound: "deny" },
    policies: [],
  });
});

Deno.test("wire form: segments, future names and tests go out and come back the same", () => {
  const doc = validatePolicy({
    future: ["db3"],
    policies: [rule({})],
    segments: [
      { name: "blue", vni: 100, select: "site in (a,b)", mtu: 1370 },
      { name: "red", vni: 7, select: { names: ["db3"] } },
    ],
    tests: [{ from: "web1", to: "10.200.0.9", proto: "udp", port: 53, expect: "deny" }],
  });
  const wire = policyToWire(doc);
  assert.deepEqual(wire.future, ["db3"]);
  assert.deepEqual(wire.segments, [
    {
      name: "blue",
      vni: 100,
      select: { labels: { site: ["a", "b"] } },
      mtu: 1370,
      driver: "vxlan",
    },
    { name: "red", vni: 7, select: { names: ["db3"] }, driver: "vxlan" },
  ]);
  assert.deepEqual(wire.tests, [
    { from: "web1", to: "10.200.0.9", proto: "udp", port: 53, expect: "deny" },
  ]);
  assert.deepEqual(policyFromWire(JSON.parse(JSON.stringify(wire))), doc);
});

Deno.test("policyFromWire: a bad wire value is a PolicyError, never a document", () => {
  assert.throws(() => policyFromWire({ policies: [{ name: "x", action: "maybe" }] }), PolicyError);
  assert.throws(() => policyFromWire([]), PolicyError);
});
