import assert from "node:assert/strict";
import { parsePolicy, serializePolicy, tryParsePolicy } from "./parse.ts";
import { DEFAULT_PRIORITY, PolicyError, policyFromWire, policyToWire } from "./schema.ts";
import { ISSUE_POLICY } from "../../tests/fixtures/policy_packets.ts";

Deno.test("policy parse: the issue's example", () => {
  const doc = parsePolicy(ISSUE_POLICY);
  assert.deepEqual(doc.defaults, {});
  assert.equal(doc.policies.length, 4);
  const [web, app, deny, icmp] = doc.policies;
  assert.deepEqual(web, {
    name: "web-to-app",
    action: "allow",
    priority: 100,
    from: [{ kind: "labels", match: [{ key: "role", op: "=", values: ["web"] }] }],
    to: [{ kind: "labels", match: [{ key: "role", op: "=", values: ["app"] }] }],
    proto: "tcp",
    ports: [{ from: 8090, to: 8100 }],
  });
  assert.deepEqual(app.from, [{
    kind: "labels",
    match: [{ key: "role", op: "=", values: ["app"] }],
  }]);
  assert.deepEqual(app.ports, [{ from: 5432, to: 5432 }]);
  assert.deepEqual(deny.from, [{ kind: "any" }]);
  assert.equal(deny.proto, "any");
  assert.deepEqual(deny.ports, []);
  assert.equal(icmp.proto, "icmp");
});

Deno.test("policy parse: defaults, optional fields and every selector form", () => {
  const doc = parsePolicy(`
defaults:
  inbound: allow
  outbound: deny
policies:
  - name: r1
    action: deny
    description: "no canaries to prod"
  - name: r2.x_y-z
    action: allow
    priority: 0
    from: ["role in (web, api)", { names: [Bastion, jump-1] }]
    to: { cidrs: [10.1.0.0/16, "fd00::/64", 192.0.2.7] }
    proto: udp
    ports: [53, "1000 - 1010", "443"]
  - name: r3
    action: allow
    from: [{ labels: "canary,!legacy,env notin (prod)" }, "*"]
    to: { labels: { env: [prod, staging], role: db } }
`);
  assert.deepEqual(doc.defaults, { inbound: "allow", outbound: "deny" });
  const [r1, r2, r3] = doc.policies;
  assert.equal(r1.priority, DEFAULT_PRIORITY);
  assert.equal(r1.description, "no canaries to prod");
  assert.deepEqual(r1.from, [{ kind: "any" }]);
  assert.deepEqual(r1.to, [{ kind: "any" }]);
  assert.equal(r2.priority, 0);
  assert.deepEqual(r2.from, [
    { kind: "labels", match: [{ key: "role", op: "in", values: ["web", "api"] }] },
    { kind: "names", names: ["bastion", "jump-1"] },
  ]);
  assert.deepEqual(r2.to, [{
    kind: "cidrs",
    cidrs: ["10.1.0.0/16", "fd00::/64", "192.0.2.7/32"],
  }]);
  assert.deepEqual(r2.ports, [{ from: 53, to: 53 }, { from: 1000, to: 1010 }, {
    from: 443,
    to: 443,
  }]);
  // A "*" among alternatives makes the whole side "any".
  assert.deepEqual(r3.from, [{ kind: "any" }]);
  assert.deepEqual(r3.to, [{
    kind: "labels",
    match: [
      { key: "env", op: "in", values: ["prod", "staging"] },
      { key: "role", op: "=", values: ["db"] },
    ],
  }]);
});

Deno.test("policy parse: empty documents are no policy", () => {
  for (const text of ["", "# only a comment\n", "policies:\n", "policies: []\n"]) {
    assert.deepEqual(parsePolicy(text), { defaults: {}, policies: [] }, JSON.stringify(text));
  }
});

