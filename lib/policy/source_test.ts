/**
 * The leader's policy from its configuration file (policyFromConfig: the `policy:` section cut
 * out of the file, errors as ConfigErrors at the file's own lines) and from text
 * (compilePolicyText: validated, canonical).
 */
import assert from "node:assert/strict";
import { compilePolicyText, policyFromConfig } from "./source.ts";
import { loadAgentConfig } from "../config/agent_config.ts";
import { ConfigError } from "../config/config_error.ts";
import { parsePolicy } from "./parse.ts";
import { PolicyError } from "./schema.ts";
import { ISSUE_POLICY } from "../../tests/fixtures/policy_packets.ts";

/** Loads a configuration file of `lines` (line N is lines[N - 1]) and compiles its policy. */
async function fromFile(lines: string[]) {
  const dir = await Deno.makeTempDir({ prefix: "weft-policy-source-" });
  try {
    const file = `${dir}/weft.yaml`;
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    const config = await loadAgentConfig({ configPath: file });
    assert.ok(config.policy, "the file has a policy section");
    return { file, result: () => policyFromConfig(config.policy!) };
  } finally {
    // The source holds the text; the file itself is not read again.
    await Deno.remove(dir, { recursive: true });
  }
}

/** The ConfigError the file's policy raises. */
async function configError(lines: string[]): Promise<ConfigError & { file: string }> {
  const { file, result } = await fromFile(lines);
  try {
    result();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    assert.equal(e.file, file);
    return e as ConfigError & { file: string };
  }
  assert.fail("expected a ConfigError");
}

const RULES = [
  "    - name: web",
  "      action: allow",
  "      from: role=web",
  "      to: '*'",
];

Deno.test("policy source: compilePolicyText gives the document and canonical text", () => {
  const { doc, canonical } = compilePolicyText(ISSUE_POLICY);
  assert.equal(doc.policies.length, 4);
  // Canonical: comments and flow style gone, defaults spelled out, stable when compiled again.
  assert.doesNotMatch(canonical, /#/);
  assert.match(canonical, /priority: 1000\n|priority: 100\n/);
  assert.equal(compilePolicyText(canonical).canonical, canonical);
  assert.deepEqual(compilePolicyText(canonical).doc, doc);
  assert.deepEqual(parsePolicy(canonical), doc);
  // Two spellings of one policy have one canonical text.
  const a = compilePolicyText("policies: [{name: x, action: deny, from: 'role=a', to: '*'}]\n");
  const b = compilePolicyText(
    '# spelled out\npolicies:\n  - action: deny\n    name: x\n    to: "*"\n    from:\n      labels: {role: a}\n',
  );
  assert.equal(a.canonical, b.canonical);
  // Errors are PolicyErrors, with the text's own line.
  assert.throws(
    () => compilePolicyText("policies:\n  - name: x\n    action: maybe\n"),
    (e) => e instanceof PolicyError && e.line === 3 && /bad action/.test(e.reason),
  );
});

Deno.test("policy source: the section of a file compiles as the same policy on its own", async () => {
  const { result } = await fromFile([
    "# weft leader",
    "leader: true",
    "cidr: 10.9.0.0/16",
    "policy:",
    "  # who may talk to whom",
    "  defaults:",
    "    inbound: allow",
    "",
    "  policies:",
    ...RULES,
    "listen-port: 51820",
  ]);
  const { doc, canonical } = result();
  const alone = compilePolicyText(
    ["defaults:", "  inbound: allow", "policies:", ...RULES.map((l) => l.slice(2))].join("\n"),
  );
  assert.deepEqual(doc, alone.doc);
  assert.equal(canonical, alone.canonical);
  assert.deepEqual(doc.policies.map((p) => p.name), ["web"]);
});

Deno.test("policy source: errors carry the file's line numbers, the file and the path", async () => {
  // line:      1               2          3              4           5               6
  const bad = await configError([
    "leader: true",
    "cidr: 10.9.0.0/16",
    "policy:",
    "  policies:",
    "    - name: a",
    "      action: maybe",
  ]);
  assert.equal(bad.line, 6);
  assert.match(bad.reason, /^policy\.policies\[0\]\.action: bad action: expected allow or deny/);
  assert.equal(bad.message, `${bad.file}, line 6: ${bad.reason}`);

  const unknown = await configError([
    "leader: true",
    "policy:",
    "  policies:",
    ...RULES,
    "      bogus: 1",
  ]);
  assert.equal(unknown.line, 8);
  assert.match(unknown.reason, /policy\.policies\[0\]\.bogus: unknown key "bogus" in a rule/);

  // Comments at any indentation and blank lines inside the section do not shift the lines.
  const dup = await configError([
    "leader: true",
    "policy:",
    "  policies:",
    "# column 0",
    "    - name: a",
    "      action: allow",
    "",
    "      # indented",
    "    - name: a",
    "      action: deny",
  ]);
  assert.equal(dup.line, 9);
  assert.match(dup.reason, /policy\.policies\[1\]\.name: duplicate rule name "a"/);

  // A key of the document itself is named under `policy.`.
  const top = await configError(["leader: true", "policy:", "  rules: []"]);
  assert.equal(top.line, 3);
  assert.match(top.reason, /policy\.rules: unknown key "rules"/);
});

Deno.test("policy source: every problem of the section, each at the file's line", async () => {
  const bad = await configError([
    "leader: true",
    "policy:",
    "  policies:",
    "    - name: a",
    "      action: maybe",
    "    - name: b",
    "      action: allow",
    "      proto: sctp",
  ]);
  assert.equal(bad.line, 5);
  assert.equal(
    bad.reason,
    "the policy has 2 problems:\n" +
      '  line 5: policy.policies[0].action: bad action: expected allow or deny, got the string "maybe"\n' +
      '  line 8: policy.policies[1].proto: bad proto: expected tcp, udp, icmp or any, got the string "sctp"',
  );
});

Deno.test("policy source: a section after an anchor, deeply indented, at the end of the file", async () => {
  const { result } = await fromFile([
    "leader: true",
    "policy: &p",
    "      policies:",
    "        - name: only",
    "          action: deny",
    "          from: '*'",
    "          to: role=db",
  ]);
  assert.deepEqual(result().doc.policies.map((p) => [p.name, p.action]), [["only", "deny"]]);
  const err = await configError([
    "leader: true",
    "policy: &p",
    "      policies:",
    "        - name: only",
    "          action: deny",
    "          proto: icmp",
    "          ports: [80]",
  ]);
  assert.equal(err.line, 7);
  assert.match(err.reason, /ports apply only to proto tcp or udp/);
});

// A flow-style section on the `policy:` line itself is valid YAML: it compiles as a block does.
Deno.test({
  name: "policy source: a flow-style section on the policy: line compiles",
  fn: async () => {
    const { result } = await fromFile([
      "leader: true",
      "policy: {policies: [{name: x, action: deny, from: '*', to: '*'}]}",
    ]);
    assert.deepEqual(result().doc.policies.map((p) => p.name), ["x"]);
  },
});

// A line inside the reason is the file's too: the first "a" is at file line 4.
Deno.test({
  name: "policy source: lines inside an error's reason are the file's too",
  fn: async () => {
    const dup = await configError([
      "leader: true",
      "policy:",
      "  policies:",
      "    - name: a",
      "      action: allow",
      "",
      "",
      "    - name: a",
      "      action: deny",
    ]);
    assert.equal(dup.line, 8);
    assert.match(dup.reason, /first used by policies\[0\] at line 4\)/);
  },
});
