import assert from "node:assert/strict";
import { configuredSettings, resolveMesh } from "./resolve.ts";
import type { MeshOptions } from "./mesh_options.ts";
import { layerPrefs, noPrefs } from "./prefs.ts";

const base = { role: "node" as const, stateDir: "/nonexistent", hostname: "n1" };

Deno.test("resolve: the defaults, worked out once", () => {
  const m = resolveMesh({ ...base, underlay: "deno" });
  assert.equal(m.agent.listenPort, 51820);
  assert.equal(m.agent.tcpPort, "same");
  assert.equal(m.agent.iface, "weft0");
  assert.equal(m.agent.mtu, 1420);
  assert.equal(m.agent.userspace, false);
  assert.equal(m.agent.probes, true);
  assert.deepEqual(m.identity, {
    hostname: "n1",
    hostnameIsDefault: false,
    advertise: [],
    labels: {},
    services: [],
    announced: [],
    routes: [],
    relay: false,
  });
  // The join says the TCP port the agent will take: the UDP port's number.
  assert.equal(m.join.tcpPort, 51820);
  assert.equal(m.join.dialTcp, true);
  assert.equal(m.join.timeoutMs, 15_000);
  assert.equal(m.peers.keepalive, 25);
  assert.deepEqual(m.peers.keepPeers, []);
  assert.notEqual(m.nat, null);
  assert.notEqual(m.dns.server, null);
  assert.equal(m.routes.accept, true);
  assert.equal(m.routes.masquerade, true);
  // The Deno underlay cannot mark its socket: no exit node unless one is asked for.
  assert.equal(m.routes.exit, null);
  assert.equal(m.agent.exitMark, 0);
});

Deno.test("resolve: the routes advertised are one list, for the record, the join and the router", () => {
  const m = resolveMesh({
    ...base,
    advertiseRoutes: ["198.51.100.0/24"],
    advertiseExitNode: true,
    underlay: "deno",
  });
  assert.deepEqual(m.identity.routes, ["0.0.0.0/0", "198.51.100.0/24", "::/0"]);
  assert.equal(m.join.routes, m.identity.routes);
});

Deno.test("resolve: the TCP port as the agent takes it and as the join says it", () => {
  const openTransport = () => Promise.reject(new Error("not opened"));
  const sim = resolveMesh({ ...base, openTransport });
  assert.equal(sim.agent.tcpPort, 0);
  assert.equal(sim.join.tcpPort, null);
  assert.equal(sim.join.dialTcp, false);
  const picked = resolveMesh({ ...base, listenPort: 0 });
  assert.equal(picked.agent.tcpPort, "same");
  assert.equal(picked.join.tcpPort, null);
  assert.equal(picked.join.dialTcp, true);
  const fixed = resolveMesh({ ...base, listenPort: 0, tcpPort: 443 });
  assert.equal(fixed.agent.tcpPort, 443);
  assert.equal(fixed.join.tcpPort, 443);
});

Deno.test("resolve: the proxy goes to both the agent and the join, none by default", () => {
  assert.equal(resolveMesh(base).agent.proxy, null);
  assert.equal(resolveMesh(base).join.proxy, null);
  const proxy = {
    url: { scheme: "http" as const, host: "198.51.100.1", port: 3128 },
    bypass: [],
    from: "HTTPS_PROXY",
  };
  const m = resolveMesh({ ...base, proxy });
  assert.equal(m.agent.proxy, proxy);
  assert.equal(m.join.proxy, proxy);
});

Deno.test("resolve: the exit node's mark, and what needs TUN mode is refused", () => {
  // TUN over the Linux underlay: marked always, so one may be chosen at runtime.
  const tun = resolveMesh({ ...base, underlay: "linux", listenPort: 40000 });
  assert.equal(tun.agent.exitMark, 40000);
  assert.deepEqual(tun.routes.exit, { exitNode: null, allowLanAccess: false, fallback: false });
  // A port picked at start marks with the default's number.
  const picked = resolveMesh({ ...base, underlay: "deno", listenPort: 0, exitNode: "gw" });
  assert.equal(picked.agent.exitMark, 51820);
  assert.equal(picked.routes.exit?.exitNode, "gw");
  assert.throws(
    () => resolveMesh({ ...base, userspace: true, exitNode: "gw" }),
    /exit node needs TUN mode/,
  );
  assert.throws(
    () => resolveMesh({ ...base, userspace: true, advertiseRoutes: ["198.51.100.0/24"] }),
    /carrying routes for the mesh needs TUN mode/,
  );
});

Deno.test("resolve: the preferences set at runtime stand in for the options they change", () => {
  const opts: MeshOptions = { ...base, labels: { "node.weft/a": "1" }, underlay: "deno" };
  const prefs = { ...noPrefs(), setLabels: { "node.weft/b": "2" }, acceptRoutes: false };
  const m = resolveMesh(opts, layerPrefs(configuredSettings(opts), prefs));
  assert.deepEqual(m.identity.labels, { "node.weft/a": "1", "node.weft/b": "2" });
  assert.deepEqual(m.join.labels, m.identity.labels);
  assert.equal(m.routes.accept, false);
});