/** [yaml, expected line, a piece of the reason] */
const BAD: [string, number, string][] = [
  ["policies:\n  - name: a\n    action: allow\n    prot: tcp\n", 4, `unknown key "prot"`],
  ["polices: []\n", 1, `unknown key "polices"`],
  ["defaults:\n  inbound: deny\n  outbond: allow\n", 3, `unknown key "outbond"`],
  ["defaults:\n  inbound: block\n", 2, "bad action"],
  ["defaults: deny\n", 1, "defaults must be a map"],
  ["policies:\n  - name: a\n    action: maybe\n", 3, "bad action"],
  ["policies:\n  - name: a\n    action: 1\n", 3, "bad action"],
  ["policies:\n  - name: a\n\n    action: allow\n    proto: sctp\n", 5, "bad proto"],
  ["policies:\n  - name: a\n    action: allow\n    priority: high\n", 4, "bad priority"],
  ["policies:\n  - name: a\n    action: allow\n    priority: -1\n", 4, "bad priority"],
  ["policies:\n  - name: a\n    action: allow\n    priority: 1.5\n", 4, "bad priority"],
  [
    "policies:\n  - name: a\n    action: allow\n    proto: icmp\n    ports: [80]\n",
    5,
    "ports apply only",
  ],
  ["policies:\n  - name: a\n    action: allow\n    ports: [80]\n", 4, "ports apply only"],
  [
    "policies:\n  - name: a\n    action: allow\n    proto: tcp\n    ports: ['90-80']\n",
    5,
    "90 is after 80",
  ],
  [
    "policies:\n  - name: a\n    action: allow\n    proto: tcp\n    ports:\n      - 1\n      - 70000\n",
    7,
    "bad port",
  ],
  ["policies:\n  - name: a\n    action: allow\n    proto: tcp\n    ports: [0]\n", 5, "bad port"],
  [
    "policies:\n  - name: a\n    action: allow\n    proto: udp\n    ports: ['http']\n",
    5,
    "bad port range",
  ],
  ["policies:\n  - name: a\n    action: allow\n    proto: udp\n    ports: []\n", 5, "empty ports"],
  [
    "policies:\n  - name: a\n    action: allow\n  - name: a\n    action: deny\n",
    4,
    "duplicate rule name",
  ],
  ["policies:\n  - name: a\n    action: allow\n    to: {cidrs: [10.0.0.1/24]}\n", 4, "host bits"],
  [
    "policies:\n  - name: a\n    action: allow\n    to:\n      cidrs:\n        - 10.0.0.0/8\n        - 10.0.0.300/24\n",
    7,
    "bad CIDR",
  ],
  ["policies:\n  - name: a\n    action: allow\n    to: {cidrs: [fd00::/129]}\n", 4, "bad CIDR"],
  ["policies:\n  - name: a\n    action: allow\n    action: deny\n", 4, "unique"],
  ["policies:\n  - name: a\n   action: allow\n", 3, "YAML"],
  ["policies:\n  - name: [unclosed\n", 3, "YAML"],
  ["policies:\n  - name: a\n    action: allow\n    from: 'role=='\n", 4, "bad label"],
  ["policies:\n  - name: a\n    action: allow\n    from: 'role in (a'\n", 4, "parentheses"],
  ["policies:\n  - name: a\n    action: allow\n    from: 'role = web prod'\n", 4, "bad label"],
  [
    "policies:\n  - name: a\n    action: allow\n    from:\n      labels:\n        tier: 1\n",
    6,
    "quote numbers",
  ],
  ["policies:\n  - name: a\n    action: allow\n    from: {labels: {}}\n", 4, "empty labels"],
  [
    "policies:\n  - name: a\n    action: allow\n    from: {labels: {role: web}, names: [x]}\n",
    4,
    "exactly one",
  ],
  ["policies:\n  - name: a\n    action: allow\n    from: {hosts: [x]}\n", 4, `unknown key "hosts"`],
  [
    "policies:\n  - name: a\n    action: allow\n    from: {names: [bad_name]}\n",
    4,
    "bad node name",
  ],
  ["policies:\n  - name: a\n    action: allow\n    from: {names: web}\n", 4, "non-empty list"],
  ["policies:\n  - name: a\n    action: allow\n    from: []\n", 4, "empty selector"],
  ["policies:\n  - name: a\n    action: allow\n    from:\n", 4, "a selector is"],
  ["policies:\n  - name: a\n    action: allow\n    to: 42\n", 4, "a selector is"],
  ["policies:\n  - action: allow\n", 2, "needs a name"],
  ["policies:\n  - name: a\n", 2, "needs an action"],
  ["policies:\n  - name: 'has space'\n    action: allow\n", 2, "bad rule name"],
  ["policies:\n  - just a string\n", 2, "a rule is a map"],
  ["policies: {name: a}\n", 1, "must be a list"],
  ["- a\n- b\n", 1, "a policy document is a map"],
  ["policies:\n  - name: a\n    action: allow\n    description: [x]\n", 4, "description must be"],
  [
    "policies:\n  - name: a\n    action: allow\n  - ? [k]\n    : v\n",
    4,
    "keys must be plain strings",
  ],
  [
    "policies:\n  - name: a\n    action: allow\n    qos:\n      rate: 20mbps\n",
    5,
    "bad rate",
  ],
  [
    "policies:\n  - name: a\n    action: allow\n    qos: { rate: 1mbit, burst: 10 }\n",
    4,
    "a burst is 1500b-64mb",
  ],
  [
    "policies:\n  - name: a\n    action: deny\n    proto: tcp\n    qos:\n      class: bulk\n",
    5,
    "qos applies only to allow rules",
  ],
  [
    "policies:\n  - name: a\n    action: allow\n    qos:\n      class: fast\n",
    5,
    "bad class",
  ],
  ["future: [ok, bad_name]\n", 1, "bad node name"],
  ["future: web\n", 1, "future must be a list"],
  ["tests: {from: a}\n", 1, "tests must be a list"],
  ["tests:\n  - { from: a, to: b, port: 22 }\n", 2, "a test needs expect"],
  ["tests:\n  - { from: a, to: b, expect: allow }\n", 2, "a tcp test needs a port"],
  [
    "tests:\n  - from: a\n    to: b\n    proto: icmp\n    port: 7\n    expect: deny\n",
    5,
    "a port goes only",
  ],
  ["tests:\n  - { from: a b, to: b, port: 1, expect: deny }\n", 2, "bad from"],
  ["tests:\n  - { to: b, port: 1, expect: deny }\n", 2, "a test needs from"],
  ["tests:\n  - { from: a, to: b, port: 1, expect: maybe }\n", 2, "bad expect"],
  ["tests:\n  - { from: a, to: b, port: 1, expect: deny, ports: 2 }\n", 2, `unknown key "ports"`],
  ["tests:\n  - just a flow\n", 2, "a test is a map"],
];

