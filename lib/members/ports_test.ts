import assert from "node:assert/strict";
import { CONTROL_PORT, DEFAULT_LISTEN_PORT, SERVICES_PORT } from "./ports.ts";

Deno.test("ports: WireGuard's 51820 for traffic, the next port for the control plane", () => {
  assert.equal(DEFAULT_LISTEN_PORT, 51820);
  assert.equal(CONTROL_PORT, 51821);
  for (const p of [DEFAULT_LISTEN_PORT, CONTROL_PORT]) {
    assert.ok(Number.isInteger(p) && p > 1023 && p <= 0xffff, `${p} is an unprivileged port`);
  }
});

Deno.test("ports: the service layer has a port of its own, apart from the control plane's", () => {
  assert.equal(new Set([DEFAULT_LISTEN_PORT, CONTROL_PORT, SERVICES_PORT]).size, 3);
  assert.ok(Number.isInteger(SERVICES_PORT) && SERVICES_PORT > 1023 && SERVICES_PORT <= 0xffff);
});
