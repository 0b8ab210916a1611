import assert from "node:assert/strict";
import { meshControlFromConfig, meshOptionsFromConfig, meshRoleFromConfig } from "./mesh_config.ts";
import { StateDir } from "./state/state.ts";
import { type AgentConfig, loadAgentConfig } from "../config/agent_config.ts";
import { ConfigError } from "../config/config_error.ts";
import { nullLogger } from "../log/logger.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-mesh-config-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("mesh config: every option reaches the mesh agent's options", async () => {
  await withDir(async (dir) => {
    const config = await loadAgentConfig({
      flags: {
        join: "weft1_token",
        cidr: "10.11.0.0/16",
        cidr6: "fd11::/64",
        listenPort: "51111",
        stateDir: `${dir}/state`,
        interface: "weft9",
        userspace: true,
        hostname: "beta",
        advertise: ["192.0.2.9:51111"],
        label: ["node.weft/zone=a"],
        service: ["db:5432/tcp"],
        serviceHttp: ["api=http://127.0.0.1:8080"],
        serviceCheck: ["db=tcp://127.0.0.1:5432,fall=2"],
        serviceCallerLimit: "900,concurrent=8",
        crypto: "noble",
        cryptoWorkers: "0",
        dnsPort: "15999",
        dnsZone: "mesh.test",
        dnsForward: true,
        persistentKeepalive: "15",
        mtu: "1400",
        probeInterval: "3s",
        tcpPort: "443",
        relay: true,
        relayRate: "800",
        natTraversal: false,
        lanDiscovery: false,
        proxy: "http://u:p@198.51.100.1:3128",
        requirePq: true,
        pqRotate: "20s",
        joinTimeout: "2m",
      },
      // The environment as the loader sees it: NO_PROXY applies to the option's proxy too.
      system: { env: (name) => name === "NO_PROXY" ? "192.0.2.0/24" : undefined },
    });
    assert.deepEqual(meshOptionsFromConfig(config, { role: "node", logger: nullLogger }), {
      role: "node",
      token: "weft1_token",
      stateDir: `${dir}/state`,
      network: "10.11.0.0/16",
      network6: "fd11::/64",
      listenPort: 51111,
      tcpPort: 443,
      proxy: {
        url: { scheme: "http", host: "198.51.100.1", port: 3128, username: "u", password: "p" },
        bypass: [{ kind: "cidr", network: new Uint8Array([192, 0, 2, 0]), bits: 24 }],
        from: "proxy",
      },
      relay: true,
      relayRateMbps: 800,
      interfaceName: "weft9",
      joinTimeoutMs: 120_000,
      userspace: true,
      hostname: "beta",
      advertise: ["192.0.2.9:51111"],
      labels: { "node.weft/zone": "a" },
      services: [{ name: "db", port: 5432, protocol: "tcp" }],
      persistentKeepalive: 15,
      crypto: "noble",
      cryptoWorkers: 0,
      mtu: 1400,
      dnsPort: 15999,
      dnsZone: "mesh.test.",
      dnsForward: true,
      policyText: undefined,
      policyOrigin: undefined,
      health: { probeIntervalMs: 3000 },
      serviceHttp: [{ name: "api", url: "http://127.0.0.1:8080" }],
      serviceChecks: [{
        service: "db",
        check: { target: { kind: "tcp", host: "127.0.0.1", port: 5432 }, fall: 2 },
      }],
      serviceCallerLimit: { ratePerSecond: 900, burst: 1800, maxConcurrent: 8 },
      natTraversal: false,
      lanDiscovery: false,
      pq: true,
      requirePq: true,
      pqRotateMs: 20_000,
      lanCandidates: false,
      logger: nullLogger,
    });
  });
});

Deno.test("mesh config: a policy is the leader's, as canonical text; a node's is refused", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/weft.yaml`;
    await Deno.writeTextFile(
      file,
      `leader: true\nstate-dir: ${dir}/state\npolicy:\n  policies: []\n`,
    );
    const config = await loadAgentConfig({ configPath: file });
    const options = meshOptionsFromConfig(config, { role: "leader" });
    assert.equal(typeof options.policyText, "string");
    assert.ok(options.logger, "a logger made from the configuration");
    assert.throws(
      () => meshOptionsFromConfig(config, { role: "node" }),
      (e) =>
        e instanceof ConfigError &&
        e.message === "a policy section belongs in the leader's configuration",
    );
  });
});

Deno.test("mesh config: the role is the one asked for, else what the state directory holds", async () => {
  await withDir(async (dir) => {
    const base = { stateDir: dir } as AgentConfig;
    assert.equal(await meshRoleFromConfig({ ...base, leader: true }), "leader");
    assert.equal(await meshRoleFromConfig({ ...base, leader: false, join: "weft1_x" }), "node");
    await assert.rejects(
      meshRoleFromConfig({ ...base, leader: false }),
      (e) => e instanceof ConfigError && /give --leader to start a mesh/.test(e.message),
    );
    await new StateDir(dir).writeNode({
      format: 1,
      address: "10.0.0.2",
      leader: { publicKey: "k", endpoints: [], address: "10.0.0.1" },
      view: { network: "10.0.0.0/24", version: 1, members: [] },
    });
    assert.equal(await meshRoleFromConfig({ ...base, leader: false }), "node");
  });
});

Deno.test("mesh config: the control server listens as configured, with the state's token", async () => {
  await withDir(async (dir) => {
    const config = {
      stateDir: dir,
      statusListen: "127.0.0.1:51999",
      statusAllowRemote: false,
    } as AgentConfig;
    const control = await meshControlFromConfig(config);
    assert.equal(control.listen, "127.0.0.1:51999");
    assert.equal(control.allowRemote, false);
    assert.equal(control.token, await new StateDir(dir).controlToken(), "kept in the state");
    assert.equal(control.monitorToken, await new StateDir(dir).monitorToken());
    assert.notEqual(control.monitorToken, control.token);
    assert.equal(control.socket, `${dir}/weft.sock`);
    const next = await control.rotateToken();
    assert.notEqual(next, control.token);
    assert.equal(await new StateDir(dir).controlToken(), next, "the new one is on disk");
    assert.equal((await Deno.stat(`${dir}/control.token`)).mode! & 0o777, 0o600);
  });
});
