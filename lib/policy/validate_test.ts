import assert from "node:assert/strict";
import {
  DEFAULT_PRIORITY,
  formatPath,
  type LineLocator,
  MAX_PRIORITY,
  MAX_RULES,
  PolicyError,
} from "./model.ts";
import { validatePolicy } from "./validate.ts";
import { policyFromWire, policyToWire } from "./wire.ts";

function rejects(value: unknown, path: string, reason: RegExp | string, locate?: LineLocator) {
  let err: unknown;
  try {
    validatePolicy(value, locate);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PolicyError, `expected a PolicyError, got ${err}`);
  assert.equal(err.path, path, err.message);
  if (typeof reason === "string") assert.ok(err.reason.includes(reason), err.reason);
  else assert.match(err.reason, reason);
  return err;
}

const rule = (extra: Record<string, unknown>) => ({ name: "r", action: "allow", ...extra });

Deno.test("empty documents: null, undefined, {} and empty lists are no policy", () => {
  for (const v of [null, undefined, {}, { policies: [] }, { policies: null, defaults: null }]) {
    assert.deepEqual(validatePolicy(v), { defaults: {}, policies: [] });
  }
  assert.deepEqual(validatePolicy({ defaults: { inbound: "deny" } }), {
    defaults: { inbound: "deny" },
    policies: [],
  });
});

Deno.test("a minimal rule gets every default", () => {
  const doc = validatePolicy({ policies: [rule({})] });
  assert.deepEqual(doc.policies, [{
    name: "r",
    action: "allow",
    priority: DEFAULT_PRIORITY,
    from: [{ kind: "any" }],
    to: [{ kind: "any" }],
    proto: "any",
    ports: [],
  }]);
  assert.equal(DEFAULT_PRIORITY, 1000);
  assert.ok(!("description" in doc.policies[0]));
});

Deno.test("priority bounds: 0 and MAX_PRIORITY accepted, outside or non-integer refused", () => {
  assert.equal(validatePolicy({ policies: [rule({ priority: 0 })] }).policies[0].priority, 0);
  assert.equal(
    validatePolicy({ policies: [rule({ priority: MAX_PRIORITY })] }).policies[0].priority,
    MAX_PRIORITY,
  );
  for (const p of [MAX_PRIORITY + 1, -1, 2.5, "10", NaN, Infinity]) {
    rejects({ policies: [rule({ priority: p })] }, "policies[0].priority", "bad priority");
  }
});

Deno.test("ports: numbers, numeric strings, ranges with spaces, a bare value", () => {
  const ports = (v: unknown) =>
    validatePolicy({ policies: [rule({ proto: "tcp", ports: v })] }).policies[0].ports;
  assert.deepEqual(ports([80, "443", " 8000 - 8010 ", "1-65535", "5-5"]), [
    { from: 80, to: 80 },
    { from: 443, to: 443 },
    { from: 8000, to: 8010 },
    { from: 1, to: 65535 },
    { from: 5, to: 5 },
  ]);
  assert.deepEqual(ports(22), [{ from: 22, to: 22 }]);
  assert.deepEqual(ports("10-20"), [{ from: 10, to: 20 }]);
  // A bare bad value reports the ports path itself; in a list, the element's.
  rejects({ policies: [rule({ proto: "udp", ports: 0 })] }, "policies[0].ports", "bad port");
  rejects(
    { policies: [rule({ proto: "udp", ports: [1, 65536] })] },
    "policies[0].ports[1]",
    "1-65535",
  );
  rejects(
    { policies: [rule({ proto: "udp", ports: ["080"] })] },
    "policies[0].ports[0]",
    "bad port range",
  );
  rejects(
    { policies: [rule({ proto: "udp", ports: [80.5] })] },
    "policies[0].ports[0]",
    "bad port",
  );
  rejects(
    { policies: [rule({ proto: "udp", ports: [true] })] },
    "policies[0].ports[0]",
    "expected a number",
  );
});

Deno.test("document limits and rule names", () => {
  const many = Array.from({ length: MAX_RULES + 1 }, (_, i) => rule({ name: `r${i}` }));
  rejects({ policies: many }, "policies", `limit of ${MAX_RULES}`);
  assert.equal(validatePolicy({ policies: many.slice(1) }).policies.length, MAX_RULES);
  const long = "a".repeat(63);
  assert.equal(validatePolicy({ policies: [rule({ name: long })] }).policies[0].name, long);
  rejects({ policies: [rule({ name: long + "a" })] }, "policies[0].name", "bad rule name");
  rejects({ policies: [rule({ name: "-x" })] }, "policies[0].name", "bad rule name");
  rejects({ policies: [rule({ name: 5 })] }, "policies[0].name", "bad rule name");
  assert.ok(validatePolicy({ policies: [rule({ name: "A.b_c-1" })] }));
});

