import assert from "node:assert/strict";
import { SERVICES_PORT } from "../members/ports.ts";
import { announcedServices } from "./announce.ts";

Deno.test("announce: configured services, marked when provided or failing; provided ones added", () => {
  const configured = [
    { name: "api", port: 8080, protocol: "tcp" as const, weight: 5 },
    { name: "db", port: 5432, protocol: "tcp" as const, rpc: true, healthy: false },
  ];
  assert.deepEqual(announcedServices(configured, ["api", "auth"], new Set(["api", "auth"])), [
    { name: "api", port: 8080, protocol: "tcp", weight: 5, rpc: true, healthy: false },
    { name: "db", port: 5432, protocol: "tcp" },
    { name: "auth", port: SERVICES_PORT, protocol: "udp", rpc: true, healthy: false },
  ]);
  assert.deepEqual(configured[1], {
    name: "db",
    port: 5432,
    protocol: "tcp",
    rpc: true,
    healthy: false,
  });
  assert.deepEqual(announcedServices([], [], new Set()), []);
});
