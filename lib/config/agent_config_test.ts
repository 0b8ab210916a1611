import assert from "node:assert/strict";
import { join } from "node:path";
import { Command } from "npm:commander@^15.1.0";
import { isMap, isScalar, isSeq, type YAMLMap, type YAMLSeq } from "npm:yaml@^2.9.1";
import {
  type AgentConfig,
  type AgentFlags,
  defaultStateDir,
  loadAgentConfig,
  optionHelp,
  optionTableMarkdown,
  parseLabel,
  parseService,
  type SystemInfo,
  userSetFlags,
  validateRunMode,
} from "./agent_config.ts";
import { ConfigError } from "./config_error.ts";
import { didYouMean } from "../text/did_you_mean.ts";
import { interfaceNameProblem, sanitizeHostname } from "../net/names.ts";
import { isLoopbackHost, parseHostPort } from "../net/hostport.ts";
import { labelKeyProblem } from "../members/labels.ts";
import { validEndpoints, validLabels, validServices } from "../members/validate.ts";

const SYS: SystemInfo = {
  uid: 1000,
  home: "/home/ada",
  xdgStateHome: undefined,
  hostname: "Ada_Laptop.example.com",
  cwd: "/srv/work",
};

/** Writes `lines` as weft.yaml in a fresh directory; line N of the file is lines[N - 1]. */
async function withFile<T>(
  lines: string[] | string,
  fn: (path: string, dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "weft-agent-config-" });
  try {
    const path = join(dir, "weft.yaml");
    await Deno.writeTextFile(path, typeof lines === "string" ? lines : lines.join("\n") + "\n");
    return await fn(path, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function load(
  configPath?: string,
  flags: AgentFlags = {},
  system: Partial<SystemInfo> = SYS,
): Promise<AgentConfig> {
  return loadAgentConfig({ configPath, flags, system });
}

/** Loads `lines` and returns the ConfigError it must raise. */
function fileError(lines: string[], flags: AgentFlags = {}): Promise<ConfigError> {
  return withFile(lines, async (path) => {
    const e = await load(path, flags).then(
      () => assert.fail("expected a ConfigError"),
      (e) => e,
    );
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    assert.equal(e.file, path);
    return e;
  });
}

async function flagError(flags: AgentFlags): Promise<ConfigError> {
  const e = await load(undefined, flags).then(
    () => assert.fail("expected a ConfigError"),
    (e) => e,
  );
  assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
  assert.equal(e.file, undefined);
  assert.equal(e.line, undefined);
  return e;
}

Deno.test("defaults with no file and no flags", async () => {
  const c = await load();
  assert.equal(c.leader, false);
  assert.equal(c.join, undefined);
  assert.equal(c.cidr, "10.200.0.0/16");
  assert.equal(c.cidr6, undefined);
  assert.equal(c.listenPort, 51820);
  assert.equal(c.tcpPort, undefined, "TCP on the listen port's number");
  assert.equal(c.relay, false);
  assert.equal(c.stateDir, "/home/ada/.local/state/weft");
  assert.equal(c.interface, "weft0");
  assert.equal(c.userspace, false);
  assert.equal(c.hostname, "ada-laptop");
  assert.deepEqual(c.advertise, []);
  assert.equal(c.statusListen, "127.0.0.1:51880");
  assert.equal(c.statusAllowRemote, false);
  assert.equal(c.config, undefined);
  assert.equal(c.logLevel, "info");
  assert.equal(c.logFormat, "text");
  assert.equal(c.crypto, undefined);
  assert.equal(c.cryptoWorkers, "auto");
  assert.deepEqual(c.labels, {});
  assert.deepEqual(c.services, []);
  assert.equal(c.dnsPort, 15353);
  assert.equal(c.dnsZone, "overlay.local.");
  assert.equal(c.dnsForward, false);
  assert.equal(c.dnsForwardMembers, false);
  assert.equal(c.persistentKeepalive, 25);
  assert.equal(c.mtu, 1420);
  assert.equal(c.probeInterval, 5000);
  assert.equal(c.policy, undefined);
  for (const row of optionHelp()) assert.deepEqual(c.origin[row.name], { source: "default" });
});

Deno.test("default state directory follows root, XDG_STATE_HOME and HOME", () => {
  assert.equal(defaultStateDir({ ...SYS, uid: 0 }), "/var/lib/weft");
  assert.equal(defaultStateDir({ ...SYS, xdgStateHome: "/x/state" }), "/x/state/weft");
  // A relative XDG_STATE_HOME is invalid per the XDG spec and ignored.
  assert.equal(defaultStateDir({ ...SYS, xdgStateHome: "rel" }), "/home/ada/.local/state/weft");
  assert.equal(defaultStateDir({ ...SYS, uid: null }), "/home/ada/.local/state/weft");
  assert.throws(() => defaultStateDir({ ...SYS, home: undefined }), ConfigError);
});

Deno.test("default hostname is the machine's, sanitised to one DNS label", async () => {
  assert.equal(sanitizeHostname("Ada_Laptop.example.com"), "ada-laptop");
  assert.equal(sanitizeHostname("--Web  Server 01--"), "web-server-01");
  assert.equal(sanitizeHostname("x".repeat(80)), "x".repeat(63));
  assert.equal(sanitizeHostname("***"), "node");
  assert.equal(sanitizeHostname(""), "node");
  assert.equal((await load(undefined, {}, { ...SYS, hostname: "BOX-7" })).hostname, "box-7");
});

const FULL = [
  "# every option", // 1
  "leader: false", // 2
  "join: tok3n.abc", // 3
  "cidr: 10.9.0.0/16", // 4
  "cidr6: fd00:abcd::/64", // 5
  "listen-port: 51000", // 6
  "state-dir: data/state", // 7
  "interface: wg-mesh.1", // 8
  "userspace: true", // 9
  "hostname: Node-A", // 10
  "advertise:", // 11
  "  - 198.51.100.7:51000", // 12
  "  - '[2001:db8::7]:51000'", // 13
  "  - Edge.Example.net:443", // 14
  "status-listen: '[::1]:9000'", // 15
  "status-allow-remote: true", // 16
  "log-level: WARNING", // 17
  "log-format: json", // 18
  "crypto: node", // 19
  "labels:", // 20
  "  role: web", // 21
  "  example.com/tier: 1", // 22
  "  empty: ''", // 23
  "services:", // 24
  "  - name: web", // 25
  "    port: 8080", // 26
  "    protocol: tcp", // 27
  "    weight: 5", // 28
  "    priority: 1", // 29
  "    labels: {path: root}", // 30
  "  - {name: DNS, port: 53, protocol: udp}", // 31
  "dns-port: 0", // 32
  "dns-zone: Mesh.Example", // 33
  "dns-forward: true", // 34
  "persistent-keepalive: 0", // 35
  "mtu: 1380", // 36
  "policy:", // 37
  "  default: deny", // 38
  "  rules:", // 39
  "    - from: role=web", // 40
  "      to: role=db", // 41
  "      ports: [5432]", // 42
  "    - from: '*'", // 43
  "      to: role=web", // 44
  "probe-interval: 1500ms", // 45
  "tcp-port: 443", // 46
  "relay: true", // 47
  "relay-rate: 640", // 48
  "crypto-workers: 2", // 49
  "service-caller-limit: 1000,concurrent=64", // 50
  "nat-traversal: false", // 51
  "lan-discovery: false", // 52
  "on-removed: Wait", // 53
  "store: etcd://192.0.2.10:2379,192.0.2.11:2379", // 54
  "store-ca: pki/ca.pem", // 55
  "store-cert: pki/client.pem", // 56
  "store-key: pki/client-key.pem", // 57
  "store-prefix: /mesh-a/", // 58
  "keep-peer: [DB, 10.9.0.7, 'fd00:abcd:0::9']", // 59
  // Routes carried need TUN mode (userspace above): none here, see the routes test.
  "advertise-routes: []", // 60
  "advertise-exit-node: false", // 61
  "accept-routes: false", // 62
  "snat-subnet-routes: false", // 63
  "exit-node-allow-lan-access: true", // 64
  // Refused at the start in userspace mode (the mesh agent says so), not by the file.
  "exit-node: Gateway", // 65
  "dns-route: [Corp.Example=198.51.100.53, 'lab.=198.51.100.54:5353,2001:db8::53']", // 66
  // True is refused in userspace mode (the checks below).
  "accept-dns: false", // 67
  "dns-forward-members: true", // 68
  "exit-node-fallback: true", // 69
  "plugins: [hello.ts, {path: p/audit.ts, permissions: {read: [p], net: [api.example:443]}}]", // 70
  "proxy: http://Proxy.Example:3128", // 71
  "ws-tls-cert: pki/wss.pem", // 72
  "ws-tls-key: pki/wss-key.pem", // 73
  "ws-tls-port: 8443", // 74
  "ws-ca: pki/ws-ca.pem", // 75
  "pq: true", // 76
  "require-pq: true", // 77
  "pq-rotate: 30s", // 78
  "join-timeout: 5m", // 79
];

Deno.test("YAML: every key is read, normalised and located", async () => {
  await withFile(FULL, async (path, dir) => {
    const c = await load(path);
    assert.equal(c.leader, false);
    assert.equal(c.join, "tok3n.abc");
    assert.equal(c.cidr, "10.9.0.0/16");
    assert.equal(c.cidr6, "fd00:abcd::/64");
    assert.equal(c.listenPort, 51000);
    assert.equal(c.stateDir, join(dir, "data/state"), "relative to the file's directory");
    assert.equal(c.interface, "wg-mesh.1");
    assert.equal(c.userspace, true);
    assert.equal(c.hostname, "node-a");
    assert.deepEqual(c.advertise, [
      "198.51.100.7:51000",
      "[2001:db8::7]:51000",
      "edge.example.net:443",
    ]);
    assert.equal(c.statusListen, "[::1]:9000");
    assert.equal(c.statusAllowRemote, true);
    assert.equal(c.config, path);
    assert.equal(c.logLevel, "warn");
    assert.equal(c.logFormat, "json");
    assert.equal(c.crypto, "node");
    assert.deepEqual(c.labels, { role: "web", "example.com/tier": "1", empty: "" });
    assert.deepEqual(c.services, [
      {
        name: "web",
        port: 8080,
        protocol: "tcp",
        weight: 5,
        priority: 1,
        labels: { path: "root" },
      },
      { name: "dns", port: 53, protocol: "udp" },
    ]);
    assert.equal(c.dnsPort, 0);
    assert.equal(c.dnsZone, "mesh.example.");
    assert.equal(c.dnsForward, true);
    assert.equal(c.dnsForwardMembers, true);
    assert.equal(c.persistentKeepalive, 0);
    assert.equal(c.mtu, 1380);
    assert.equal(c.probeInterval, 1500);
    assert.equal(c.tcpPort, 443);
    assert.equal(c.relay, true);
    assert.equal(c.relayRate, 640);
    assert.equal(c.cryptoWorkers, 2);
    assert.equal(c.origin.cryptoWorkers.line, 49);
    assert.deepEqual(c.serviceCallerLimit, { ratePerSecond: 1000, burst: 2000, maxConcurrent: 64 });
    assert.equal(c.origin.serviceCallerLimit.line, 50);
    assert.equal(c.onRemoved, "wait");
    assert.equal(c.origin.onRemoved.line, 53);
    assert.equal(c.store, "etcd://192.0.2.10:2379,192.0.2.11:2379");
    assert.equal(c.storeCa, join(dir, "pki/ca.pem"), "relative to the file's directory");
    assert.equal(c.storeKey, join(dir, "pki/client-key.pem"));
    assert.equal(c.storePrefix, "/mesh-a/");
    assert.equal(c.origin.storePrefix.line, 58);
    assert.deepEqual(c.keepPeer, ["db", "10.9.0.7", "fd00:abcd::9"]);
    assert.equal(c.origin.keepPeer.line, 59);
    assert.deepEqual(c.advertiseRoutes, []);
    assert.equal(c.advertiseExitNode, false);
    assert.equal(c.acceptRoutes, false);
    assert.equal(c.snatSubnetRoutes, false);
    assert.equal(c.origin.snatSubnetRoutes.line, 63);
    assert.equal(c.exitNodeAllowLanAccess, true);
    assert.equal(c.exitNode, "gateway");
    assert.equal(c.exitNodeFallback, true);
    assert.equal(c.origin.exitNodeFallback.line, 69);
    assert.deepEqual(c.plugins, [
      { path: join(dir, "hello.ts"), permissions: {} },
      {
        path: join(dir, "p/audit.ts"),
        permissions: { read: [join(dir, "p")], net: ["api.example:443"] },
      },
    ]);
    assert.equal(c.origin.plugins.line, 70);
    assert.equal(c.wsTlsCert, join(dir, "pki/wss.pem"), "relative to the file's directory");
    assert.equal(c.wsTlsKey, join(dir, "pki/wss-key.pem"));
    assert.equal(c.wsTlsPort, 8443);
    assert.equal(c.wsCa, join(dir, "pki/ws-ca.pem"));
    assert.equal(c.origin.wsCa.line, 75);
    assert.deepEqual(c.dnsRoute, [
      { domain: "corp.example.", upstreams: ["198.51.100.53:53"] },
      { domain: "lab.", upstreams: ["198.51.100.54:5353", "[2001:db8::53]:53"] },
    ]);
    assert.equal(c.origin.dnsRoute.line, 66);
    assert.equal(c.acceptDns, false);
    assert.equal(c.origin.acceptDns.line, 67);
    assert.equal(c.origin.tcpPort.line, 46);
    assert.deepEqual(c.proxy, {
      url: { scheme: "http", host: "proxy.example", port: 3128 },
      bypass: [],
      from: "proxy",
    });
    assert.equal(c.origin.proxy.line, 71);
    assert.equal(c.natTraversal, false);
    assert.equal(c.lanDiscovery, false);
    assert.equal(c.origin.lanDiscovery.line, 52);
    assert.equal(c.pq, true);
    assert.equal(c.requirePq, true);
    assert.equal(c.pqRotate, 30_000);
    assert.equal(c.origin.pqRotate.line, 78);
    assert.equal(c.joinTimeout, 300_000);
    assert.equal(c.origin.joinTimeout.line, 79);
    assert.ok(c.policy);
    assert.equal(c.origin.listenPort.source, "file");
    assert.equal(c.origin.listenPort.file, path);
    assert.equal(c.origin.listenPort.line, 6);
    assert.equal(c.origin.mtu.line, 36);
    assert.deepEqual(c.origin.config, { source: "flag", flag: "--config" });
    // The fixture must exercise every key the table knows.
    for (const row of optionHelp()) {
      if (row.yaml === undefined) continue;
      assert.ok(FULL.some((l) => l.startsWith(`${row.yaml}:`)), `FULL lacks ${row.yaml}`);
      assert.equal(c.origin[row.name].source, "file", row.yaml);
    }
  });
});

Deno.test("YAML: the policy section passes through with its line offsets", async () => {
  await withFile(FULL, async (path) => {
    const p = (await load(path)).policy!;
    assert.equal(p.file, path);
    assert.equal(p.line, 38, "the mapping starts on its first key");
    assert.deepEqual(p.value, {
      default: "deny",
      rules: [
        { from: "role=web", to: "role=db", ports: [5432] },
        { from: "*", to: "role=web" },
      ],
    });
    const lineAt = (node: { range: [number, number, number] }) =>
      p.lineCounter.linePos(node.range[0]).line;
    const child = (m: YAMLMap.Parsed, key: string) =>
      m.items.find((pair) => isScalar(pair.key) && pair.key.value === key)!.value!;
    const rules = child(p.node, "rules") as YAMLSeq.Parsed;
    assert.ok(isSeq(rules));
    assert.equal(lineAt(rules.items[0]), 40);
    assert.equal(lineAt(rules.items[1]), 43);
    const ports = child(rules.items[0] as YAMLMap.Parsed, "ports");
    assert.equal(lineAt(ports), 42);
    assert.equal(p.text.split("\n")[41], "      ports: [5432]");
  });
});

Deno.test("YAML: policy may be empty, must otherwise be a mapping, and may use aliases", async () => {
  await withFile(["policy:"], async (path) => assert.equal((await load(path)).policy, undefined));
  const e = await fileError(["leader: true", "policy: [allow]"]);
  assert.equal(e.line, 2);
  assert.match(e.reason, /^policy: expected a mapping, got a list/);
  await withFile(
    ["base: &b {default: allow}", "policy: *b"],
    async (path) => {
      // `base` is not an option, so this must fail on line 1 before policy is read.
      await assert.rejects(load(path), /line 1: unknown key "base"/);
    },
  );
  await withFile(["policy: &p", "  default: allow", "  rules: []"], async (path) => {
    const p = (await load(path)).policy!;
    assert.ok(isMap(p.node));
    assert.deepEqual(p.value, { default: "allow", rules: [] });
    assert.equal(p.line, 2);
  });
});

Deno.test("flags override the file, lists and maps as a whole", async () => {
  await withFile(FULL, async (path) => {
    const c = await load(path, {
      listenPort: "52000",
      hostname: "override",
      label: ["env=dev"],
      advertise: "192.0.2.1:1",
      userspace: false,
      stateDir: "rel/dir",
    });
    assert.equal(c.listenPort, 52000);
    assert.deepEqual(c.origin.listenPort, { source: "flag", flag: "--listen-port" });
    assert.equal(c.hostname, "override");
    assert.deepEqual(c.labels, { env: "dev" });
    assert.deepEqual(c.advertise, ["192.0.2.1:1"]);
    assert.equal(c.userspace, false);
    assert.equal(c.stateDir, "/srv/work/rel/dir", "flag paths are relative to the cwd");
    assert.equal(c.mtu, 1380, "options without a flag keep the file's value");
  });
});

Deno.test("flags: a run-mode flag replaces the file's leader and join", async () => {
  await withFile(["join: token-from-file"], async (path) => {
    const c = await load(path, { leader: true });
    assert.equal(c.leader, true);
    assert.equal(c.join, undefined);
    assert.equal(validateRunMode(c), "leader");
    assert.equal(validateRunMode(await load(path)), "join");
  });
  await withFile(["leader: true"], async (path) => {
    const c = await load(path, { join: "tok" });
    assert.equal(c.leader, false);
    assert.equal(c.join, "tok");
    assert.equal(validateRunMode(c), "join");
  });
});

Deno.test("validateRunMode: exactly one of leader and join", async () => {
  assert.throws(() => validateRunMode({ leader: false } as AgentConfig), /--leader .* --join/);
  await withFile(["leader: true", "join: abc"], async (path) => {
    const c = await load(path);
    const e = (() => {
      try {
        validateRunMode(c);
      } catch (e) {
        return e;
      }
    })();
    assert.ok(e instanceof ConfigError);
    assert.equal(e.file, path);
    assert.equal(e.line, 2);
    assert.match(e.reason, /exclude each other/);
  });
  assert.throws(() => validateRunMode({ leader: false } as AgentConfig), ConfigError);
  const e = await flagError({ join: "  " });
  assert.match(e.message, /^--join: the token is empty/);
});

Deno.test("unknown keys name the key, the file and the line, with a suggestion", async () => {
  let e = await fileError(["leader: true", "", "listen_port: 1"]);
  assert.equal(e.line, 3);
  assert.equal(e.reason, `unknown key "listen_port" (did you mean "listen-port"?)`);
  assert.equal(e.message, `${e.file}, line 3: ${e.reason}`);
  e = await fileError(["statusListen: 127.0.0.1:1"]);
  assert.match(e.reason, /did you mean "status-listen"/);
  e = await fileError(["label: {a: b}"]);
  assert.match(e.reason, /did you mean "labels"/);
  e = await fileError(["tcp_port: 443"]);
  assert.match(e.reason, /did you mean "tcp-port"/);
  e = await fileError(["relays: true"]);
  assert.match(e.reason, /did you mean "relay"/);
  e = await fileError(["intreface: x"]);
  assert.match(e.reason, /did you mean "interface"/);
  e = await fileError(["frobnicate: 1"]);
  assert.equal(e.reason, `unknown key "frobnicate"`);
  e = await fileError(["config: other.yaml"]);
  assert.match(e.reason, /only be given on the command line/);
  e = await fileError(["services:", "  - name: web", "    port: 80", "    protocl: tcp"]);
  assert.equal(e.line, 4);
  assert.equal(e.reason, `services[0]: unknown key "protocl" (did you mean "protocol"?)`);
  e = await fileError(["[a]: 1"]);
  assert.equal(e.line, 1);
  assert.match(e.reason, /plain words/);
});

Deno.test("wrong types name the key and the line", async () => {
  const cases: [string[], number, RegExp][] = [
    [["leader: yes"], 1, /^leader: expected true or false, got "yes"$/],
    [["mtu: 1420", "listen-port: '51820'"], 2, /^listen-port: .*got "51820"/],
    [["listen-port: 1.5"], 1, /^listen-port: expected an integer from 0 to 65535, got 1.5$/],
    [["listen-port:"], 1, /^listen-port: .*got no value$/],
    [["hostname: 1234"], 1, /^hostname: expected a string, got 1234 \(put it in quotes/],
    [["advertise: 192.0.2.1:5"], 1, /^advertise: expected a list, got "192.0.2.1:5"$/],
    [
      ["advertise:", "  - 192.0.2.1:5", "  - [a]"],
      3,
      /^advertise\[1\]: expected a string, got a list$/,
    ],
    [["labels: [a, b]"], 1, /^labels: expected a mapping/],
    [["labels:", "  a: {b: c}"], 2, /^labels\.a: expected a label value, got a mapping$/],
    [["services: {name: web}"], 1, /^services: expected a list/],
    [["services:", "  - web:80"], 2, /^services\[0\]: expected a mapping/],
    [["services:", "  - name: web"], 2, /^services\[0\]: a service needs a port$/],
    [["services:", "  - port: 80"], 2, /^services\[0\]: a service needs a name$/],
    [
      ["services:", "  - name: web", "    port: '80'"],
      3,
      /^services\[0\]\.port: expected an integer/,
    ],
    [["userspace: 1"], 1, /^userspace: expected true or false, got 1$/],
    [["crypto: boringssl"], 1, /^crypto: expected one of noble, node, openssl, sodium/],
    [["on-removed: stay"], 1, /^on-removed: expected one of exit, wait, got "stay"$/],
    [["crypto-workers: 65"], 1, /^crypto-workers: expected an integer from 0 to 64, got 65/],
    [["crypto-workers: many"], 1, /^crypto-workers: expected auto or an integer from 0 to 64/],
    [["log-level: loud"], 1, /^log-level: invalid log level "loud"/],
    [["log-format: xml"], 1, /^log-format: invalid log format "xml"/],
    [["mtu: !!binary aGk="], 1, /^mtu: .*got binary data$/],
    [["tcp-port: '443'"], 1, /^tcp-port: expected an integer from 0 to 65535, got "443"$/],
    [["tcp-port: 1.5"], 1, /^tcp-port: expected an integer from 0 to 65535, got 1.5$/],
    [["relay: yes"], 1, /^relay: expected true or false, got "yes"$/],
  ];
  for (const [lines, line, re] of cases) {
    const e = await fileError(lines);
    assert.equal(e.line, line, lines.join(" / "));
    assert.match(e.reason, re);
  }
});

Deno.test("invalid values in the file are rejected with their line", async () => {
  const cases: [string[], number, RegExp][] = [
    [["cidr: 10.200.0.0/33"], 1, /^cidr: invalid CIDR .*exceeds 32/],
    [["cidr: 10.200.0.1/16"], 1, /has host bits set; did you mean 10\.200\.0\.0\/16\?/],
    [["cidr: 10.200.0.0"], 1, /no prefix length/],
    [["cidr: fd00::/64"], 1, /is not an IPv4 prefix/],
    [["cidr: 10.0.0.0/31"], 1, /outside \/8 to \/30/],
    [["cidr: 300.1.1.0/24"], 1, /bad IP address/],
    [["cidr6: 10.0.0.0/8"], 1, /is not an IPv6 prefix/],
    [["listen-port: 70000"], 1, /^listen-port: expected an integer from 0 to 65535, got 70000$/],
    [["listen-port: -1"], 1, /got -1$/],
    [["tcp-port: 65536"], 1, /^tcp-port: expected an integer from 0 to 65535, got 65536$/],
    [["tcp-port: -1"], 1, /^tcp-port: .*got -1$/],
    [["labels:", "  ok: yes", "  Bad Key: x"], 3, /^labels: invalid label Bad Key=x: the key/],
    [["labels:", "  k: -v"], 2, /the value must start and end/],
    [["labels:", "  k: " + "v".repeat(64)], 2, /the value is 64 characters long/],
    [["labels:", "  -x.com/k: v"], 2, /the key prefix "-x.com"/],
    [["interface: abcdefghijklmnop"], 1, /is 16 characters long \(Linux allows at most 15\)/],
    [["interface: a/b"], 1, /must not contain "\/"/],
    [["interface: 'we ft'"], 1, /printable ASCII characters without spaces/],
    [["interface: .."], 1, /cannot be "\.\."/],
    [["hostname: -bad"], 1, /^hostname: "-bad" must not start or end with '-'/],
    [["hostname: a.b"], 1, /single label, without dots/],
    [["hostname: under_score"], 1, /may only hold letters, digits and '-'/],
    [["hostname: " + "h".repeat(64)], 1, /64 characters long/],
    [["advertise:", "  - 192.0.2.1"], 2, /^advertise\[0\]: .*has no port/],
    [["advertise:", "  - 2001:db8::1:51820"], 2, /need brackets/],
    [["advertise:", "  - 192.0.2.1:0"], 2, /bad port "0" \(1 to 65535\)/],
    [["advertise:", "  - a.b:1", "  - A.B:1"], 3, /^advertise\[1\]: a\.b:1 is listed twice/],
    [["status-listen: 127.0.0.1:65536"], 1, /bad port "65536"/],
    [["keep-peer: [db, DB]"], 1, /^keep-peer\[1\]: db is listed twice/],
    [["keep-peer: [a.b]"], 1, /^keep-peer\[0\]: .*single label/],
    [["dns-zone: bad..zone"], 1, /empty label/],
    [["dns-zone: ."], 1, /root zone/],
    [["mtu: 500"], 1, /^mtu: expected an integer from 576 to 65535, got 500$/],
    [
      ["services:", "  - {name: web, port: 80}", "  - {name: WEB, port: 81}"],
      3,
      /web\/tcp is listed twice/,
    ],
    [["services:", "  - {name: web, port: 80, protocol: sctp}"], 2, /expected one of tcp, udp/],
    [
      ["services:", "  - {name: web, port: 80, weight: 70000}"],
      2,
      /weight: expected an integer from 0/,
    ],
  ];
  for (const [lines, line, re] of cases) {
    const e = await fileError(lines);
    assert.equal(e.line, line, lines.join(" / "));
    assert.match(e.reason, re, lines.join(" / "));
  }
});

Deno.test("proxy: the environment by default, the option over it, none over both", async () => {
  const env = (vars: Record<string, string>) => ({ ...SYS, env: (n: string) => vars[n] });
  // No environment, no option: no proxy.
  assert.equal((await load(undefined, {})).proxy, null);
  const c = await load(undefined, {}, env({ HTTPS_PROXY: "http://u%20x:p%40ss@192.0.2.1:3128" }));
  assert.deepEqual(c.proxy, {
    url: { scheme: "http", host: "192.0.2.1", port: 3128, username: "u x", password: "p@ss" },
    bypass: [],
    from: "HTTPS_PROXY",
  });
  assert.equal(c.origin.proxy.source, "default");
  // The option wins over the environment, and NO_PROXY still applies to it (curl does so too).
  const vars = { https_proxy: "env:1", NO_PROXY: "10.0.0.0/8" };
  const flag = (await load(undefined, { proxy: "http://flag:8080" }, env(vars))).proxy!;
  assert.deepEqual([flag.url.host, flag.url.port, flag.from], ["flag", 8080, "proxy"]);
  assert.equal(flag.bypass.length, 1);
  assert.equal((await load(undefined, { proxy: "NONE" }, env(vars))).proxy, null);
  await withFile(["proxy: none"], async (path) => {
    assert.equal((await load(path, {}, env(vars))).proxy, null);
  });
  // A bad variable stops the start, naming it and the way out; a bad option names the option.
  await assert.rejects(
    () => load(undefined, {}, env({ ALL_PROXY: "socks5h://127.0.0.1:9050" })),
    /^ConfigError: ALL_PROXY: socks5h:\/\/ proxies are not supported.*--proxy none/,
  );
  const bad = await load(undefined, { proxy: "none" }, env({ ALL_PROXY: "socks5h://h:1" }));
  assert.equal(bad.proxy, null, "--proxy none: the environment is not read");
  await assert.rejects(
    () => load(undefined, { proxy: "http://user:secret@h:0" }),
    (e: Error) => /^--proxy: the proxy's port "0"/.test(e.message) && !e.message.includes("secret"),
  );
});

Deno.test("invalid flag values name the flag", async () => {
  const cases: [AgentFlags, RegExp][] = [
    [{ listenPort: "70000" }, /^--listen-port: expected an integer from 0 to 65535, got 70000$/],
    [{ listenPort: 70000 }, /^--listen-port: .*got 70000$/],
    [{ listenPort: "12ab" }, /^--listen-port: .*got 12ab$/],
    [{ tcpPort: "70000" }, /^--tcp-port: expected an integer from 0 to 65535, got 70000$/],
    [{ tcpPort: "443x" }, /^--tcp-port: .*got 443x$/],
    [{ tcpPort: "" }, /^--tcp-port: /],
    [{ cidr: "10.200.0.0/33" }, /^--cidr: invalid CIDR/],
    [{ interface: "averyveryverylongname" }, /^--interface: .*at most 15/],
    [{ hostname: "bad_host" }, /^--hostname: /],
    [{ label: ["a=b", "=x"] }, /^--label: invalid label "=x": the key is empty/],
    [{ label: "novalue" }, /^--label: invalid label "novalue": expected KEY=VALUE/],
    [{ label: ["a=1", "a=2"] }, /^--label: label "a" is given twice/],
    [{ service: "web:99999/tcp" }, /^--service: invalid service "web:99999\/tcp": bad port/],
    [{ service: ["web:80", "web:80/tcp"] }, /^--service\[1\]: service web\/tcp is listed twice/],
    [{ advertise: ["192.0.2.1:1", "nope"] }, /^--advertise\[1\]: "nope" has no port/],
    [{ keepPeer: ["db", "bad_name"] }, /^--keep-peer\[1\]: .*letters, digits and '-'/],
    [{ crypto: "fast" }, /^--crypto: expected one of noble, node, openssl, sodium/],
    [{ cryptoWorkers: "-1" }, /^--crypto-workers: expected auto or an integer from 0 to 64/],
    [{ stateDir: "" }, /^--state-dir: the path is empty/],
    [{ mtu: "9000x" }, /^--mtu: /],
    [{ probeInterval: "50ms" }, /^--probe-interval: expected a duration from 100 ms to 3600 s/],
    [{ probeInterval: "2 days" }, /^--probe-interval: .*got "2 days"$/],
  ];
  for (const [flags, re] of cases) {
    const e = await flagError(flags);
    assert.match(e.message, re, JSON.stringify(flags));
  }
});

Deno.test("probe-interval: units, bare seconds, flag over file", async () => {
  for (const [v, ms] of [["1s", 1000], ["250ms", 250], ["1m", 60_000], ["2", 2000]] as const) {
    assert.equal((await load(undefined, { probeInterval: v })).probeInterval, ms, v);
  }
  await withFile(["probe-interval: 3"], async (path) => {
    assert.equal((await load(path)).probeInterval, 3000, "a YAML number is seconds");
    assert.equal((await load(path, { probeInterval: "0.5s" })).probeInterval, 500);
  });
  const e = await fileError(["mtu: 1400", "probe-interval: [1]"]);
  assert.equal(e.line, 2);
  assert.match(e.reason, /expected a duration/);
});

Deno.test("lists and maps from repeatable flags", async () => {
  const c = await load(undefined, {
    advertise: ["192.0.2.1:51820", "[2001:DB8::1]:51820"],
    label: ["role=web", { key: "example.com/zone", value: "a" }, "empty="],
    service: ["web:8080/tcp", "dns:53/UDP", "api:9000", { name: "x", port: 1, protocol: "udp" }],
  });
  assert.deepEqual(c.advertise, ["192.0.2.1:51820", "[2001:db8::1]:51820"]);
  assert.deepEqual(c.labels, { role: "web", "example.com/zone": "a", empty: "" });
  assert.deepEqual(c.services, [
    { name: "web", port: 8080, protocol: "tcp" },
    { name: "dns", port: 53, protocol: "udp" },
    { name: "api", port: 9000, protocol: "tcp" },
    { name: "x", port: 1, protocol: "udp" },
  ]);
  assert.deepEqual(c.origin.labels, { source: "flag", flag: "--label" });
  assert.deepEqual((await load(undefined, { label: "a=b" })).labels, { a: "b" });
});

Deno.test("cross-field checks", async () => {
  let e = await fileError(["cidr6: fd00::/64", "mtu: 1200"]);
  assert.equal(e.line, 2);
  assert.match(e.reason, /^mtu: an IPv6 overlay \(cidr6\) needs mtu 1280 or more, got 1200$/);
  e = await flagError({ statusListen: "0.0.0.0:51880" });
  assert.match(e.message, /^--status-listen: 0\.0\.0\.0:51880 is reachable from other hosts/);
  const ok = await load(undefined, { statusListen: "0.0.0.0:51880", statusAllowRemote: true });
  assert.equal(ok.statusListen, "0.0.0.0:51880");
  for (const host of ["localhost:1", "127.9.9.9:0", "[::1]:1", "[0:0::1]:1"]) {
    assert.equal((await load(undefined, { statusListen: host })).statusAllowRemote, false);
  }
  e = await fileError(["listen-port: 7000", "dns-port: 7000"]);
  assert.equal(e.line, 2);
  assert.match(e.reason, /^dns-port: dns-port and listen-port are both UDP port 7000/);
  e = await flagError({ listenPort: 15353 });
  assert.match(e.message, /^--listen-port: /);
  assert.equal((await load(undefined, { listenPort: 0, dnsPort: 0 })).listenPort, 0);
  // The DNS and status servers listen on TCP too: TCP cannot share their port.
  e = await fileError(["tcp-port: 15353"]);
  assert.equal(e.line, 1);
  assert.match(e.reason, /^tcp-port: tcp-port and dns-port are both TCP port 15353; pick two/);
  e = await flagError({ tcpPort: "51880" });
  assert.match(e.message, /^--tcp-port: tcp-port and status-listen are both TCP port 51880/);
  e = await flagError({ listenPort: "51880" });
  assert.match(
    e.message,
    /^--listen-port: TCP is on the listen port's number \(tcp-port\) and status-listen is TCP port 51880 too; pick two ports, or set tcp-port$/,
  );
  const apart = await load(undefined, { listenPort: "51880", tcpPort: "51881" });
  assert.deepEqual([apart.listenPort, apart.tcpPort], [51880, 51881]);
  const off = await load(undefined, { listenPort: "51880", tcpPort: "0" });
  assert.equal(off.tcpPort, 0);
  const flags = await load(undefined, { tcpPort: 443, relay: true });
  assert.deepEqual([flags.tcpPort, flags.relay], [443, true]);
  assert.deepEqual(flags.origin.tcpPort, { source: "flag", flag: "--tcp-port" });
});

Deno.test("empty and comment-only files give the defaults", async () => {
  for (const text of ["", "# nothing here\n\n", "---\n", "~\n"]) {
    await withFile(text, async (path) => {
      const c = await load(path);
      assert.equal(c.listenPort, 51820);
      assert.equal(c.config, path);
      assert.equal(c.origin.cidr.source, "default");
    });
  }
});

Deno.test("a file that is not a mapping is rejected", async () => {
  let e = await fileError(["# a list", "- leader", "- true"]);
  assert.equal(e.line, 2);
  assert.match(e.reason, /expected a mapping of option names to values at the top, got a list/);
  e = await fileError(["just text"]);
  assert.match(e.reason, /got a single value/);
});

Deno.test("YAML syntax errors, duplicate keys and second documents name the line", async () => {
  let e = await fileError(["leader: true", "advertise: [1.2.3.4:5", "mtu: 1400"]);
  assert.match(e.reason, /^invalid YAML: /);
  assert.ok(e.line !== undefined && e.line >= 2, `line ${e.line}`);
  e = await fileError(["listen-port: 1", "mtu: 1400", "listen-port: 2"]);
  assert.equal(e.line, 3);
  assert.equal(e.reason, `duplicate key "listen-port"`);
  e = await fileError(["labels:", "  a: b", "  'a': c"]);
  assert.equal(e.line, 3);
  assert.equal(e.reason, `duplicate key "a"`);
  e = await fileError(["labels: {x: 1, y: 2, x: 3}"]);
  assert.equal(e.reason, `duplicate key "x"`);
  e = await fileError(["leader: true", "---", "mtu: 1400"]);
  assert.match(e.reason, /more than one YAML document/);
  e = await fileError(["leader: true", "\tmtu: 1400"]);
  assert.equal(e.line, 2);
});

Deno.test("a missing, unreadable or binary file is a clear error", async () => {
  await withFile(["leader: true"], async (_path, dir) => {
    const missing = join(dir, "nope.yaml");
    let e = await load(missing).catch((e) => e);
    assert.ok(e instanceof ConfigError);
    assert.equal(e.file, missing);
    assert.equal(e.message, `${missing}: the configuration file does not exist`);
    e = await load(undefined, { config: missing }).catch((e) => e);
    assert.ok(e instanceof ConfigError);
    assert.equal(e.file, missing);
    e = await load(dir).catch((e) => e);
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /is a directory/);
    const bin = join(dir, "bin.yaml");
    await Deno.writeFile(bin, Uint8Array.of(0x6c, 0x3a, 0x20, 0xff, 0xfe));
    e = await load(bin).catch((e) => e);
    assert.match(e.message, /not valid UTF-8/);
  });
});

Deno.test("--config as a flag is read like configPath", async () => {
  await withFile(["mtu: 1300"], async (path) => {
    const c = await load(undefined, { config: path });
    assert.equal(c.mtu, 1300);
    assert.equal(c.config, path);
  });
});

Deno.test("paths: ~ is expanded, relative file paths follow the file", async () => {
  await withFile(["state-dir: ~/weft-state"], async (path) => {
    assert.equal((await load(path)).stateDir, "/home/ada/weft-state");
    await assert.rejects(load(path, {}, { ...SYS, home: undefined }), /needs \$HOME/);
  });
  await withFile(["state-dir: /abs/dir"], async (path) => {
    assert.equal((await load(path)).stateDir, "/abs/dir");
  });
  assert.equal((await load(undefined, { stateDir: "~" })).stateDir, "/home/ada");
});

Deno.test("aliases are followed, with a cap", async () => {
  await withFile(
    ["labels: &l {a: b}", "services:", "  - {name: w, port: 1, labels: *l}"],
    async (p) => {
      assert.deepEqual((await load(p)).services[0].labels, { a: "b" });
    },
  );
  const lines = ["advertise: &a [192.0.2.1:1]", "services:"];
  for (let i = 0; i < 101; i++) lines.push(`  - {name: s${i}, port: 1, labels: &x${i} {}}`);
  for (let i = 0; i < 101; i++) lines.push(`  - {name: t${i}, port: 1, labels: *x${i}}`);
  const e = await fileError(lines);
  assert.match(e.reason, /more than 100 aliases/);
});

Deno.test("an unknown flag attribute is a caller bug (TypeError)", async () => {
  await assert.rejects(
    load(undefined, { listen_port: 1 } as unknown as AgentFlags),
    (e: unknown) => e instanceof TypeError && /did you mean "listenPort"/.test(String(e)),
  );
  await assert.rejects(load(undefined, { policy: {} } as unknown as AgentFlags), TypeError);
  // Undefined values count as not given.
  assert.equal((await load(undefined, { mtu: undefined })).mtu, 1420);
});

Deno.test("optionHelp: one row per option; YAML keys follow the flag-name rule", () => {
  const rows = optionHelp();
  const names = rows.map((r) => r.name);
  assert.equal(new Set(names).size, names.length);
  for (const r of rows) {
    assert.ok(r.description.length > 0 && r.type.length > 0 && r.validation.length > 0, r.name);
    if (r.flag === undefined || r.yaml === undefined) continue;
    // A switch on by default is `--no-KEY`, its key KEY.
    const bare = r.flag.replace(/^--(no-)?/, "");
    assert.equal(r.yaml, r.repeatable && r.yaml !== bare ? `${bare}s` : bare, r.name);
    if (r.flag.startsWith("--no-")) assert.equal(r.default, "true", r.name);
    // AgentConfig properties are the camelCase of the YAML key.
    assert.equal(r.name, r.yaml.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase()));
  }
  const byName = new Map(rows.map((r) => [r.name, r]));
  assert.equal(byName.get("config")!.yaml, undefined);
  assert.equal(byName.get("policy")!.flag, undefined);
  assert.equal(byName.get("labels")!.attribute, "label");
  assert.equal(byName.get("services")!.attribute, "service");
  assert.equal(byName.get("listenPort")!.attribute, "listenPort");
  assert.equal(byName.get("advertise")!.repeatable, true);
  assert.equal(byName.get("listenPort")!.default, "51820");
  const md = optionTableMarkdown();
  assert.equal(md.split("\n").length, rows.length + 2);
  assert.match(md, /\| `--listen-port <port>` \| `listen-port` \| integer \| 51820 \|/);
});

Deno.test("parseLabel and parseService", () => {
  assert.deepEqual(parseLabel("env=prod"), { key: "env", value: "prod" });
  assert.deepEqual(parseLabel("a.b/c="), { key: "a.b/c", value: "" });
  assert.throws(() => parseLabel("a=b=c"), /the value must start and end/);
  assert.throws(() => parseLabel("Env"), /expected KEY=VALUE/);
  assert.throws(() => parseLabel("UPPER.com/x=1"), /key prefix/);
  assert.throws(() => parseLabel("x/y/z=1"), /the key name/);
  assert.deepEqual(parseService("web:8080/tcp"), { name: "web", port: 8080, protocol: "tcp" });
  assert.deepEqual(parseService("Db:5432"), { name: "db", port: 5432, protocol: "tcp" });
  assert.deepEqual(parseService("dns:53/UDP"), { name: "dns", port: 53, protocol: "udp" });
  assert.throws(() => parseService("web"), /expected NAME:PORT\/PROTOCOL/);
  assert.throws(() => parseService("web:0/tcp"), /bad port "0"/);
  assert.throws(() => parseService("web:80/sctp"), /bad protocol "sctp"/);
  assert.throws(() => parseService("we_b:80"), /the name may only hold/);
  assert.throws(() => parseService(":80"), /the name is empty/);
  assert.ok((() => {
    try {
      parseService("web:x");
    } catch (e) {
      return e instanceof ConfigError;
    }
  })());
});

Deno.test("userSetFlags keeps only options the user set (real commander)", async () => {
  const program = new Command()
    .exitOverride()
    .option("--leader")
    .option("--listen-port <port>")
    .option("--log-level <level>", "", "info")
    .option("--label <k=v>", "", (v: string, prev: string[] = []) => [...prev, v])
    .option("--json", "not an agent option");
  program.parse(["--listen-port", "1234", "--label", "a=b", "--label", "c=d", "--json"], {
    from: "user",
  });
  const flags = userSetFlags(program);
  assert.deepEqual(flags, { listenPort: "1234", label: ["a=b", "c=d"] });
  const c = await load(undefined, flags);
  assert.equal(c.listenPort, 1234);
  assert.equal(c.logLevel, "info");
  assert.deepEqual(c.labels, { a: "b", c: "d" });
});

Deno.test("--no-pq, --require-pq, --pq-rotate: flags, defaults and bounds", async () => {
  const def = await load(undefined, {});
  assert.equal(def.pq, true);
  assert.equal(def.requirePq, false);
  assert.equal(def.pqRotate, 110_000);
  const c = await load(undefined, { pq: false, requirePq: true, pqRotate: "5s" });
  assert.equal(c.pq, false);
  assert.equal(c.requirePq, true);
  assert.equal(c.pqRotate, 5000);
  assert.deepEqual(c.origin.pq, { source: "flag", flag: "--no-pq" });
  // A rotation every 2 minutes at least: longer is refused, as is less than a second.
  for (const v of ["3m", "500ms"]) {
    await assert.rejects(
      load(undefined, { pqRotate: v }),
      (e) => e instanceof ConfigError && /pq-rotate/.test(e.message),
    );
  }
});

Deno.test("--join-timeout: 15 s by default, a duration from a flag or the file, bounded", async () => {
  assert.equal((await load(undefined, {})).joinTimeout, 15_000);
  assert.equal((await load(undefined, { joinTimeout: "10m" })).joinTimeout, 600_000);
  assert.equal((await load(undefined, { joinTimeout: "90" })).joinTimeout, 90_000);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/weft.yaml`, "join-timeout: 2m\n");
    assert.equal((await load(`${dir}/weft.yaml`, {})).joinTimeout, 120_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  for (const v of ["500ms", "25h", "soon"]) {
    await assert.rejects(
      load(undefined, { joinTimeout: v }),
      (e) => e instanceof ConfigError && /join-timeout/.test(e.message),
    );
  }
});

Deno.test("--no-lan-discovery and --no-nat-traversal: off by flag or file, on by default", async () => {
  const program = new Command().exitOverride();
  for (const r of optionHelp().filter((r) => r.flag?.startsWith("--no-"))) {
    program.option(r.flag!, r.description);
  }
  program.parse([], { from: "user" });
  assert.deepEqual(userSetFlags(program), {}, "commander's implied true is a default");
  const on = await load(undefined, {});
  assert.equal(on.lanDiscovery, true);
  assert.equal(on.natTraversal, true);
  program.parse(["--no-lan-discovery", "--no-nat-traversal"], { from: "user" });
  const flags = userSetFlags(program);
  assert.deepEqual(flags, { lanDiscovery: false, natTraversal: false });
  const off = await load(undefined, flags);
  assert.equal(off.lanDiscovery, false);
  assert.equal(off.natTraversal, false);
  assert.deepEqual(off.origin.lanDiscovery, { source: "flag", flag: "--no-lan-discovery" });
  await withFile(["lan-discovery: true", "nat-traversal: yes"], async (path) => {
    await assert.rejects(
      load(path),
      (e) => e instanceof ConfigError && /nat-traversal/.test(e.message),
    );
  });
  await withFile(["lan-discovery: true"], async (path) => {
    assert.equal((await load(path)).lanDiscovery, true);
    assert.equal((await load(path, { lanDiscovery: false })).lanDiscovery, false, "flag over file");
  });
});

Deno.test("routes: advertised from flags (comma lists) and the file, canonical; TUN mode only", async () => {
  const flags = await load(undefined, {
    advertiseRoutes: ["203.0.113.0/24,2001:DB8::/32", "198.51.100.0/24"],
    advertiseExitNode: true,
  });
  assert.deepEqual(flags.advertiseRoutes, ["198.51.100.0/24", "2001:db8::/32", "203.0.113.0/24"]);
  assert.equal(flags.advertiseExitNode, true);
  assert.equal(flags.acceptRoutes, true);
  assert.equal(flags.snatSubnetRoutes, true);
  const bad = await flagError({ advertiseRoutes: "198.51.100.1/24" });
  assert.match(bad.message, /--advertise-routes.*host bits are set/);
  const twice = await flagError({ advertiseRoutes: "198.51.100.0/24,198.51.100.0/24" });
  assert.match(twice.message, /listed twice/);
  const exit = await flagError({ advertiseRoutes: "0.0.0.0/0" });
  assert.match(exit.message, /--advertise-exit-node/);
  const via = await load(undefined, { exitNode: "Gateway" });
  assert.equal(via.exitNode, "gateway");
  assert.equal(via.exitNodeFallback, false, "blocked while the exit node is away, by default");
  const fallback = await load(undefined, { exitNode: "gw", exitNodeFallback: true });
  assert.equal(fallback.exitNodeFallback, true);
  const alone = await flagError({ exitNodeFallback: true });
  assert.match(alone.message, /--exit-node-fallback: a fallback for no exit node: give exit-node/);
  const both = await flagError({ exitNode: "gw", advertiseExitNode: true });
  assert.match(both.message, /--exit-node: an exit node sends its internet traffic out itself/);
  const noTun = await flagError({ acceptDns: true, userspace: true });
  assert.match(noTun.message, /--accept-dns: .*TUN interface.*drop --userspace/);
  const noDns = await flagError({ acceptDns: true, dnsPort: "0" });
  assert.match(noDns.message, /--accept-dns: needs the DNS server/);
  const port53 = await flagError({ acceptDns: true, dnsPort: "53" });
  assert.match(port53.message, /--accept-dns: .*port 53/);
  const dup = await flagError({ dnsRoute: ["corp=198.51.100.53", "Corp.=198.51.100.54"] });
  assert.match(dup.message, /corp\. is routed twice/);
  const e = await fileError(["userspace: true", "advertise-routes: [198.51.100.0/24]"]);
  assert.match(e.message, /advertise-routes: carrying traffic for the mesh needs TUN mode/);
  assert.equal(e.line, 2);
});

Deno.test("validate helpers", () => {
  assert.equal(isLoopbackHost("127.0.0.1"), true);
  assert.equal(isLoopbackHost("::1"), true);
  assert.equal(isLoopbackHost("LOCALHOST"), true);
  assert.equal(isLoopbackHost("::"), false);
  assert.equal(isLoopbackHost("0.0.0.0"), false);
  assert.equal(isLoopbackHost("128.0.0.1"), false);
  assert.equal(isLoopbackHost("::2"), false);
  assert.deepEqual(parseHostPort("[fd00::1]:80"), { host: "fd00::1", port: 80 });
  assert.deepEqual(parseHostPort("Example.COM:1"), { host: "example.com", port: 1 });
  assert.throws(() => parseHostPort("1.2.3:80"), /not an IP address or a host name/);
  assert.throws(() => parseHostPort("[1.2.3.4]:80"), /not an IPv6 address/);
  assert.throws(() => parseHostPort("[::1]80"), /is not \[IPV6\]:PORT/);
  assert.equal(interfaceNameProblem("weft0"), undefined);
  assert.equal(interfaceNameProblem("a".repeat(15)), undefined);
  assert.match(interfaceNameProblem("wé")!, /ASCII/);
  assert.match(interfaceNameProblem("eth%d")!, /"%"/);
  assert.equal(labelKeyProblem("app.kubernetes.io/name"), undefined);
  assert.match(labelKeyProblem("a/" + "b".repeat(64))!, /64 characters/);
  assert.equal(didYouMean("listen_port", ["listen-port", "mtu"]), "listen-port");
  assert.equal(didYouMean("persistentKeepalive", ["persistent-keepalive"]), "persistent-keepalive");
  assert.equal(didYouMean("mtuu", ["listen-port", "mtu"]), "mtu");
  assert.equal(didYouMean("zzzzzz", ["listen-port", "mtu"]), undefined);
});

/** A YAML "billion laughs": each line 9 aliases to the one before, `levels` deep. */
function aliasBombLines(levels: number, indent = ""): string[] {
  const lines = [`${indent}x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]`];
  for (let i = 1; i <= levels; i++) {
    lines.push(`${indent}x${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(", ")}]`);
  }
  return lines;
}

Deno.test("bounds: an alias bomb in policy: is refused naming the file and the line", async () => {
  const e = await fileError(["leader: true", "policy:", ...aliasBombLines(8, "  ")]);
  assert.equal(e.line, 11, e.message);
  assert.match(e.reason, /alias/);
});

Deno.test("bounds: a config file over 1 MiB is refused", async () => {
  const big = ["leader: true", ...Array(40_000).fill("# " + "x".repeat(40))];
  const e = await fileError(big);
  assert.match(e.reason, /larger than 1048576 bytes/);
});

Deno.test("bounds: --config /dev/zero is refused after reading 1 MiB", async () => {
  const z = await load("/dev/zero").then(() => assert.fail("/dev/zero loaded"), (e) => e);
  assert.ok(z instanceof ConfigError, String(z));
  assert.match(z.message, /^\/dev\/zero: the configuration file is larger than/);
});

Deno.test("bounds: huge values are refused by length and never echoed whole", async () => {
  const huge = "a".repeat(8 << 20);
  for (
    const flags of [
      { hostname: huge },
      { hostname: huge + "!" },
      { stateDir: huge },
      { label: [`role=${huge}`] },
      { advertise: [`${huge}:1`] },
    ] as AgentFlags[]
  ) {
    const e = await flagError(flags);
    assert.ok(e.message.length < 300, `${Object.keys(flags)}: ${e.message.slice(0, 300)}`);
  }
  const e = await fileError(["hostname: " + "b".repeat(5000)]);
  assert.match(e.reason, /5000 characters long \(at most 4096\)/);
  assert.ok(e.message.length < 300, e.message.slice(0, 300));
  // Values within bounds but wrong are echoed cut short.
  const cut = await flagError({ hostname: "-" + "c".repeat(3000) });
  assert.ok(cut.message.length < 300, cut.message.slice(0, 300));
});

// Labels, services and endpoints also arrive from other nodes (join requests, hellos): what a
// node could not be configured with, the leader must not take from the wire either.
Deno.test("what the CLI refuses, the wire refuses: labels, services, endpoints", async () => {
  const labels: [string, string][] = [
    ["role", "a b"],
    ["role", "-web"],
    ["role", "v".repeat(64)],
    ["", "x"],
    ["a b", "x"],
    ["UPPER.com/x", "1"],
    ["x/y/z", "1"],
    ["a/", "1"],
    ["k".repeat(64), "1"],
    ["node.weft/os", "linux!"],
  ];
  for (const [k, v] of labels) {
    await flagError({ label: [`${k}=${v}`] });
    assert.equal(validLabels({ [k]: v }), null, `${k}=${v}`);
  }
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
  await fileError(["labels:", ...Object.keys(many).map((k) => `  ${k}: v`)]);
  assert.equal(validLabels(many), null);

  const services: [string, unknown][] = [
    ["we_b:80/tcp", { name: "we_b", port: 80, protocol: "tcp" }],
    ["web:0/tcp", { name: "web", port: 0, protocol: "tcp" }],
    ["web:65536/tcp", { name: "web", port: 65536, protocol: "tcp" }],
    ["web:80/sctp", { name: "web", port: 80, protocol: "sctp" }],
    ["-web:80/tcp", { name: "-web", port: 80, protocol: "tcp" }],
  ];
  for (const [flag, wire] of services) {
    await flagError({ service: [flag] });
    assert.equal(validServices([wire]), null, flag);
  }
  await flagError({ service: ["web:80/tcp", "web:8080/tcp"] });
  assert.equal(
    validServices([
      { name: "web", port: 80, protocol: "tcp" },
      { name: "web", port: 8080, protocol: "tcp" },
    ]),
    null,
  );

  const endpoints = [
    "999.1.1.1:5",
    "host_x:1",
    "[nope]:1",
    "[1.2.3.4]:5",
    "h:0",
    "h:99999",
    "a..b:1",
    "2001:db8::1:51820",
    "[fe80::1%eth0]:1",
  ];
  for (const e of endpoints) {
    await flagError({ advertise: [e] });
    assert.equal(validEndpoints([e]), null, e);
  }
  await flagError({ advertise: ["192.0.2.1:1", "192.0.2.1:1"] });
  assert.equal(validEndpoints(["192.0.2.1:1", "192.0.2.1:1"]), null);

  // And what the CLI takes, the wire takes, in the spelling the CLI stores.
  const c = await load(undefined, {
    label: ["node.weft/os=linux", "role="],
    service: ["Web:80/UDP"],
    advertise: ["Leader.Example:51820", "[FD00::1]:5"],
  });
  assert.deepEqual(validLabels(c.labels), c.labels);
  assert.deepEqual(validServices(c.services), c.services);
  assert.deepEqual(validEndpoints(c.advertise), c.advertise);
});

Deno.test("config: --relay-rate is a whole number of Mbit/s, 10,000 by default", async () => {
  assert.equal((await load(undefined, {})).relayRate, 10_000);
  assert.equal((await load(undefined, { relayRate: "800" })).relayRate, 800);
  await assert.rejects(() => load(undefined, { relayRate: "0" }), /relay-rate/);
});

Deno.test("service HTTP backends and checks: in the services entries and as flags", async () => {
  const c = await withFile([
    "services:",
    "  - name: api",
    "    port: 8080",
    "    http: http://127.0.0.1:8080/v1/",
    "    check: tcp://127.0.0.1:8080,interval=2s",
    "  - name: web",
    "    port: 80",
    "    check:",
    "      target: http://127.0.0.1/health",
    "      interval: 500ms",
    "      timeout: 1",
    "      rise: 1",
    "      fall: 4",
  ], (path) =>
    load(path, {
      serviceHttp: ["Echo=http://[::1]:9000"],
      serviceCheck: ["echo=tcp://[::1]:9000"],
    }));
  assert.deepEqual(c.services, [
    {
      name: "api",
      port: 8080,
      protocol: "tcp",
      http: "http://127.0.0.1:8080/v1",
      check: { target: { kind: "tcp", host: "127.0.0.1", port: 8080 }, intervalMs: 2000 },
    },
    {
      name: "web",
      port: 80,
      protocol: "tcp",
      check: {
        target: { kind: "http", url: "http://127.0.0.1/health" },
        intervalMs: 500,
        timeoutMs: 1000,
        rise: 1,
        fall: 4,
      },
    },
  ]);
  assert.deepEqual(c.serviceHttp, [{ name: "echo", url: "http://[::1]:9000" }]);
  assert.deepEqual(c.serviceChecks, [
    { service: "echo", check: { target: { kind: "tcp", host: "::1", port: 9000 } } },
  ]);
  assert.deepEqual(c.origin.serviceChecks, { source: "flag", flag: "--service-check" });
  const none = await load();
  assert.deepEqual([none.serviceHttp, none.serviceChecks], [[], []]);
  // A single flag (not a list) counts too.
  assert.equal((await load(undefined, { serviceHttp: "a=http://h" })).serviceHttp.length, 1);
});

Deno.test("service HTTP backends and checks: bad values name the key, line or flag", async () => {
  const entry = (...more: string[]) => ["services:", "  - name: api", "    port: 80", ...more];
  const cases: [string[], number, RegExp][] = [
    [entry("    http: ftp://x"), 4, /^services\[0\]\.http: .*must be http or https, not ftp/],
    [entry("    http: http://u:p@h"), 4, /must not hold credentials/],
    [entry("    http: 8080"), 4, /services\[0\]\.http: expected a string/],
    [entry("    check: udp://h:1"), 4, /services\[0\]\.check: .*target must be tcp/],
    [entry("    check: tcp://h:1,every=2s"), 4, /unknown option "every"/],
    [entry("    check: {interval: 2s}"), 4, /services\[0\]\.check: a check needs a target/],
    [entry("    check: {target: 'tcp://h:1', intreval: 2s}"), 4, /did you mean "interval"/],
    [entry("    check: {target: 'tcp://h:1,fall=2'}"), 4, /a target has no commas/],
    [entry("    check: {target: 'tcp://h:1', interval: 10ms}"), 4, /expected a duration/],
    [entry("    check: {target: 'tcp://h:1', fall: 0}"), 4, /from 1 to 99/],
    [
      [
        ...entry("    http: http://a"),
        "  - {name: api, port: 80, protocol: udp, http: 'http://b'}",
      ],
      5,
      /services\[1\]: service api has an HTTP backend already/,
    ],
  ];
  for (const [lines, line, reason] of cases) {
    const e = await fileError(lines);
    assert.equal(e.line, line, lines.join("\n"));
    assert.match(e.reason, reason);
  }
  const flags: [AgentFlags, RegExp][] = [
    [{ serviceHttp: ["api"] }, /^--service-http: invalid HTTP service "api": expected NAME=URL/],
    [{ serviceHttp: ["a=http://h", "A=http://i"] }, /^--service-http: service a is given twice/],
    [{ serviceHttp: ["a_b=http://h"] }, /--service-http: .*the name may only hold/],
    [{ service: ["a:1"], serviceCheck: ["a=tcp://h"] }, /^--service-check: .*tcp:\/\/HOST:PORT/],
    [{ serviceCheck: ["a=tcp://h:1"] }, /^--service-check: service a is not offered here/],
    [
      { service: ["a:1"], serviceCheck: ["a=tcp://h:1", "a=tcp://h:2"] },
      /^--service-check: service a is given twice/,
    ],
  ];
  for (const [f, reason] of flags) assert.match((await flagError(f)).message, reason);
  // A check of a service answered only by an HTTP backend is fine.
  const ok = await load(undefined, {
    serviceHttp: ["a=http://h"],
    serviceCheck: ["a=http://h/health"],
  });
  assert.equal(ok.serviceChecks[0].service, "a");
  const twice = await withFile(entry("    http: http://a", "    check: tcp://h:1"), async (p) => [
    await load(p, { serviceHttp: ["api=http://b"] }).catch((e) => e.message),
    await load(p, { serviceCheck: ["api=tcp://h:2"] }).catch((e) => e.message),
  ]);
  assert.match(twice[0], /--service-http: service api has an HTTP backend in the configuration/);
  assert.match(twice[1], /--service-check: service api has a check in the configuration/);
});

Deno.test("service-caller-limit: text, number or mapping; default; flag over file", async () => {
  assert.deepEqual((await load()).serviceCallerLimit, {
    ratePerSecond: 200,
    burst: 400,
    maxConcurrent: 32,
  });
  assert.deepEqual(
    (await load(undefined, { serviceCallerLimit: "5000,concurrent=256" })).serviceCallerLimit,
    { ratePerSecond: 5000, burst: 10000, maxConcurrent: 256 },
  );
  const fromFile = (line: string, flags: AgentFlags = {}) =>
    withFile([line], async (p) => (await load(p, flags)).serviceCallerLimit);
  assert.deepEqual(await fromFile("service-caller-limit: 1000"), {
    ratePerSecond: 1000,
    burst: 2000,
    maxConcurrent: 32,
  });
  assert.deepEqual(await fromFile("service-caller-limit: '300,burst=300'"), {
    ratePerSecond: 300,
    burst: 300,
    maxConcurrent: 32,
  });
  assert.deepEqual(
    await fromFile("service-caller-limit: {rate: 50, burst: 60, concurrent: 4}"),
    { ratePerSecond: 50, burst: 60, maxConcurrent: 4 },
  );
  assert.deepEqual(
    await fromFile("service-caller-limit: 1000", { serviceCallerLimit: "7" }),
    { ratePerSecond: 7, burst: 14, maxConcurrent: 32 },
    "the flag wins",
  );
});

Deno.test("service-caller-limit: bad values name the key, line or flag", async () => {
  const cases: [string, RegExp][] = [
    ["service-caller-limit: 0", /^service-caller-limit: invalid caller limit "0": rate must be/],
    ["service-caller-limit: fast", /the rate \(calls a second\) must be a whole number/],
    ["service-caller-limit: '10,every=2'", /unknown option "every" \(burst, concurrent\)/],
    ["service-caller-limit: {burst: 5}", /a caller limit needs a rate/],
    ["service-caller-limit: {rate: 5, burts: 5}", /unknown key "burts"/],
    ["service-caller-limit: {rate: 5, concurrent: 5000}", /expected an integer from 1 to 4096/],
    ["service-caller-limit: [1, 2]", /expected a string/],
  ];
  for (const [line, reason] of cases) {
    const e = await fileError([line]);
    assert.equal(e.line, 1, line);
    assert.match(e.reason, reason, line);
  }
  assert.match(
    (await flagError({ serviceCallerLimit: "100,concurrent=0" })).message,
    /^--service-caller-limit: invalid caller limit "100,concurrent=0": concurrent must be an integer from 1 to 4096, got 0/,
  );
});

// (That a node takes no store is checked with its role: tests/integration/etcd_leader_test.ts.)
Deno.test("store: the store's options are checked against each other", async () => {
  const refused = async (flags: Record<string, unknown>, what: RegExp) => {
    await assert.rejects(loadAgentConfig({ flags }), (e: Error) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, what);
      return true;
    });
  };
  await refused({ leader: true, store: "http://192.0.2.1:2379" }, /--store: .* is not etcd:\/\//);
  await refused({ leader: true, storeCa: "/ca.pem" }, /--store-ca needs a store/);
  await refused({ leader: true, storePrefix: "/x/" }, /--store-prefix needs a store/);
  await refused(
    { leader: true, store: "etcd://192.0.2.1:2379", storePrefix: "x" },
    /ending with \//,
  );
  await refused(
    { leader: true, store: "etcd://192.0.2.1:2379", storeCert: "/c.pem", storeCa: "/ca.pem" },
    /--store-cert: store-cert and store-key go together/,
  );
  await refused(
    { leader: true, store: "etcd://192.0.2.1:2379", storeCert: "/c.pem", storeKey: "/k.pem" },
    /--store-cert: a client certificate needs store-ca/,
  );
  const ok = await loadAgentConfig({ flags: { leader: true, store: "etcd://192.0.2.1:2379" } });
  assert.equal(ok.storePrefix, "/weft/");
  assert.equal(ok.store, "etcd://192.0.2.1:2379");
});
