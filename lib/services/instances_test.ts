import assert from "node:assert/strict";
import type { HealthState } from "../health/state.ts";
import type { MembershipView } from "../members/member.ts";
import { member } from "../../tests/fixtures/members.ts";
import { serviceInstances, serviceNames } from "./instances.ts";

const view: MembershipView = {
  network: "10.0.0.0/24",
  version: 1,
  members: [
    member("zeta", "10.0.0.9", {
      publicKey: "kz",
      services: [{ name: "echo", port: 8080, protocol: "tcp", rpc: true }],
    }),
    member("self", "10.0.0.1", {
      publicKey: "ks",
      services: [{ name: "echo", port: 51823, protocol: "udp", rpc: true }],
    }),
    member("beta", "10.0.0.2", {
      publicKey: "kb",
      services: [
        { name: "echo", port: 8080, protocol: "tcp" },
        { name: "echo", port: 51823, protocol: "udp", rpc: true, healthy: false },
        { name: "db", port: 5432, protocol: "tcp" },
      ],
    }),
    member("gamma", "10.0.0.3", {
      publicKey: "kg",
      services: [{ name: "db", port: 5432, protocol: "tcp" }],
    }),
  ],
};

Deno.test("instances: members offering a service, by name, with their health", () => {
  const health = new Map<string, HealthState>([["kz", "down"]]);
  const list = serviceInstances(view, "echo", { self: "ks", peerHealth: (k) => health.get(k) });
  assert.deepEqual(
    list.map((i) => [i.node, i.address, i.local, i.rpc, i.healthy, i.reason ?? null]),
    [
      ["beta", "10.0.0.2", false, true, false, "check-failing"],
      ["self", "10.0.0.1", true, true, true, null],
      ["zeta", "10.0.0.9", false, true, false, "node-down"],
    ],
  );
  // The entry that answers calls stands for the member.
  assert.equal(list[0].spec.protocol, "udp");
  // This node is never "down" to itself.
  health.set("ks", "down");
  assert.ok(
    serviceInstances(view, "echo", { self: "ks", peerHealth: (k) => health.get(k) })[1].healthy,
  );
});

Deno.test("instances: a service that is only a port is listed, not callable", () => {
  const db = serviceInstances(view, "db", { self: "ks", peerHealth: () => "up" });
  assert.deepEqual(db.map((i) => [i.node, i.rpc, i.healthy]), [["beta", false, true], [
    "gamma",
    false,
    true,
  ]]);
  assert.deepEqual(serviceInstances(view, "nope", { self: "ks", peerHealth: () => "up" }), []);
  assert.deepEqual(serviceNames(view), ["db", "echo"]);
});

Deno.test("instances: one this node's calls find silent is out as unanswered, after down and failing", () => {
  const silent = new Set(["10.0.0.9", "10.0.0.2", "10.0.0.1", "10.0.0.3"]);
  const health = new Map<string, HealthState>([["kz", "up"]]);
  const judge = () =>
    serviceInstances(view, "echo", {
      self: "ks",
      peerHealth: (k) => health.get(k),
      unanswered: (a) => silent.has(a),
    }).map((i) => [i.node, i.healthy, i.reason ?? null]);
  assert.deepEqual(judge(), [
    ["beta", false, "check-failing"],
    // This node is never silent to itself.
    ["self", true, null],
    ["zeta", false, "unanswered"],
  ]);
  health.set("kz", "down");
  assert.deepEqual(judge()[2], ["zeta", false, "node-down"]);
  health.set("kz", "up");
  silent.delete("10.0.0.9");
  assert.deepEqual(judge()[2], ["zeta", true, null]);
});