Deno.test("policy parse: every error is rejected whole and names its line", () => {
  for (const [text, line, reason] of BAD) {
    let err: unknown;
    try {
      parsePolicy(text);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof PolicyError, `no PolicyError for:\n${text}\ngot ${err}`);
    assert.equal(err.line, line, `line for:\n${text}\n${err.message}`);
    assert.ok(err.message.includes(reason), `reason for:\n${text}\n${err.message}`);
    assert.ok(err.message.startsWith(`line ${line}: `), err.message);
  }
});

Deno.test("policy parse: every problem of a file at once, in line order", () => {
  const text = [
    "policies:", //                               1
    "  - name: a", //                             2
    "    action: maybe", //                       3
    "    prority: 5", //                          4
    "  - name: b", //                             5
    "    action: allow", //                       6
    "    proto: tcp", //                          7
    "    ports: [22, 70000, 9-8]", //             8
    "    from: [{ names: [ok, bad_name] }, 'role=='] ", // 9
    "segments:", //                              10
    "  - { name: Blue, vni: 0, select: '*' }", // 11
    "tests:", //                                 12
    "  - { from: a, to: b, expect: allow }", //  13
    "defaults: { inbound: sometimes }", //       14
    "",
  ].join("\n");
  let err: unknown;
  try {
    parsePolicy(text);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PolicyError);
  assert.deepEqual(err.problems.map((p) => [p.line, p.path]), [
    [3, "policies[0].action"],
    [4, "policies[0].prority"],
    [8, "policies[1].ports[1]"],
    [8, "policies[1].ports[2]"],
    [9, "policies[1].from[0].names[1]"],
    [9, "policies[1].from[1]"],
    [11, "segments[0].name"],
    [11, "segments[0].vni"],
    [13, "tests[0]"],
    [14, "defaults.inbound"],
  ]);
  // The error itself is the first problem; its message lists them all.
  assert.equal(err.line, 3);
  assert.equal(err.path, "policies[0].action");
  const lines = err.message.split("\n");
  assert.equal(lines[0], "10 problems:");
  assert.equal(
    lines[1],
    `  line 3: policies[0].action: bad action: expected allow or deny, got the string "maybe"`,
  );
  assert.match(
    lines[4],
    /^ {2}line 8: policies\[1\]\.ports\[2\]: bad port range "9-8": 9 is after 8$/,
  );
  assert.equal(lines.length, 11);
});

