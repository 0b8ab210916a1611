/** The service model: how a service, its instances and its leader are shown. */
import assert from "node:assert/strict";
import { serviceView } from "./service_view.ts";

Deno.test("dashboard service view: how a service, its instances and its leader are shown", () => {
  const inst = (node: string, address: string, healthy: boolean, extra = {}) => ({
    node,
    address,
    local: false,
    rpc: true,
    healthy,
    ...extra,
  });
  const echo = serviceView({
    name: "echo",
    local: true,
    instances: [
      inst("n1", "10.0.0.1", true, { local: true }),
      inst("n2", "10.0.0.2", false, { reason: "check-failing" }),
      inst("n3", "10.0.0.3", false, { reason: "node-down", rpc: false }),
      inst("n4", "10.0.0.4", false, { reason: "ejected" }),
    ],
    leader: { node: "n1", address: "10.0.0.1", token: 4, expiresAt: "2030-01-01T00:00:00.000Z" },
  });
  assert.deepEqual(
    [echo.name, echo.healthy, echo.total, echo.state, echo.summary, echo.leader, echo.leaderText],
    ["echo", 1, 4, "degraded", "1/4 healthy", "n1", "n1 · token 4"],
  );
  assert.equal(
    echo.leaderTip,
    "leader n1 10.0.0.1, fencing token 4, lease until 2030-01-01T00:00:00.000Z",
  );
  assert.deepEqual(echo.instances.map((i) => [i.node, i.health, i.why, i.leader, i.local]), [
    ["n1", "up", "", true, true],
    ["n2", "down", "check failing", false, false],
    ["n3", "down", "node down", false, false],
    ["n4", "down", "ejected: failed calls", false, false],
  ]);
  assert.equal(echo.instances[0].tip, "n1 10.0.0.1 (this node), healthy, leader");
  assert.equal(echo.instances[2].tip, "n3 10.0.0.3, node down, DNS only (answers no calls)");
  // All healthy, none healthy, no instance known; no leader.
  const all = serviceView({ name: "a", instances: [inst("x", "10.0.0.9", true)], leader: null });
  assert.deepEqual([all.state, all.leader, all.leaderText, all.leaderTip], [
    "up",
    "",
    "none",
    "no leader known",
  ]);
  const down = serviceView({ name: "b", instances: [inst("x", "10.0.0.9", false)] });
  assert.deepEqual([down.state, down.instances[0].why], ["down", "unhealthy"]);
  assert.equal(serviceView({ name: "c", instances: [], leader: null }).state, "unknown");
  // A leader that is not among the instances shown (the view lags) marks none of them.
  const lag = serviceView({
    name: "d",
    instances: [inst("x", "10.0.0.9", true)],
    leader: { node: "y", address: "10.0.0.8", token: 1, expiresAt: "" },
  });
  assert.deepEqual([lag.leader, lag.instances[0].leader], ["y", false]);
  // Malformed input does not throw.
  assert.equal(serviceView({}).total, 0);
});