Deno.test("the locator is asked for the failing path, as a key for unknown keys", () => {
  const asked: [string, boolean][] = [];
  const locate: LineLocator = (path, key) => {
    asked.push([formatPath(path), key]);
    return 42;
  };
  const e = rejects(
    { policies: [rule({ color: "red" })] },
    "policies[0].color",
    "unknown key",
    locate,
  );
  assert.equal(e.line, 42);
  assert.deepEqual(asked, [["policies[0].color", true]]);
  asked.length = 0;
  // A duplicate name names the line of the first use too.
  const dup = rejects(
    { policies: [rule({ name: "x" }), rule({ name: "x" })] },
    "policies[1].name",
    "first used by policies[0] at line 42",
    locate,
  );
  assert.equal(dup.line, 42);
  assert.deepEqual(asked, [["policies[0].name", false], ["policies[1].name", false]]);
});

Deno.test("qos: rate, burst and class normalized; the wire form writes units out", () => {
  const qos = (v: unknown) => validatePolicy({ policies: [rule({ qos: v })] }).policies[0].qos;
  assert.deepEqual(qos({ rate: "20mbit" }), { rate: 20_000_000 });
  assert.deepEqual(qos({ rate: "1.5gbit", burst: "64kb", class: "bulk" }), {
    rate: 1_500_000_000,
    burst: 65536,
    class: "bulk",
  });
  assert.deepEqual(qos({ class: "interactive" }), { class: "interactive" });
  assert.deepEqual(qos({ rate: "20mbit", burst: 3000 }), { rate: 20_000_000, burst: 3000 });
  // No qos: no key at all.
  assert.ok(!("qos" in validatePolicy({ policies: [rule({})] }).policies[0]));
  const doc = validatePolicy({
    policies: [rule({ qos: { rate: "1500kbit", burst: "250000", class: "bulk" } })],
  });
  const wire = policyToWire(doc);
  assert.deepEqual(wire.policies[0].qos, { rate: "1500kbit", burst: "250000b", class: "bulk" });
  assert.deepEqual(policyFromWire(JSON.parse(JSON.stringify(wire))), doc);
});

Deno.test("qos: errors name the key and say what is expected", () => {
  const q = (v: unknown, extra: Record<string, unknown> = {}) => ({
    policies: [rule({ ...extra, qos: v })],
  });
  rejects(q({ rate: "20" }), "policies[0].qos.rate", "bit, kbit, mbit or gbit");
  rejects(q({ rate: 20 }), "policies[0].qos.rate", "give a unit");
  rejects(q({ rate: "200gbit" }), "policies[0].qos.rate", "1kbit-100gbit");
  rejects(q({ rate: "20mbit", burst: "1kb" }), "policies[0].qos.burst", "1500b-64mb");
  rejects(q({ rate: "20mbit", burst: "2kbit" }), "policies[0].qos.burst", "b, kb or mb");
  rejects(q({ burst: "64kb" }), "policies[0].qos.burst", "burst goes with a rate");
  rejects(q({ class: "urgent" }), "policies[0].qos.class", "interactive or bulk");
  rejects(q({}), "policies[0].qos", "needs a rate or a class");
  rejects(q("20mbit"), "policies[0].qos", "qos must be a map");
  rejects(q({ rate: "20mbit", ceil: "30mbit" }), "policies[0].qos.ceil", "unknown key");
  rejects(
    q({ rate: "20mbit" }, { action: "deny" }),
    "policies[0].qos",
    "only to allow rules",
  );
  // The shorthand of a rule with its rate, burst or class on the rule itself points to qos.
  const flat = (extra: Record<string, unknown>) => ({ policies: [rule(extra)] });
  rejects(flat({ rate: "20mbit" }), "policies[0].rate", 'qos: { rate: "20mbit" }');
  rejects(flat({ burst: "64kb" }), "policies[0].burst", "goes under the rule's qos key");
  rejects(flat({ class: "bulk" }), "policies[0].class", 'qos: { class: "bulk" }');
  rejects(flat({ priority: "interactive" }), "policies[0].priority", "qos: { class: interactive }");
});
