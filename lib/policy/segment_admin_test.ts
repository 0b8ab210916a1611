import assert from "node:assert/strict";
import { parsePolicy, serializePolicy } from "./parse.ts";
import { type PolicyDocument, PolicyError } from "./schema.ts";
import {
  addSegment,
  removeSegment,
  SegmentConflictError,
  SegmentNotFoundError,
  segmentViews,
} from "./segment_admin.ts";
import { member } from "../../tests/fixtures/members.ts";

const EMPTY: PolicyDocument = { defaults: {}, policies: [] };

const RULES = parsePolicy(
  "defaults: { inbound: deny }\npolicies:\n  - name: ssh\n    action: allow\n" +
    "    proto: tcp\n    ports: [22]\n",
);

Deno.test("segments: create adds one last, keeps the rules, and round-trips as policy text", () => {
  const one = addSegment(RULES, { name: "blue", vni: 100, select: "site=a" });
  assert.deepEqual(one.policies, RULES.policies);
  assert.deepEqual(one.defaults, { inbound: "deny" });
  assert.deepEqual(one.segments, [{
    name: "blue",
    vni: 100,
    select: [{ kind: "labels", match: [{ key: "site", op: "=", values: ["a"] }] }],
    driver: "vxlan",
  }]);
  const two = addSegment(one, { name: "red", vni: 200, select: "*", mtu: 1400 });
  assert.deepEqual(two.segments!.map((s) => [s.name, s.vni, s.mtu]), [
    ["blue", 100, undefined],
    ["red", 200, 1400],
  ]);
  assert.deepEqual(two.segments![1].select, [{ kind: "any" }]);
  // As the leader stores it: canonical text that parses back to the same document.
  const text = serializePolicy(two);
  assert.match(text, /segments:\n {2}- name: blue\n {4}vni: 100\n/);
  assert.deepEqual(parsePolicy(text), two);
  // The input document is not changed.
  assert.equal(one.segments!.length, 1);
  assert.equal(RULES.segments, undefined);
});

Deno.test("segments: select as a policy file writes it, or parsed, names and lists", () => {
  const byNames = addSegment(EMPTY, { name: "lab", vni: 7, select: { names: ["Web1", "db"] } });
  assert.deepEqual(byNames.segments![0].select, [{ kind: "names", names: ["web1", "db"] }]);
  const either = addSegment(EMPTY, {
    name: "lab",
    vni: 7,
    select: ["site in (a,b)", { names: ["gw"] }],
  });
  assert.equal(either.segments![0].select.length, 2);
  // A parsed selector (another document's) goes through the same validator.
  const copied = addSegment(EMPTY, { name: "copy", vni: 8, select: either.segments![0].select });
  assert.deepEqual(copied.segments![0].select, either.segments![0].select);
});

Deno.test("segments: a name or a VNI taken is a conflict naming the segment that has it", () => {
  const doc = addSegment(EMPTY, { name: "blue", vni: 100, select: "*" });
  assert.throws(
    () => addSegment(doc, { name: "blue", vni: 101, select: "*" }),
    (e: unknown) =>
      e instanceof SegmentConflictError &&
      e.message === 'segment "blue" already exists (vni 100): delete it first to change it',
  );
  assert.throws(
    () => addSegment(doc, { name: "green", vni: 100, select: "site=b" }),
    (e: unknown) =>
      e instanceof SegmentConflictError && e instanceof PolicyError &&
      /^vni 100 is already segment "blue"'s/.test(e.message),
  );
});

