import assert from "node:assert/strict";
import {
  dnsLabelProblem,
  dnsZoneProblem,
  interfaceNameProblem,
  isDnsName,
  sanitizeHostname,
} from "./names.ts";

Deno.test("names: a DNS label is a-z, 0-9 and inner '-', 1 to 63 long", () => {
  for (const ok of ["a", "web", "node-1", "0", "a".repeat(63), "x-y-z"]) {
    assert.equal(dnsLabelProblem(ok), undefined, ok);
  }
  const bad: [string, RegExp][] = [
    ["", /is empty/],
    ["a".repeat(64), /64 characters long/],
    ["a.b", /single label/],
    ["Web", /letters, digits and '-'/],
    ["we_b", /letters, digits and '-'/],
    ["-a", /start or end/],
    ["a-", /start or end/],
  ];
  for (const [text, why] of bad) assert.match(dnsLabelProblem(text)!, why, text);
});

Deno.test("names: with underscore, '_' counts as a letter anywhere", () => {
  for (const ok of ["_http", "my_host", "a_", "_"]) {
    assert.equal(dnsLabelProblem(ok, { underscore: true }), undefined, ok);
  }
  assert.match(dnsLabelProblem("-_", { underscore: true })!, /start or end/);
  assert.match(dnsLabelProblem("a!", { underscore: true })!, /'_' and '-'/);
});

Deno.test("names: zones and host names", () => {
  assert.equal(dnsZoneProblem("overlay.local."), undefined);
  assert.equal(dnsZoneProblem("overlay.local"), undefined);
  assert.match(dnsZoneProblem(".")!, /root zone/);
  assert.match(dnsZoneProblem("a..b")!, /empty label/);
  assert.match(dnsZoneProblem(`${"a".repeat(63)}.`.repeat(4) + "a")!, /at most 253/);
  assert.ok(isDnsName("Leader.Example.COM"));
  assert.ok(!isDnsName("999.1.1.1"), "an all-digit name is a mistyped address");
  assert.ok(!isDnsName("my_host.example"));
  assert.ok(isDnsName("my_host.example", { underscore: true }));
  assert.ok(!isDnsName(""));
});

Deno.test("names: host names from the machine become one label", () => {
  assert.equal(sanitizeHostname("Ada_Laptop.example.com"), "ada-laptop");
  assert.equal(sanitizeHostname("---"), "node");
  assert.equal(sanitizeHostname("x".repeat(80)).length, 63);
});

Deno.test("names: Linux interface names", () => {
  assert.equal(interfaceNameProblem("weft0"), undefined);
  assert.match(interfaceNameProblem("")!, /empty/);
  assert.match(interfaceNameProblem("..")!, /cannot be/);
  assert.match(interfaceNameProblem("a b")!, /printable ASCII/);
  assert.match(interfaceNameProblem("a/b")!, /"\/"/);
  assert.match(interfaceNameProblem("a".repeat(16))!, /at most 15/);
});
