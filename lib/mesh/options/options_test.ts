import assert from "node:assert/strict";
import {
  identityFromConfig,
  knownTcpPort,
  meshTcpPort,
  servicesFromConfig,
  underlayFromConfig,
  underlayKind,
} from "./options.ts";
import { MemoryNetwork } from "../../../drivers/memory.ts";
import { loadAgentConfig } from "../../config/agent_config.ts";

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
      cryptoWorkers: "1",
      probeInterval: "2500ms",
      tcpPort: "443",
      relay: true,
      relayRate: "800",
    },
    // An environment naming a proxy: the underlay section carries it.
    system: { env: (name) => name === "HTTPS_PROXY" ? "http://198.51.100.1:3128" : undefined },
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
    tcpPort: 443,
    proxy: {
      url: { scheme: "http", host: "198.51.100.1", port: 3128 },
      bypass: [],
      from: "HTTPS_PROXY",
    },
    relay: true,
    relayRateMbps: 800,
    interfaceName: "weft7",
    userspace: true,
    mtu: 1380,
    crypto: "noble",
    cryptoWorkers: 1,
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

Deno.test("options: TCP is on the UDP port's number unless said otherwise", async () => {
  const config = await loadAgentConfig({
    flags: { leader: true, stateDir: "/tmp/weft-options-test", hostname: "alpha" },
  });
  const underlay = underlayFromConfig(config);
  assert.equal(underlay.tcpPort, undefined);
  assert.equal(underlay.relay, false);
  assert.equal(meshTcpPort(underlay), "same");
  assert.equal(knownTcpPort(underlay), 51820);
  assert.equal(meshTcpPort({ tcpPort: 0 }), 0);
  assert.equal(knownTcpPort({ tcpPort: 0 }), null);
  assert.equal(meshTcpPort({ tcpPort: 443 }), 443);
  assert.equal(knownTcpPort({ listenPort: 0, tcpPort: 443 }), 443);
  // With the UDP port picked at start, the TCP port is known only then.
  assert.equal(meshTcpPort({ listenPort: 0 }), "same");
  assert.equal(knownTcpPort({ listenPort: 0 }), null);
  assert.equal(knownTcpPort({ listenPort: 40000 }), 40000);
  // A hook that supplies the underlay (a simulation's memory network) has no TCP unless asked.
  const net = new MemoryNetwork();
  const openTransport = (port: number) => Promise.resolve(net.bind("192.0.2.1", port));
  assert.equal(meshTcpPort({ openTransport }), 0);
  assert.equal(knownTcpPort({ openTransport }), null);
  assert.equal(meshTcpPort({ openTransport, tcpPort: 7000 }), 7000);
});

Deno.test("options: a service's HTTP backend and check stay on the node, flags added after", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/weft.yaml`;
    await Deno.writeTextFile(
      file,
      [
        "services:",
        "  - {name: api, port: 8080, http: 'http://127.0.0.1:8080', check: 'tcp://127.0.0.1:8080'}",
        "  - {name: web, port: 80}",
      ].join("\n"),
    );
    const config = await loadAgentConfig({
      configPath: file,
      flags: {
        leader: true,
        serviceHttp: ["echo=http://127.0.0.1:9000"],
        serviceCallerLimit: "1000,burst=1500",
      },
    });
    assert.deepEqual(identityFromConfig(config).services, [
      { name: "api", port: 8080, protocol: "tcp" },
      { name: "web", port: 80, protocol: "tcp" },
    ]);
    assert.deepEqual(servicesFromConfig(config), {
      serviceHttp: [
        { name: "api", url: "http://127.0.0.1:8080" },
        { name: "echo", url: "http://127.0.0.1:9000" },
      ],
      serviceChecks: [
        { service: "api", check: { target: { kind: "tcp", host: "127.0.0.1", port: 8080 } } },
      ],
      serviceCallerLimit: { ratePerSecond: 1000, burst: 1500, maxConcurrent: 32 },
    });
    const plain = await loadAgentConfig({ flags: { leader: true } });
    assert.deepEqual(servicesFromConfig(plain), {
      serviceCallerLimit: { ratePerSecond: 200, burst: 400, maxConcurrent: 32 },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
