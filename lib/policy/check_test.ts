import assert from "node:assert/strict";
import { checkPolicyText, parsePolicy, serializePolicy } from "./parse.ts";
import { MAX_PROBLEMS_SHOWN, PolicyError } from "./schema.ts";
import { threeNodes } from "../../tests/fixtures/policy_packets.ts";

/** The error `fn` throws (a PolicyError, or the test fails). */
function refusal(fn: () => unknown): PolicyError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PolicyError) return e;
    throw e;
  }
  assert.fail("not refused");
}

const view = threeNodes();

Deno.test("policy check: a name no member has is refused at its line, with a suggestion", () => {
  const text = [
    "defaults: { inbound: deny }",
    "policies:",
    "  - name: ssh",
    "    action: allow",
    "    from: { names: [web] }",
    "    to: { names: [dc] }",
    "",
  ].join("\n");
  // Without members (a node reading its leader's policy, `parsePolicy` alone), names are names.
  assert.equal(parsePolicy(text).policies.length, 1);
  const e = refusal(() => checkPolicyText(text, { view }));
  assert.equal(e.line, 6);
  assert.equal(e.path, "policies[0].to.names[0]");
  assert.match(e.reason, /^no member dc \(did you mean db\?\); a member yet to join goes in/);
  assert.match(e.message, /^line 6: policies\[0\]\.to\.names\[0\]: no member dc/);
});

Deno.test("policy check: names match members in any case; future: names members to come", () => {
  const text = [
    "future: [Cache1]",
    "policies:",
    "  - name: a",
    "    action: allow",
    "    from: [{ names: [WEB, cache1] }, role=web]",
    "    to: { names: [App] }",
    "segments:",
    "  - { name: blue, vni: 7, select: { names: [db, cache1] } }",
    "",
  ].join("\n");
  const { doc, warnings } = checkPolicyText(text, { view });
  assert.deepEqual(doc.future, ["cache1"]);
  assert.deepEqual(warnings, []);
  // The future list goes with the policy: the canonical text reads back the same.
  const canonical = serializePolicy(doc);
  assert.ok(canonical.startsWith("future:\n  - cache1\n"), canonical);
  assert.deepEqual(parsePolicy(canonical), doc);
  // A segment's names are checked as a rule's.
  const seg = refusal(() =>
    checkPolicyText(text.replace("future: [Cache1]", "future: []"), { view })
  );
  assert.deepEqual(seg.problems.map((p) => [p.line, p.path]), [
    [5, "policies[0].from[0].names[1]"],
    [8, "segments[0].select.names[1]"],
  ]);
});

Deno.test("policy check: labels no member has warn (each with its line), never refuse", () => {
  const text = [
    "policies:",
    "  - name: a",
    "    action: allow",
    "    from: role=web",
    "    to: role=cache",
    "  - name: b",
    "    action: allow",
    "    to: { labels: { role: cache } }",
    "",
  ].join("\n");
  const { warnings } = checkPolicyText(text, { view });
  assert.deepEqual(warnings, [
    `line 5: policies[0].to: labels "role=cache" match no member (yet)`,
    `line 8: policies[1].to.labels: labels "role=cache" match no member (yet)`,
  ]);
});

Deno.test("policy check: the tests run against the members; every failing one is named", () => {
  const rules = [
    "defaults: { inbound: deny }",
    "policies:",
    "  - name: web-to-app",
    "    action: allow",
    "    from: role=web",
    "    to: role=app",
    "    proto: tcp",
    "    ports: [8080]",
    "tests:",
  ];
  const passing = [
    ...rules,
    "  - { from: web, to: app, port: 8080, expect: allow }",
    "  - { from: app, to: web, port: 8080, expect: deny }",
    "  - { from: 10.77.0.1, to: app, proto: icmp, expect: deny }",
    "",
  ].join("\n");
  const { doc } = checkPolicyText(passing, { view });
  assert.deepEqual(doc.tests, [
    { from: "web", to: "app", proto: "tcp", port: 8080, expect: "allow" },
    { from: "app", to: "web", proto: "tcp", port: 8080, expect: "deny" },
    { from: "10.77.0.1", to: "app", proto: "icmp", expect: "deny" },
  ]);
  assert.deepEqual(parsePolicy(serializePolicy(doc)), doc);
  const failing = [
    ...rules,
    "  - { from: web, to: app, port: 8080, expect: allow }",
    "  - { from: web, to: app, port: 8081, expect: allow }",
    "  - { from: web, to: db, proto: icmp, expect: allow }",
    "  - { from: web, to: nosuch, proto: icmp, expect: deny }",
    "",
  ].join("\n");
  const e = refusal(() => checkPolicyText(failing, { view }));
  assert.deepEqual(e.problems.map((p) => `${p.line} ${p.path}: ${p.reason}`), [
    "11 tests[1]: test fails: expects allow, but tcp/8081 web -> app: no rule matches; denied " +
    "by the defaults (outbound allow, inbound deny; between members both apply)",
    "12 tests[2]: test fails: expects allow, but icmp web -> db: no rule matches; denied by the " +
    "defaults (outbound allow, inbound deny; between members both apply)",
    `13 tests[3]: "nosuch" is neither an IP address nor a member of the mesh`,
  ]);
  // Without members the tests are not run (a node, the CLI's own reading).
  assert.equal(parsePolicy(failing).tests?.length, 4);
});

Deno.test("policy check: a test naming a member yet to join waits, with a warning", () => {
  const text = [
    "future: [cache1]",
    "policies: []",
    "tests:",
    "  - { from: web, to: cache1, port: 6379, expect: allow }",
    "",
  ].join("\n");
  assert.deepEqual(checkPolicyText(text, { view }).warnings, [
    "line 4: tests[0]: not run: cache1 has not joined yet",
  ]);
});

Deno.test("policy check: tests are not run on a document with problems; all are reported", () => {
  const text = [
    "policies:",
    "  - name: a",
    "    action: maybe",
    "    to: { names: [nobody] }",
    "tests:",
    "  - { from: web, to: app, port: 1, expect: deny }",
    "",
  ].join("\n");
  const e = refusal(() => checkPolicyText(text, { view }));
  assert.deepEqual(e.problems.map((p) => p.line), [3, 4]);
  assert.match(e.message, /^2 problems:\n {2}line 3: policies\[0\]\.action: bad action/);
});

Deno.test("policy check: many unknown names: every one refused, the message a screenful", () => {
  const names = Array.from({ length: 50 }, (_, i) => `ghost${i}`);
  const text = `policies:\n  - name: a\n    action: allow\n    to: { names: [${names}] }\n`;
  const e = refusal(() => checkPolicyText(text, { view }));
  assert.equal(e.problems.length, 50);
  const lines = e.message.split("\n");
  assert.equal(lines[0], "50 problems:");
  assert.equal(lines.length, 1 + MAX_PROBLEMS_SHOWN + 1);
  assert.equal(lines.at(-1), `  ... and ${50 - MAX_PROBLEMS_SHOWN} more`);
});
