import assert from "node:assert/strict";
import { validEndpoints, validLabels, validServices } from "./validate.ts";

Deno.test("labels, services and endpoints from the wire are checked", () => {
  assert.deepEqual(validLabels({ role: "web", "example.com/tier": "1" }), {
    role: "web",
    "example.com/tier": "1",
  });
  assert.deepEqual(validLabels(undefined), {});
  for (
    const bad of [null, [], "x", { role: 1 }, { "": "x" }, { "a b": "x" }, { k: "v".repeat(64) }]
  ) {
    assert.equal(validLabels(bad), null, JSON.stringify(bad));
  }
  assert.deepEqual(validServices([{ name: "web", port: 8080, protocol: "tcp", weight: 5 }]), [
    { name: "web", port: 8080, protocol: "tcp", weight: 5 },
  ]);
  for (
    const bad of [
      {},
      [{ name: "Web", port: 80, protocol: "tcp" }],
      [{ name: "web", port: 0, protocol: "tcp" }],
      [{ name: "web", port: 70000, protocol: "tcp" }],
      [{ name: "web", port: 80, protocol: "sctp" }],
      [{ name: "web", port: "80", protocol: "tcp" }],
      [{ name: "web", port: 80, protocol: "tcp", labels: { x: 1 } }],
      Array.from({ length: 65 }, () => ({ name: "a", port: 1, protocol: "udp" })),
    ]
  ) {
    assert.equal(validServices(bad), null, JSON.stringify(bad).slice(0, 80));
  }
  assert.deepEqual(validEndpoints(["192.0.2.1:51820", "[fd00::1]:5", "host.example:9"]), [
    "192.0.2.1:51820",
    "[fd00::1]:5",
    "host.example:9",
  ]);
  for (const bad of [[1], ["no-port"], ["a b:1"], "x", Array(9).fill("1.2.3.4:5")]) {
    assert.equal(validEndpoints(bad), null, JSON.stringify(bad));
  }
});
