import assert from "node:assert/strict";
import {
  validEndpoints,
  validLabels,
  validRelay,
  validServices,
  validTcpPort,
} from "./validate.ts";

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
  // The service layer's flags are kept; unknown fields are not.
  assert.deepEqual(
    validServices([{ name: "api", port: 80, protocol: "tcp", rpc: true, healthy: false, x: 1 }]),
    [{ name: "api", port: 80, protocol: "tcp", rpc: true, healthy: false }],
  );
  for (
    const bad of [
      {},
      [{ name: "Web", port: 80, protocol: "tcp" }],
      [{ name: "web", port: 0, protocol: "tcp" }],
      [{ name: "web", port: 70000, protocol: "tcp" }],
      [{ name: "web", port: 80, protocol: "sctp" }],
      [{ name: "web", port: "80", protocol: "tcp" }],
      [{ name: "web", port: 80, protocol: "tcp", labels: { x: 1 } }],
      [{ name: "web", port: 80, protocol: "tcp", healthy: "no" }],
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

Deno.test("wire endpoints are held to --advertise's rule", () => {
  // The regex these once passed took any word and any 1-5 digit port.
  for (
    const bad of [
      "999.1.1.1:5", // an all-digit name is a mistyped address
      "host_x:1",
      "[nope]:1",
      "[1.2.3.4]:5",
      "h:0",
      "h:99999",
      "a..b:1",
      "-a:1",
      "[fe80::1%eth0]:1",
      " 1.2.3.4:5",
    ]
  ) {
    assert.equal(validEndpoints([bad]), null, bad);
  }
  // The same endpoint twice is refused, as --advertise refuses it, also when spelled otherwise.
  assert.equal(validEndpoints(["a.example:1", "A.Example:1"]), null);
  // What is kept is the canonical spelling, as the CLI stores it.
  assert.deepEqual(validEndpoints(["Leader.Example:51820", "[FD00::1]:5"]), [
    "leader.example:51820",
    "[fd00::1]:5",
  ]);
});

Deno.test("wire services are held to --service's rule: none listed twice", () => {
  const web = { name: "web", port: 80, protocol: "tcp" };
  assert.equal(validServices([web, { ...web, port: 8080 }]), null);
  assert.deepEqual(validServices([web, { ...web, protocol: "udp" }]), [
    web,
    { ...web, protocol: "udp" },
  ]);
  // Fields the CLI has no word for do not enter the membership.
  assert.deepEqual(validServices([{ ...web, extra: "x" }]), [web]);
});

Deno.test("a member's relay flag and TCP port from the wire: absent stays valid", () => {
  assert.equal(validRelay(true), true);
  assert.equal(validRelay(undefined), undefined);
  assert.equal(validRelay(false), undefined);
  for (const bad of [1, "true", null, {}]) assert.equal(validRelay(bad), null, String(bad));
  assert.equal(validTcpPort(undefined), undefined);
  assert.equal(validTcpPort(1), 1);
  assert.equal(validTcpPort(51820), 51820);
  assert.equal(validTcpPort(65535), 65535);
  for (const bad of [0, -1, 65536, 1.5, "443", null, NaN]) {
    assert.equal(validTcpPort(bad), null, String(bad));
  }
});
