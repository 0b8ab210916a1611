import assert from "node:assert/strict";
import { MAX_TOPIC_CHARS, patternProblem, TopicPattern, topicProblem } from "./topics.ts";

Deno.test("topics: what may be published to", () => {
  for (const ok of ["status", "status/updated", "jobs/eu-1/done", "a.b:c@d=e+f_g"]) {
    assert.equal(topicProblem(ok), undefined, ok);
  }
  const bad: [unknown, RegExp][] = [
    ["", /must not be empty/],
    [7, /must be a string/],
    ["status/", /empty segment/],
    ["/status", /empty segment/],
    ["a//b", /empty segment/],
    ["status/*", /wildcard \(\*\)/],
    ["status/>", /wildcard \(>\)/],
    ["sta tus", /bad segment "sta tus"/],
    ["x".repeat(MAX_TOPIC_CHARS + 1), /256 characters/],
    [Array(17).fill("a").join("/"), /17 segments/],
    ["x".repeat(65), /bad segment/],
  ];
  for (const [t, why] of bad) assert.match(topicProblem(t) ?? "", why, String(t));
});

Deno.test("topics: patterns and what they match", () => {
  const cases: [string, string[], string[]][] = [
    ["status/updated", ["status/updated"], ["status", "status/updated/x", "status/other"]],
    ["status/*", ["status/updated", "status/x"], ["status", "status/a/b", "other/x"]],
    ["*/done", ["jobs/done", "x/done"], ["done", "jobs/eu/done"]],
    ["jobs/>", ["jobs/eu", "jobs/eu/done"], ["jobs", "job/eu"]],
    ["jobs/*/>", ["jobs/eu/done", "jobs/eu/a/b"], ["jobs/eu", "jobs"]],
    [">", ["a", "a/b/c"], []],
  ];
  for (const [pattern, yes, no] of cases) {
    const p = new TopicPattern(pattern);
    assert.equal(p.text, pattern);
    for (const t of yes) assert.ok(p.matches(t), `${pattern} matches ${t}`);
    for (const t of no) assert.ok(!p.matches(t), `${pattern} does not match ${t}`);
  }
});

Deno.test("topics: bad patterns are refused with the reason", () => {
  const bad: [string, RegExp][] = [
    ["jobs/>/done", /> before its last segment/],
    ["jobs/**", /uses \*\*: write >/],
    ["jobs//x", /empty segment/],
    ["", /must not be empty/],
    ["a b", /bad segment/],
  ];
  for (const [t, why] of bad) {
    assert.match(patternProblem(t) ?? "", why, t);
    assert.throws(() => new TopicPattern(t), why);
  }
});
