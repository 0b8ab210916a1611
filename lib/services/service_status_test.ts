import assert from "node:assert/strict";
import type { MembershipView } from "../members/member.ts";
import { member } from "../../tests/fixtures/members.ts";
import { serviceInstances, serviceNames } from "./instances.ts";
import type { ServiceLeader } from "./lease/runtime.ts";
import type { ServiceSummary } from "./mesh_services.ts";
import { servicesStatus } from "./service_status.ts";

const view: MembershipView = {
  network: "10.0.0.0/24",
  version: 1,
  members: [
    member("self", "10.0.0.1", {
      publicKey: "ks",
      services: [{ name: "echo", port: 51823, protocol: "udp", rpc: true }],
    }),
    member("beta", "10.0.0.2", {
      publicKey: "kb",
      services: [
        { name: "echo", port: 51823, protocol: "udp", rpc: true, healthy: false },
        { name: "db", port: 5432, protocol: "tcp" },
      ],
    }),
  ],
};

/** The summaries as MeshServices.list() makes them, from the view. */
function summaries(checked: Record<string, boolean | null>): ServiceSummary[] {
  return serviceNames(view).map((name) => ({
    name,
    local: name === "echo",
    ...(name in checked ? { localHealthy: checked[name] } : {}),
    instances: serviceInstances(view, name, { self: "ks", peerHealth: () => "up" }),
  }));
}

const leader = (name: string, member: string, address: string, token: number): ServiceLeader => ({
  name,
  member,
  publicKey: `k-${member}`,
  address,
  token,
  expiresAt: Date.UTC(2030, 0, 1, 12, 0, token),
});

Deno.test("services status: instances with health, the leader with its token and expiry", () => {
  const st = servicesStatus(summaries({ echo: true }), [leader("echo", "self", "10.0.0.1", 7)]);
  assert.deepEqual(st.map((s) => s.name), ["db", "echo"]);
  const [db, echo] = st;
  assert.equal(db.leader, null);
  assert.equal("localHealthy" in db, false, "db is not checked here");
  assert.deepEqual(db.instances, [
    { node: "beta", address: "10.0.0.2", local: false, rpc: false, healthy: true },
  ]);
  assert.equal(echo.local, true);
  assert.equal(echo.localHealthy, true);
  assert.deepEqual(echo.instances, [
    {
      node: "beta",
      address: "10.0.0.2",
      local: false,
      rpc: true,
      healthy: false,
      reason: "check-failing",
    },
    { node: "self", address: "10.0.0.1", local: true, rpc: true, healthy: true },
  ]);
  assert.deepEqual(echo.leader, {
    node: "self",
    address: "10.0.0.1",
    token: 7,
    expiresAt: "2030-01-01T12:00:07.000Z",
  });
  // Plain JSON: what /status serves is what the agent built.
  assert.deepEqual(JSON.parse(JSON.stringify(st)), st);
});

Deno.test("services status: a check before its first result; a leader the view lacks", () => {
  const st = servicesStatus(summaries({ echo: null }), [leader("jobs", "gone", "10.0.0.9", 2)]);
  assert.deepEqual(st.map((s) => s.name), ["db", "echo", "jobs"]);
  assert.equal(st[1].localHealthy, null);
  assert.deepEqual(st[2], {
    name: "jobs",
    local: false,
    instances: [],
    leader: { node: "gone", address: "10.0.0.9", token: 2, expiresAt: "2030-01-01T12:00:02.000Z" },
  });
  assert.deepEqual(servicesStatus([], []), []);
});
