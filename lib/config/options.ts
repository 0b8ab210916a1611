/**
 * The option table: for every option its flag, YAML key, type, default, accepted values and
 * description, and the parser its value goes through. The one place an option is declared;
 * the loader, the merge and the help text all read it.
 *
 * Naming rule: an option's YAML key is its flag without the leading dashes, so `--listen-port` is
 * `listen-port:`; a switch that is on by default has the flag `--no-KEY` (`--no-lan-discovery` is
 * `lan-discovery: false`). The two repeatable flags that build a collection are singular and their keys
 * plural: `--label k=v` is `labels:` (a mapping), `--service web:80/tcp` is `services:` (a list).
 * `config`, `--service-http` and `--service-check` exist only as flags (in the file, a service's
 * HTTP backend and check are `http:` and `check:` in its `services:` entry), `policy` only in
 * the file. In `AgentConfig` each option is
 * the camelCase form of its key (`listenPort`), which is also commander's attribute name for the
 * flag (`label`, `service` and `serviceCheck` for the repeatable ones named in the singular).
 * @module
 */

import type { AgentConfig, OptionKey } from "./agent_types.ts";
import type { Where } from "./input.ts";
import {
  boolean,
  duration,
  integer,
  integerOrAuto,
  oneOf,
  type Parser,
  text,
} from "./combinators.ts";
import {
  callerLimitSetting,
  cidr,
  directory,
  dnsLabel,
  dnsRouteList,
  endpointList,
  hostPort,
  labelMap,
  labelsFromFlag,
  peerList,
  peerRef,
  routeList,
  serviceCheckList,
  serviceHttpList,
  serviceList,
  servicesFromFlag,
} from "./values.ts";
import { policyFromNode, type YamlSource } from "./yaml_source.ts";
import { pluginList } from "./plugins.ts";
import { defaultStateDir, type SystemInfo } from "./system.ts";
import { quote } from "../text/quote.ts";
import { noProxyFromEnv, parseProxyUrl, proxyFromEnv } from "../net/proxy.ts";
import { ConfigError } from "./config_error.ts";
import { dnsZoneProblem, interfaceNameProblem, sanitizeHostname } from "../net/names.ts";
import { DEFAULT_LISTEN_PORT } from "../members/ports.ts";
import { parseLogFormat, parseLogLevel } from "../log/logger.ts";
import { BACKEND_NAMES } from "../crypto/select.ts";
import { DEFAULT_CALLER_LIMIT } from "../members/service_backends.ts";

/** One option: how it is named, documented, defaulted and parsed. */
export interface OptionSpec<T> {
  /** The flag, e.g. `--listen-port`; absent for file-only options. */
  flag?: string;
  /** The flag's argument, e.g. `<port>`; absent for switches. */
  arg?: string;
  /** Commander's attribute name when it is not the option's name (`label`, `service`, ...). */
  attribute?: string;
  /** The YAML key; absent for flag-only options. */
  yaml?: string;
  /** Whether the flag may be given more than once. */
  repeatable?: boolean;
  /** The value's type, for help. */
  type: string;
  /** The default, as help shows it. */
  default: string;
  /** What values are accepted, for help. */
  validation: string;
  /** What the option does, for help. */
  description: string;
  /** The value when neither the file nor a flag sets it. */
  defaultValue(sys: SystemInfo): T;
  /** Parses the value from the file or a flag. */
  parse?: Parser<T>;
  /** For YAML-only options that keep the raw node. */
  parseNode?(node: unknown, y: YamlSource, where: Where): T;
  /** Brings a commander value to the shape `parse` reads from YAML. */
  fromFlag?(value: unknown, flag: string): unknown;
}

const none = () => undefined;