Deno.test("policy parse: every YAML problem at once", () => {
  let err: unknown;
  try {
    parsePolicy("policies:\n  - name: a\n    name: b\n  - name: c\n    name: d\n");
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PolicyError);
  assert.deepEqual(err.problems.map((p) => p.line), [3, 5]);
  assert.ok(err.problems.every((p) => p.reason.startsWith("YAML: ")));
});

Deno.test("policy parse: tryParsePolicy returns the error", () => {
  const bad = tryParsePolicy("policies:\n  - name: a\n    action: nope\n");
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.equal(bad.error.line, 3);
  const good = tryParsePolicy(ISSUE_POLICY);
  assert.equal(good.ok, true);
});

Deno.test("policy parse: anchors and aliases resolve", () => {
  const doc = parsePolicy(`
policies:
  - name: a
    action: allow
    from: &web { labels: { role: web } }
    to: *web
`);
  assert.deepEqual(doc.policies[0].from, doc.policies[0].to);
});

Deno.test("policy parse: serialize round-trips", () => {
  const text = `
defaults:
  inbound: deny
policies:
  - name: complex
    description: "quoted: text"
    action: deny
    priority: 7
    from: ["!canary,env notin (prod,dev)", { names: [a, b] }]
    to: { cidrs: ["fd00::/64"] }
    proto: udp
    ports: ["1-1024", 5353]
  - name: simple
    action: allow
  - name: labels-map
    action: allow
    from: { labels: { role: [web, api], env: prod } }
    to: "role=db,role=replica"
    proto: icmp
  - name: shaped
    action: allow
    proto: tcp
    ports: [5202]
    qos: { rate: 20mbit, burst: 64kb, class: bulk }
  - name: shaped-default-burst
    action: allow
    qos: { rate: 1.5mbit }
  - name: interactive
    action: allow
    proto: tcp
    ports: [22]
    qos: { class: interactive }
`;
  const doc = parsePolicy(text);
  const yaml = serializePolicy(doc);
  assert.match(yaml, /qos:\n +rate: 20mbit\n +burst: 64kb\n +class: bulk\n/, yaml);
  assert.match(yaml, /qos:\n +rate: 1500kbit\n/, yaml);
  assert.deepEqual(parsePolicy(yaml), doc, yaml);
  assert.ok(yaml.startsWith("defaults:"), yaml);
  assert.deepEqual(
    parsePolicy(serializePolicy(parsePolicy(ISSUE_POLICY))),
    parsePolicy(ISSUE_POLICY),
  );
});

Deno.test("policy parse: the JSON wire form round-trips and is validated", () => {
  const doc = parsePolicy(ISSUE_POLICY);
  const wire = JSON.parse(JSON.stringify(policyToWire(doc)));
  assert.deepEqual(policyFromWire(wire), doc);
  assert.deepEqual(wire.policies[0].ports, ["8090-8100"]);
  assert.deepEqual(wire.policies[0].from, { labels: { role: "web" } });
  wire.policies[1].ports = ["5432-1"];
  assert.throws(() => policyFromWire(wire), (e: unknown) => {
    assert.ok(e instanceof PolicyError);
    assert.equal(e.line, undefined);
    assert.equal(e.path, "policies[1].ports[0]");
    return true;
  });
  // A "__proto__" key is an unknown key, not a prototype change.
  assert.throws(
    () => parsePolicy(`policies:\n  - name: a\n    action: allow\n    __proto__: {x: 1}\n`),
    /line 4: .*unknown key "__proto__"/,
  );
});

Deno.test("policy parse: an alias bomb is refused at its line, before it expands", () => {
  const lines = ["x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
  for (let i = 1; i <= 6; i++) {
    lines.push(`x${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(", ")}]`);
  }
  const r = tryParsePolicy(lines.join("\n"));
  assert.ok(!r.ok, "an alias bomb was accepted");
  assert.match(r.error.message, /alias/);
  assert.equal(r.error.line, 7);
});
