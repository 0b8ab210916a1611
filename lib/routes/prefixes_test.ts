import assert from "node:assert/strict";
import {
  advertisedRoutes,
  approves,
  EXIT,
  parseApprovals,
  parseRoute,
  parseRoutes,
  validRouteList,
} from "./prefixes.ts";

Deno.test("parseRoute: canonical prefixes; host bits, bare addresses and defaults refused", () => {
  assert.equal(parseRoute("198.51.100.0/24"), "198.51.100.0/24");
  assert.equal(parseRoute("2001:DB8:0::/32"), "2001:db8::/32");
  assert.throws(
    () => parseRoute("198.51.100.1/24"),
    /host bits are set \(the prefix is 198\.51\.100\.0\/24\)/,
  );
  assert.throws(() => parseRoute("198.51.100.1"), /expected a prefix/);
  assert.throws(() => parseRoute("0.0.0.0/0"), /--advertise-exit-node/);
  assert.throws(() => parseRoute("nonsense"), /invalid route "nonsense"/);
});

Deno.test("parseRoutes: sorted, deduplicated, bounded", () => {
  assert.deepEqual(parseRoutes(["203.0.113.0/24", "198.51.100.0/24", "203.0.113.0/24"]), [
    "198.51.100.0/24",
    "203.0.113.0/24",
  ]);
  const many = Array.from({ length: 65 }, (_, i) => `10.${i}.0.0/16`);
  assert.throws(() => parseRoutes(many), /at most 64 routes/);
});

Deno.test("approvals: exit or prefixes; a prefix approves the routes inside it", () => {
  assert.deepEqual(parseApprovals(["EXIT", "198.51.100.0/24"]), ["198.51.100.0/24", EXIT]);
  assert.throws(() => parseApprovals(["0.0.0.0/0"]), /or "exit"/);
  assert.ok(approves(["198.51.100.0/24"], "198.51.100.128/25"));
  assert.ok(approves(["198.51.100.0/24"], "198.51.100.0/24"));
  assert.ok(!approves(["198.51.100.128/25"], "198.51.100.0/24"));
  assert.ok(!approves(["198.51.100.0/24"], "203.0.113.0/24"));
  assert.ok(!approves(["198.51.100.0/24"], "0.0.0.0/0"));
  assert.ok(approves([EXIT], "::/0") && approves([EXIT], "0.0.0.0/0"));
  assert.ok(!approves([EXIT], "2001:db8::/32"));
});

Deno.test("validRouteList: what a member's message may carry", () => {
  assert.deepEqual(validRouteList(["::/0", "0.0.0.0/0", "198.51.100.0/24"]), [
    "0.0.0.0/0",
    "198.51.100.0/24",
    "::/0",
  ]);
  assert.equal(validRouteList("198.51.100.0/24"), null);
  assert.equal(validRouteList(["198.51.100.1/24"]), null);
  assert.equal(validRouteList(["2001:DB8::/32"]), null);
  assert.equal(validRouteList(["198.51.100.7"]), null);
  assert.equal(validRouteList([7]), null);
  assert.equal(validRouteList(Array.from({ length: 65 }, (_, i) => `10.${i}.0.0/16`)), null);
});

Deno.test("advertisedRoutes: an exit node adds both defaults", () => {
  assert.deepEqual(advertisedRoutes(["198.51.100.0/24"], true), [
    "0.0.0.0/0",
    "198.51.100.0/24",
    "::/0",
  ]);
  assert.deepEqual(advertisedRoutes([], false), []);
});