/** Every option, by its name in `AgentConfig`, in the order help lists them. */
export const OPTIONS: { readonly [K in OptionKey]: OptionSpec<AgentConfig[K]> } = {
  leader: {
    flag: "--leader",
    yaml: "leader",
    type: "boolean",
    default: "false",
    validation: "true or false; exactly one of leader and join",
    description: "run as the leader: create the mesh, hand out addresses and tokens",
    defaultValue: () => false,
    parse: boolean,
  },
  join: {
    flag: "--join",
    arg: "<token>",
    yaml: "join",
    type: "string",
    default: "none",
    validation: "a join token from `weft token create`",
    description: "join the mesh that issued this token",
    defaultValue: none,
    parse: text((s) => {
      if (s.trim() === "") throw new Error("the token is empty");
      return s.trim();
    }),
  },
  cidr: {
    flag: "--cidr",
    arg: "<cidr>",
    yaml: "cidr",
    type: "IPv4 CIDR",
    default: "10.200.0.0/16",
    validation: "an IPv4 network /8 to /30 without host bits",
    description: "the overlay network the leader allocates addresses from",
    defaultValue: () => "10.200.0.0/16",
    parse: cidr(4, 8, 30),
  },
  cidr6: {
    flag: "--cidr6",
    arg: "<cidr>",
    yaml: "cidr6",
    type: "IPv6 CIDR",
    default: "none",
    validation: "an IPv6 network /8 to /126 without host bits",
    description: "an IPv6 overlay network, allocated alongside the IPv4 one",
    defaultValue: none,
    parse: cidr(6, 8, 126),
  },
  listenPort: {
    flag: "--listen-port",
    arg: "<port>",
    yaml: "listen-port",
    type: "integer",
    default: "51820",
    validation: "0 to 65535 (0: any free port)",
    description: "the UDP port for encrypted traffic",
    defaultValue: () => DEFAULT_LISTEN_PORT,
    parse: integer(0, 65535),
  },
  tcpPort: {
    flag: "--tcp-port",
    arg: "<port>",
    yaml: "tcp-port",
    type: "integer",
    default: "the listen port's number",
    validation: "0 to 65535 (0: no TCP)",
    description: "the TCP port for encrypted traffic, where UDP does not get through",
    defaultValue: none,
    parse: integer(0, 65535),
  },
  wsTlsCert: {
    flag: "--ws-tls-cert",
    arg: "<file>",
    yaml: "ws-tls-cert",
    type: "path",
    default: "none (WebSockets on the TCP port only, plain)",
    validation: "a PEM file (the chain), with ws-tls-key; in the file, relative to the file",
    description: "serve WebSockets over TLS (wss) too, with this certificate, on ws-tls-port: " +
      "for browsers on HTTPS pages and networks that let out HTTPS only",
    defaultValue: none,
    parse: directory,
  },
  wsTlsKey: {
    flag: "--ws-tls-key",
    arg: "<file>",
    yaml: "ws-tls-key",
    type: "path",
    default: "none",
    validation: "a PEM file, with ws-tls-cert",
    description: "the private key of ws-tls-cert",
    defaultValue: none,
    parse: directory,
  },
  wsTlsPort: {
    flag: "--ws-tls-port",
    arg: "<port>",
    yaml: "ws-tls-port",
    type: "integer",
    default: "443",
    validation: "0 to 65535 (0: any free port), with ws-tls-cert",
    description: "the TCP port wss is served on",
    defaultValue: () => 443,
    parse: integer(0, 65535),
  },
  wsCa: {
    flag: "--ws-ca",
    arg: "<file>",
    yaml: "ws-ca",
    type: "path",
    default: "the system's CAs",
    validation: "a PEM file; in the file, relative to the file",
    description: "the CA certificates wss:// endpoints are checked against (a private CA)",
    defaultValue: none,
    parse: directory,
  },
  proxy: {
    flag: "--proxy",
    arg: "<url|none>",
    yaml: "proxy",
    type: "URL or none",
    default: "https_proxy, HTTPS_PROXY, all_proxy or ALL_PROXY from the environment",
    validation: "http://[user:password@]host[:port] (port 1080 when left out), or none",
    description: "the HTTP proxy TCP connections go through (CONNECT), where UDP does not get " +
      "out; hosts in NO_PROXY are reached directly; none: no proxy, whatever the environment says",
    defaultValue: (sys) => {
      try {
        return sys.env ? proxyFromEnv(sys.env) : null;
      } catch (e) {
        throw new ConfigError((e as Error).message);
      }
    },
    parse: text((s, _input, ctx) => {
      if (s.trim().toLowerCase() === "none") return null;
      const url = parseProxyUrl(s);
      return { url, bypass: ctx.sys.env ? noProxyFromEnv(ctx.sys.env) : [], from: "proxy" };
    }),
  },
  relay: {
    flag: "--relay",
    yaml: "relay",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "offer to relay for members without a direct path; a node relays once the " +
      "leader also grants it (token create --relay, node set --relay); the leader always does",
    defaultValue: () => false,
    parse: boolean,
  },
  relayRate: {
    flag: "--relay-rate",
    arg: "<Mbit/s>",
    yaml: "relay-rate",
    type: "integer",
    default: "10000",
    validation: "1 to 100000",
    description: "what a relay forwards for each member at most, in Mbit/s (members share a busy " +
      "relay fairly whatever this is)",
    defaultValue: () => 10_000,
    parse: integer(1, 100_000),
  },
  advertiseRoutes: {
    flag: "--advertise-routes",
    arg: "<cidr,...>",
    yaml: "advertise-routes",
    repeatable: true,
    type: "list of CIDR",
    default: "none",
    validation: "IPv4 or IPv6 prefixes without host bits, not a default route, at most 64",
    description: "networks behind this node it offers to carry for the mesh (TUN mode); " +
      "members use them once the leader approves them (route approve)",
    defaultValue: () => [],
    parse: routeList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(",")),
  },
  advertiseExitNode: {
    flag: "--advertise-exit-node",
    yaml: "advertise-exit-node",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "offer this node as an exit node for members' internet traffic (TUN mode), " +
      "once the leader approves it (route approve NODE exit)",
    defaultValue: () => false,
    parse: boolean,
  },
  acceptRoutes: {
    flag: "--no-accept-routes",
    yaml: "accept-routes",
    type: "boolean",
    default: "true",
    validation: "true or false (the flag sets false)",
    description: "route the approved subnet routes other members carry through them",
    defaultValue: () => true,
    parse: boolean,
  },
  snatSubnetRoutes: {
    flag: "--no-snat-subnet-routes",
    yaml: "snat-subnet-routes",
    type: "boolean",
    default: "true",
    validation: "true or false (the flag sets false)",
    description: "masquerade the mesh's traffic into the routes this node carries, so hosts " +
      "there need no route back; off: they see members' overlay addresses",
    defaultValue: () => true,
    parse: boolean,
  },
  exitNode: {
    flag: "--exit-node",
    arg: "<name|address>",
    yaml: "exit-node",
    type: "NAME or ADDRESS",
    default: "none",
    validation: "a member's name (a DNS label) or overlay IPv4/IPv6 address",
    description: "send this host's internet traffic (its default routes, IPv4 and IPv6) through " +
      "that member, an approved exit node (TUN mode); blocked while it is not there",
    defaultValue: none,
    parse: peerRef,
  },
  exitNodeAllowLanAccess: {
    flag: "--exit-node-allow-lan-access",
    yaml: "exit-node-allow-lan-access",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "with an exit node, keep this host's LAN and other more specific routes out " +
      "of the tunnel",
    defaultValue: () => false,
    parse: boolean,
  },
  exitNodeFallback: {
    flag: "--exit-node-fallback",
    yaml: "exit-node-fallback",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "while the exit node is not there (unknown, not an exit node, not approved, " +
      "offline), this host's internet traffic goes out directly; without it, it is blocked",
    defaultValue: () => false,
    parse: boolean,
  },
  stateDir: {
    flag: "--state-dir",
    arg: "<dir>",
    yaml: "state-dir",
    type: "path",
    default: "/var/lib/weft as root, else $XDG_STATE_HOME/weft or ~/.local/state/weft",
    validation: "a directory; in the file, relative to the file; `~/` is expanded",
    description: "where keys, addresses and membership are kept",
    defaultValue: (sys) => defaultStateDir(sys),
    parse: directory,
  },
  store: {
    flag: "--store",
    arg: "<url>",
    yaml: "store",
    type: "URL",
    default: "none (the state directory)",
    validation: "etcd://HOST:PORT[,HOST:PORT...]; leaders only",
    description: "keep the mesh's state in etcd, shared by every leader given the same store",
    defaultValue: none,
    parse: text((s) => {
      const v = s.trim();
      if (!/^etcd:\/\/./i.test(v)) {
        throw new Error(`${quote(s)} is not etcd://HOST:PORT[,HOST:PORT...]`);
      }
      return v;
    }),
  },
  storeCa: {
    flag: "--store-ca",
    arg: "<file>",
    yaml: "store-ca",
    type: "path",
    default: "none (plain HTTP)",
    validation: "a PEM file; in the file, relative to the file",
    description: "the CA of the store's certificates: talk to the store over TLS",
    defaultValue: none,
    parse: directory,
  },
  storeCert: {
    flag: "--store-cert",
    arg: "<file>",
    yaml: "store-cert",
    type: "path",
    default: "none",
    validation: "a PEM file, with store-key and store-ca",
    description: "a client certificate for the store",
    defaultValue: none,
    parse: directory,
  },
  storeKey: {
    flag: "--store-key",
    arg: "<file>",
    yaml: "store-key",
    type: "path",
    default: "none",
    validation: "a PEM file, with store-cert",
    description: "the client certificate's private key",
    defaultValue: none,
    parse: directory,
  },
  storePrefix: {
    flag: "--store-prefix",
    arg: "<prefix>",
    yaml: "store-prefix",
    type: "string",
    default: "/weft/",
    validation: "1 to 200 characters ending with /, no spaces",
    description: "the prefix of weft's keys in the store (one mesh per prefix)",
    defaultValue: () => "/weft/",
    parse: text((s) => {
      if (s.length > 200 || !s.endsWith("/") || /[\s\0]/.test(s)) {
        throw new Error(`${quote(s)} is not 1 to 200 characters ending with /, without spaces`);
      }
      return s;
    }),
  },
  interface: {
    flag: "--interface",
    arg: "<name>",
    yaml: "interface",
    type: "string",
    default: "weft0",
    validation: "a Linux interface name: 1 to 15 printable ASCII characters, no / : % or spaces",
    description: "the TUN interface name",
    defaultValue: () => "weft0",
    parse: text((s) => {
      const p = interfaceNameProblem(s);
      if (p !== undefined) throw new Error(`${quote(s)} ${p}`);
      return s;
    }),
  },
  userspace: {
    flag: "--userspace",
    yaml: "userspace",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "no TUN device: carry overlay traffic in-process (no root needed)",
    defaultValue: () => false,
    parse: boolean,
  },
  hostname: {
    flag: "--hostname",
    arg: "<name>",
    yaml: "hostname",
    type: "string",
    default: "the machine's host name, lowercased, as a DNS label",
    validation: "one DNS label: letters, digits and inner '-', up to 63; stored lowercase",
    description: "this node's name in the mesh and in overlay DNS",
    defaultValue: (sys) => sanitizeHostname(sys.hostname),
    parse: text(dnsLabel),
  },
  onRemoved: {
    flag: "--on-removed",
    arg: "<exit|wait>",
    yaml: "on-removed",
    type: "string",
    default: "exit",
    validation: "exit or wait",
    description: "what a node does when the leader removes it (weft node remove): exit (code 1) " +
      "or wait, running with no peers, for an operator",
    defaultValue: () => "exit" as const,
    parse: oneOf(["exit", "wait"] as const),
  },
  advertise: {
    flag: "--advertise",
    arg: "<host:port>",
    yaml: "advertise",
    repeatable: true,
    type: "list of HOST:PORT",
    default: "none",
    validation: "IPv4:PORT, [IPv6]:PORT or NAME:PORT, port 1 to 65535, no repeats",
    description: "underlay endpoints other nodes should use to reach this one",
    defaultValue: () => [],
    parse: endpointList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
  statusListen: {
    flag: "--status-listen",
    arg: "<host:port>",
    yaml: "status-listen",
    type: "HOST:PORT",
    default: "127.0.0.1:51880",
    validation: "HOST:PORT, port 0 to 65535; loopback unless status-allow-remote",
    description: "the status and control HTTP endpoint",
    defaultValue: () => "127.0.0.1:51880",
    parse: hostPort(0),
  },
  statusAllowRemote: {
    flag: "--status-allow-remote",
    yaml: "status-allow-remote",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "allow status-listen on an address other hosts can reach",
    defaultValue: () => false,
    parse: boolean,
  },
  config: {
    flag: "--config",
    arg: "<file>",
    type: "path",
    default: "none",
    validation: "a YAML file (flag only)",
    description: "read options from this YAML file; flags override it",
    defaultValue: none,
    parse: text((s) => {
      if (s.trim() === "") throw new Error("the path is empty");
      return s;
    }),
  },
  logLevel: {
    flag: "--log-level",
    arg: "<level>",
    yaml: "log-level",
    type: "string",
    default: "info",
    validation: "debug, info, warn or error",
    description: "the least severe messages logged",
    defaultValue: () => "info",
    parse: text((s) => parseLogLevel(s)),
  },
  logFormat: {
    flag: "--log-format",
    arg: "<format>",
    yaml: "log-format",
    type: "string",
    default: "text",
    validation: "text or json",
    description: "the log line format",
    defaultValue: () => "text",
    parse: text((s) => parseLogFormat(s)),
  },
  crypto: {
    flag: "--crypto",
    arg: "<backend>",
    yaml: "crypto",
    type: "string",
    default: "the fastest available",
    validation: BACKEND_NAMES.join(", ").replace(/, ([^,]*)$/, " or $1"),
    description: "force a crypto backend",
    defaultValue: none,
    parse: oneOf(BACKEND_NAMES),
  },
  cryptoWorkers: {
    flag: "--crypto-workers",
    arg: "<n>",
    yaml: "crypto-workers",
    type: "integer or auto",
    default: "auto",
    validation:
      "auto (2 with a TUN, libsodium and 4+ cores, else 0) or 0 to 64; above 0 needs libsodium",
    description: "threads that seal and open packet batches beside the main one",
    defaultValue: () => "auto" as const,
    parse: integerOrAuto(0, 64),
  },
  labels: {
    flag: "--label",
    arg: "<key=value>",
    attribute: "label",
    yaml: "labels",
    repeatable: true,
    type: "mapping of strings",
    default: "none",
    validation:
      "Kubernetes label syntax: [prefix/]name (name up to 63), value up to 63; joiners: node.weft/ only",
    description: "the leader's labels; a joining node's own (untrusted) node.weft/ labels",
    defaultValue: () => ({}),
    parse: labelMap,
    fromFlag: labelsFromFlag,
  },
  services: {
    flag: "--service",
    arg: "<name:port/proto>",
    attribute: "service",
    yaml: "services",
    repeatable: true,
    type: "list of {name, port, protocol, weight?, priority?, labels?, http?, check?}",
    default: "none",
    validation: "name a DNS label, port 1 to 65535, protocol tcp or udp (default tcp), " +
      "weight and priority 0 to 65535; http and check as --service-http's URL and " +
      "--service-check's text without NAME= (check may be a mapping: target, interval, timeout, " +
      "rise, fall)",
    description: "services this node offers, published in overlay DNS",
    defaultValue: () => [],
    parse: serviceList,
    fromFlag: servicesFromFlag,
  },
  serviceHttp: {
    flag: "--service-http",
    arg: "<name=url[,actions=a|b]>",
    repeatable: true,
    type: "list of NAME=URL[,actions=A|B]",
    default: "none",
    validation: "a service name and an http(s) base URL without query, credentials or comma, " +
      "optionally the only actions callers may call (actions=a|b) and those safe to retry " +
      "(idempotent=a|b, * all); once per service; in the file: http: in a services entry",
    description: "a service whose actions an HTTP server answers (action x: POST <url>/x, JSON)",
    defaultValue: () => [],
    parse: serviceHttpList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
  serviceChecks: {
    flag: "--service-check",
    arg: "<name=target>",
    attribute: "serviceCheck",
    repeatable: true,
    type: "list of NAME=TARGET[,key=value...]",
    default: "none",
    validation: "TARGET tcp://HOST:PORT or an http(s) URL (2xx/3xx passes); interval and timeout " +
      "100ms to 1h (default 5s, 2s), rise and fall 1 to 99 (default 2, 3); a service offered " +
      "here, once; in the file: check: in a services entry",
    description: "a health check of a service: failing, it leaves DNS, calls and its election",
    defaultValue: () => [],
    parse: serviceCheckList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
  serviceCallerLimit: {
    flag: "--service-caller-limit",
    arg: "<rate[,burst=n][,concurrent=n]>",
    yaml: "service-caller-limit",
    type: "RATE[,burst=N][,concurrent=N] or a mapping of rate, burst, concurrent",
    default: "200,burst=400,concurrent=32",
    validation: "rate 1 to 1000000 calls a second, burst 1 to 10000000 (default twice the " +
      "rate), concurrent 1 to 4096 (default 32)",
    description: "what each calling node may ask of this node's services (over: rate-limited)",
    defaultValue: () => ({ ...DEFAULT_CALLER_LIMIT }),
    parse: callerLimitSetting,
  },
  plugins: {
    flag: "--plugin",
    arg: "<file>",
    attribute: "plugin",
    yaml: "plugins",
    repeatable: true,
    type: "list of FILE or {path, permissions}",
    default: "none",
    validation: "a TypeScript or JavaScript module, at most 16; permissions a mapping of net, " +
      "read, write, env, sys, import, each true or a list (run and ffi are refused); the flag " +
      "grants none",
    description: "a plugin: a module run in a worker with only the permissions granted, offering " +
      "services and following topics through the services API",
    defaultValue: () => [],
    parse: pluginList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
  dnsPort: {
    flag: "--dns-port",
    arg: "<port>",
    yaml: "dns-port",
    type: "integer",
    default: "15353",
    validation: "0 to 65535 (0: no DNS server)",
    description: "the UDP port of the overlay DNS server",
    defaultValue: () => 15353,
    parse: integer(0, 65535),
  },
  dnsZone: {
    flag: "--dns-zone",
    arg: "<zone>",
    yaml: "dns-zone",
    type: "string",
    default: "overlay.local.",
    validation: "a DNS name; a final dot is added if missing; stored lowercase",
    description: "the zone overlay names are served under",
    defaultValue: () => "overlay.local.",
    parse: text((s) => {
      const v = s.trim().toLowerCase();
      const p = dnsZoneProblem(v);
      if (p !== undefined) throw new Error(`${quote(s)} ${p}`);
      return v.endsWith(".") ? v : `${v}.`;
    }),
  },
  dnsForward: {
    flag: "--dns-forward",
    yaml: "dns-forward",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "forward queries outside the zone to the system resolvers",
    defaultValue: () => false,
    parse: boolean,
  },
  dnsForwardMembers: {
    flag: "--dns-forward-members",
    yaml: "dns-forward-members",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "forward names outside the zone (dns-forward, dns-route, accept-dns) for other " +
      "members' queries too, not only this host's own; off: theirs are refused",
    defaultValue: () => false,
    parse: boolean,
  },
  acceptDns: {
    flag: "--accept-dns",
    yaml: "accept-dns",
    type: "boolean",
    default: "false",
    validation: "true or false",
    description: "point this host's resolver at weft (TUN mode): mesh names for every program " +
      "(short ones after the host's search domains); others to the host's resolvers; put back " +
      "on exit",
    defaultValue: () => false,
    parse: boolean,
  },
  dnsRoute: {
    flag: "--dns-route",
    arg: "<domain=resolver[,resolver]>",
    yaml: "dns-route",
    repeatable: true,
    type: "list of DOMAIN=RESOLVER[,RESOLVER]",
    default: "none",
    validation:
      "a DNS name, = and up to 8 IP addresses with an optional port (53); no domain twice",
    description: "split DNS: names under the domain asked of this node's DNS server go to these " +
      "resolvers (one behind a subnet router, say), whether or not dns-forward is on",
    defaultValue: () => [],
    parse: dnsRouteList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
  natTraversal: {
    flag: "--no-nat-traversal",
    yaml: "nat-traversal",
    type: "boolean",
    default: "true",
    validation: "true or false (the flag sets false)",
    description: "probe members' candidate endpoints and move each session to the best path " +
      "that answers; off: each member's first recorded endpoint, no LAN discovery",
    defaultValue: () => true,
    parse: boolean,
  },
  lanDiscovery: {
    flag: "--no-lan-discovery",
    yaml: "lan-discovery",
    type: "boolean",
    default: "true",
    validation: "true or false (the flag sets false)",
    description: "find members on the same LAN: this machine's interface addresses as " +
      "candidates, multicast announcements (239.255.82.21:51822, TTL 1); off: neither",
    defaultValue: () => true,
    parse: boolean,
  },
  pq: {
    flag: "--no-pq",
    yaml: "pq",
    type: "boolean",
    default: "true",
    validation: "true or false (the flag sets false)",
    description: "post-quantum preshared keys with the other weft members: an ML-KEM-768 " +
      "exchange through each pair's tunnel, rotated every pq-rotate; off: classical sessions " +
      "(plain WireGuard peers are never affected)",
    defaultValue: () => true,
    parse: boolean,
  },
  requirePq: {
    flag: "--require-pq",
    yaml: "require-pq",
    type: "boolean",
    default: "false",
    validation: "true or false; needs pq",
    description: "carry no traffic with a member until the session with it has a post-quantum " +
      "preshared key (the first seconds of a pair, a member without pq: refused); weft's own " +
      "control messages still pass",
    defaultValue: () => false,
    parse: boolean,
  },
  pqRotate: {
    flag: "--pq-rotate",
    arg: "<duration>",
    yaml: "pq-rotate",
    type: "duration",
    default: "110s",
    validation: "1s to 120s, as 5s or 2m; a bare number is seconds",
    description: "how often each pair of members makes a new post-quantum preshared key " +
      "(before WireGuard's rekey at 120 s)",
    defaultValue: () => 110_000,
    parse: duration(1000, 120_000),
  },
  persistentKeepalive: {
    flag: "--persistent-keepalive",
    arg: "<seconds>",
    yaml: "persistent-keepalive",
    type: "integer",
    default: "25",
    validation: "0 to 65535 (0: off)",
    description: "seconds between keepalives that hold NAT mappings open (to the peers " +
      "this node keeps a session with)",
    defaultValue: () => 25,
    parse: integer(0, 65535),
  },
  keepPeer: {
    flag: "--keep-peer",
    arg: "<name|address>",
    yaml: "keep-peer",
    repeatable: true,
    type: "list of NAME or ADDRESS",
    default: "none",
    validation: "a member's name (a DNS label) or overlay IPv4/IPv6 address, no repeats",
    description: "a member this node keeps a session with (keepalives, health and path " +
      "probes) without traffic, beside the leaders and relays; others get one on demand",
    defaultValue: () => [],
    parse: peerList,
    fromFlag: (v) => (Array.isArray(v) ? v : [v]),
  },
  mtu: {
    flag: "--mtu",
    arg: "<bytes>",
    yaml: "mtu",
    type: "integer",
    default: "1420",
    validation: "576 to 65535; at least 1280 with cidr6",
    description: "the MTU of the overlay interface",
    defaultValue: () => 1420,
    parse: integer(576, 65535),
  },
  probeInterval: {
    flag: "--probe-interval",
    arg: "<duration>",
    yaml: "probe-interval",
    type: "duration",
    default: "5s",
    validation: "100ms to 1h, as 500ms, 5s or 1m; a bare number is seconds",
    description: "how often each peer is probed through the tunnel for RTT and loss (health)",
    defaultValue: () => 5000,
    parse: duration(100, 3_600_000),
  },
  policy: {
    yaml: "policy",
    type: "mapping",
    default: "none",
    validation: "any mapping here; checked by the policy module (file only)",
    description: "access policy between nodes",
    defaultValue: none,
    parseNode: policyFromNode,
  },
};

/** The option names in table order. */
export const KEYS = Object.keys(OPTIONS) as OptionKey[];
/** Options by YAML key. */
export const YAML_KEYS: ReadonlyMap<string, OptionKey> = new Map(
  KEYS.filter((k) => OPTIONS[k].yaml !== undefined).map((k) => [OPTIONS[k].yaml!, k]),
);
/** Options by commander attribute name. */
export const FLAG_ATTRIBUTES: ReadonlyMap<string, OptionKey> = new Map(
  KEYS.filter((k) => OPTIONS[k].flag !== undefined).map((k) => [OPTIONS[k].attribute ?? k, k]),
);