Deno.test("segments: what the policy refuses is its own message, at the new segment's path", () => {
  const doc = addSegment(EMPTY, { name: "blue", vni: 100, select: "*" });
  const cases: [Parameters<typeof addSegment>[1], RegExp][] = [
    [{ name: "Blue!", vni: 1, select: "*" }, /^segments\[1\]\.name: bad segment name/],
    [{ name: "toolongname123", vni: 1, select: "*" }, /bad segment name/],
    [
      { name: "x", vni: 0, select: "*" },
      /^segments\[1\]\.vni: bad vni: expected an integer 1-16777215/,
    ],
    [{ name: "x", vni: 16777216, select: "*" }, /bad vni/],
    [{ name: "x", vni: "5" as unknown as number, select: "*" }, /bad vni.*the string "5"/],
    [
      { name: "x", vni: 5, select: "*", mtu: 100 },
      /^segments\[1\]\.mtu: bad mtu: expected an integer 576-9000/,
    ],
    [{ name: "x", vni: 5, select: "site==" }, /^segments\[1\]\.select: bad label/],
    [{ name: "x", vni: 5, select: { cidrs: ["10.0.0.0/8"] } }, /not cidrs/],
    [{ name: "x", vni: 5, select: undefined as unknown as string }, /needs select/],
  ];
  for (const [spec, error] of cases) {
    assert.throws(
      () => addSegment(doc, spec),
      (e: unknown) =>
        e instanceof PolicyError && !(e instanceof SegmentConflictError) &&
        error.test(e.message),
      JSON.stringify(spec),
    );
  }
});

Deno.test("segments: delete removes one; an unknown name is not found, with a hint", () => {
  let doc = addSegment(RULES, { name: "blue", vni: 100, select: "*" });
  doc = addSegment(doc, { name: "red", vni: 200, select: "*" });
  const left = removeSegment(doc, "blue");
  assert.deepEqual(left.segments!.map((s) => s.name), ["red"]);
  assert.deepEqual(left.policies, RULES.policies);
  // The last one gone: no segments key at all, as a document without any parses.
  const none = removeSegment(left, "red");
  assert.equal("segments" in none, false);
  assert.deepEqual(none, RULES);
  assert.throws(
    () => removeSegment(doc, "blu"),
    (e: unknown) =>
      e instanceof SegmentNotFoundError && e.message === 'no segment "blu" (did you mean blue?)',
  );
  assert.throws(
    () => removeSegment(doc, "green"),
    (e: unknown) =>
      e instanceof SegmentNotFoundError &&
      e.message === 'no segment "green" (the segments: blue, red)',
  );
  assert.throws(() => removeSegment(RULES, "blue"), /no segment "blue" \(the policy has none\)/);
});

Deno.test("segments: views resolve each segment's members from a view, with MTU when set", () => {
  let doc = addSegment(EMPTY, { name: "blue", vni: 100, select: "site=a" });
  doc = addSegment(doc, { name: "all", vni: 1, select: "*", mtu: 1380 });
  doc = addSegment(doc, { name: "named", vni: 2, select: ["site=zz", { names: ["C"] }] });
  const members = [
    member("hq", "10.9.0.1", { role: "leader" }),
    member("c", "10.9.0.4", { labels: { site: "a" } }),
    member("b", "10.9.0.3", { labels: { site: "a" }, offline: true }),
    // A node's own labels are not granted ones: site=a under node.weft/ is not site=a.
    member("self-claimed", "10.9.0.5", { nodeLabels: { "node.weft/site": "a" } }),
  ];
  const views = segmentViews(doc, members);
  assert.deepEqual(views[0], {
    name: "blue",
    vni: 100,
    driver: "vxlan",
    select: { labels: { site: "a" } },
    members: [
      { name: "b", address: "10.9.0.3", online: false },
      { name: "c", address: "10.9.0.4", online: true },
    ],
  });
  assert.equal(views[1].mtu, 1380);
  assert.equal(views[1].select, "*");
  assert.deepEqual(views[1].members.map((m) => m.name), ["b", "c", "hq", "self-claimed"]);
  assert.deepEqual(views[2].members.map((m) => m.name), ["c"]);
  assert.deepEqual(segmentViews(null, members), []);
  assert.deepEqual(segmentViews(RULES, members), []);
});

Deno.test("segments: a parsed selector missing its parts is a PolicyError, not a crash", () => {
  for (const select of [[{ kind: "labels" }], [{ kind: "names" }]]) {
    assert.throws(
      () => addSegment(EMPTY, { name: "x", vni: 1, select: select as never }),
      (e: unknown) => e instanceof PolicyError && /^bad select: not a selector/.test(e.message),
    );
  }
});