Deno.test("resolve: a service with a health check is failing in the first record, the join's too", () => {
  const m = resolveMesh({
    ...base,
    services: [{ name: "api", port: 80, protocol: "tcp" }, {
      name: "web",
      port: 81,
      protocol: "tcp",
    }],
    serviceChecks: [{
      service: "api",
      check: { target: { kind: "tcp", host: "127.0.0.1", port: 80 } },
    }],
  });
  assert.deepEqual(m.identity.announced, [
    { name: "api", port: 80, protocol: "tcp", healthy: false },
    { name: "web", port: 81, protocol: "tcp" },
  ]);
  assert.deepEqual(m.join.services, m.identity.announced);
  // The service layer is given the services as configured: it marks them itself.
  assert.deepEqual(m.identity.services.map((s) => s.healthy), [undefined, undefined]);
});

Deno.test("resolve: a part turned off has no section", () => {
  const m = resolveMesh({ ...base, natTraversal: false, dnsPort: 0 });
  assert.equal(m.nat, null);
  assert.equal(m.dns.server, null);
});

// Every option, and how the resolver takes it: worked out (a default, a value computed from it)
// or handed on as given to a part's section. A new option must be placed here (the compiler
// says so), and every one handed on must reach a section.
const HOW: Record<keyof MeshOptions, "computed" | "passed"> = {
  role: "computed",
  stateDir: "computed",
  hostname: "computed",
  hostnameIsDefault: "computed",
  advertise: "computed",
  labels: "computed",
  services: "computed",
  advertiseRoutes: "computed",
  advertiseExitNode: "computed",
  listenPort: "computed",
  tcpPort: "computed",
  webSocketTls: "passed",
  webSocketCaCerts: "passed",
  proxy: "computed",
  relay: "computed",
  interfaceName: "computed",
  userspace: "computed",
  mtu: "computed",
  underlay: "computed",
  probes: "computed",
  token: "computed",
  joinTimeoutMs: "computed",
  persistentKeepalive: "computed",
  keepPeers: "computed",
  natTraversal: "computed",
  acceptRoutes: "computed",
  snatSubnetRoutes: "computed",
  exitNode: "computed",
  exitNodeAllowLanAccess: "computed",
  exitNodeFallback: "computed",
  acceptDns: "computed",
  dnsPort: "computed",
  stateLock: "passed",
  logger: "passed",
  relayRateMbps: "passed",
  crypto: "passed",
  cryptoWorkers: "passed",
  timers: "passed",
  openTransport: "passed",
  health: "passed",
  lookup: "passed",
  network: "passed",
  network6: "passed",
  joinHoldMs: "passed",
  nameHoldMs: "passed",
  policyText: "passed",
  policyOrigin: "passed",
  store: "passed",
  syncIntervalMs: "passed",
  byeWaitMs: "passed",
  activityTiming: "passed",
  dnsZone: "passed",
  dnsForward: "passed",
  dnsForwardMembers: "passed",
  dnsRoutes: "passed",
  systemDns: "passed",
  lanCandidates: "passed",
  interfaces: "passed",
  pathTiming: "passed",
  lanDiscovery: "passed",
  lanAnnounce: "passed",
  leaseTiming: "passed",
  serviceHttp: "passed",
  serviceChecks: "passed",
  serviceCallerLimit: "passed",
  serviceLayer: "passed",
  forwarding: "passed",
  kernelRoutes: "passed",
  defaultRouting: "passed",
  segmentDrivers: "passed",
  plugins: "passed",
  pluginTiming: "passed",
  pq: "passed",
  requirePq: "passed",
  pqRotateMs: "passed",
};

Deno.test("resolve: every option handed on reaches a part's section", () => {
  const given: Record<string, unknown> = { ...base, underlay: "deno" };
  const sentinels = new Map<unknown, string>();
  for (const [key, how] of Object.entries(HOW)) {
    if (how !== "passed") continue;
    // A value the resolver cannot make itself: found in the result only if handed on.
    // (The service checks are read too, as a list: the first record marks their services.)
    const value = key === "openTransport"
      ? () => Promise.reject(new Error(key))
      : key === "serviceChecks"
      ? []
      : { key };
    given[key] = value;
    sentinels.set(value, key);
  }
  const m = resolveMesh(given as unknown as MeshOptions);
  const found = new Set<string>();
  const seen = new Set<unknown>();
  const walk = (v: unknown) => {
    if (sentinels.has(v)) found.add(sentinels.get(v)!);
    if (v === null || typeof v !== "object" || seen.has(v)) return;
    seen.add(v);
    for (const x of Object.values(v)) walk(x);
  };
  walk(m);
  const missing = [...sentinels.values()].filter((k) => !found.has(k));
  assert.deepEqual(missing, []);
});
