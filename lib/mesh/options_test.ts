import assert from "node:assert/strict";
import { identityFromConfig, underlayFromConfig, underlayKind } from "./options.ts";
import { loadAgentConfig } from "../config/agent_config.ts";

Deno.test("options: the identity and underlay sections of a parsed configuration", async () => {
  const config = await loadAgentConfig({
    flags: {
      leader: true,
      stateDir: "/tmp/weft-options-test",
      hostname: "alpha",
      advertise: ["192.0.2.1:51820"],
      label: ["role=web"],
      service: ["web:80/tcp"],
      listenPort: "51000",
      interface: "weft7",
      userspace: true,
      mtu: "1380",
      crypto: "noble",
      probeInterval: "2500ms",
    },
  });
  assert.deepEqual(identityFromConfig(config), {
    stateDir: "/tmp/weft-options-test",
    hostname: "alpha",
    advertise: ["192.0.2.1:51820"],
    labels: { role: "web" },
    services: [{ name: "web", port: 80, protocol: "tcp" }],
  });
  assert.deepEqual(underlayFromConfig(config), {
    listenPort: 51000,
    interfaceName: "weft7",
    userspace: true,
    mtu: 1380,
    crypto: "noble",
    health: { probeIntervalMs: 2500 },
  });
});

Deno.test("options: no advertised endpoints leaves the choice to the leader", async () => {
  const config = await loadAgentConfig({
    flags: { leader: true, stateDir: "/tmp/weft-options-test", hostname: "alpha" },
  });
  assert.equal(identityFromConfig(config).advertise, undefined);
});

Deno.test("options: the underlay is the one asked for, else the platform's", () => {
  assert.equal(underlayKind({ underlay: "deno" }), "deno");
  assert.equal(underlayKind({}), Deno.build.os === "linux" ? "linux" : "deno");
});
