/**
 * `MeshAgent.set` on a leader (a node's path is driven through the real CLI in
 * tests/integration/set_cli_test.ts): its own record takes the labels and services at once, a
 * restart on the same state directory keeps them over its options, a `prefs.json` it cannot read
 * fails the start naming the file.
 */
import assert from "node:assert/strict";
import { MeshAgent, type MeshOptions } from "./mesh_agent.ts";
import { nullLogger } from "../log/logger.ts";
import { freePort } from "../../tests/fixtures/procs.ts";
import { ConfigError } from "../config/config_error.ts";
import { parsePrefsChange } from "./prefs.ts";

function leaderOpts(dir: string): MeshOptions {
  const lp = freePort();
  return {
    role: "leader",
    stateDir: dir,
    hostname: "leader",
    userspace: true,
    listenPort: lp,
    advertise: [`127.0.0.1:${lp}`],
    dnsPort: 0,
    probes: false,
    lanDiscovery: false,
    labels: { role: "hq", "node.weft/tier": "a" },
    services: [{ name: "db", port: 5432, protocol: "tcp" }],
    logger: nullLogger,
  };
}

const own = (m: MeshAgent) => ({
  labels: m.self?.labels,
  nodeLabels: m.self?.nodeLabels,
  services: m.self?.services.map((s) => `${s.name}:${s.port}/${s.protocol}`),
});

Deno.test({
  name: "MeshAgent.set: a leader's own labels and services change at once and survive a restart",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-prefs-" });
    let mesh: MeshAgent | null = null;
    try {
      mesh = await MeshAgent.start(leaderOpts(dir));
      assert.deepEqual(own(mesh), {
        labels: { role: "hq" },
        nodeLabels: { "node.weft/tier": "a" },
        services: ["db:5432/tcp"],
      });
      const settings = await mesh.set(parsePrefsChange({
        labels: { "node.weft/env": "prod" },
        removeLabels: ["node.weft/tier"],
        services: ["web:8080"],
        removeServices: ["db"],
      }));
      const want = {
        labels: { role: "hq" },
        nodeLabels: { "node.weft/env": "prod" },
        services: ["web:8080/tcp"],
      };
      assert.deepEqual(settings.labels, { role: "hq", "node.weft/env": "prod" });
      assert.deepEqual(own(mesh), want, "in the leader's record when set resolves");
      // Too many services: refused, nothing changed.
      await assert.rejects(
        mesh.set({
          services: Array.from({ length: 64 }, (_, i) => ({
            name: `s${i}`,
            port: 80,
            protocol: "tcp" as const,
          })),
        }),
        ConfigError,
      );
      assert.deepEqual(own(mesh), want);
      // Routes need TUN mode (the kernel forwards them): refused in userspace, nothing changed.
      await assert.rejects(
        mesh.set({ advertiseRoutes: ["198.51.100.0/24"] }),
        /carrying routes for the mesh needs TUN mode/,
      );
      assert.equal(mesh.prefs().prefs.advertiseRoutes, undefined);
      await mesh.close();
      mesh = await MeshAgent.start(leaderOpts(dir));
      assert.deepEqual(own(mesh), want, "kept over the options after a restart");
      assert.deepEqual(mesh.prefs().prefs.removeServices, ["db"]);
      await mesh.close();
      mesh = null;

      await Deno.writeTextFile(`${dir}/prefs.json`, '{"labels":{"role":"db"}}');
      await assert.rejects(MeshAgent.start(leaderOpts(dir)), (e) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /prefs\.json: labels: label "role": a node sets only its own/);
        return true;
      });
    } finally {
      await mesh?.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
