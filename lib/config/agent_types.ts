/**
 * The shapes of an agent's configuration: {@link AgentConfig} (what `loadAgentConfig` returns),
 * the flags it reads ({@link AgentFlags}) and where each value came from. Declared apart from the
 * loader so the option table, the merge and the help text can name them without import cycles;
 * `agent_config.ts` re-exports them.
 * @module
 */

import type { LogFormat, LogLevel } from "../log/logger.ts";
import type { BackendName } from "../crypto/types.ts";
import type { ServiceSpec } from "../members/member.ts";
import type { LabelPair } from "../members/labels.ts";
import type { PolicySource } from "./yaml_source.ts";
import type { DnsRoute } from "../net/dns_route.ts";
import type { ProxySetting } from "../net/proxy.ts";
import type {
  CallerLimitSpec,
  HttpBackendSpec,
  ServiceCheckSpec,
} from "../members/service_backends.ts";

/**
 * A service as the configuration lists it: what the member record announces, and what only
 * this node needs (its HTTP backend, its health check), which never leaves the node.
 */
export interface ConfiguredService extends ServiceSpec {
  /** The base URL of the HTTP server answering its actions (`http:` in the entry). */
  http?: string;
  /** The only actions callers may call on it (`,actions=A|B` after the URL in `http:`). */
  httpActions?: string[];
  /** Its health check (`check:` in the entry). */
  check?: ServiceCheckSpec;
}

/** One permission's name: a Deno permission, `run` and `ffi` left out. */
export type PluginPermission = "net" | "read" | "write" | "env" | "sys" | "import";

/** What a plugin is granted: absent, nothing of that kind. */
export type PluginPermissions = { [K in PluginPermission]?: true | string[] };

/** A plugin to run: the module and its permissions. */
export interface PluginSpec {
  /** The module's absolute path. */
  path: string;
  /** What it may do beyond reading its own module; default nothing. */
  permissions: PluginPermissions;
}

/** A health check of one service (`--service-check NAME=TARGET,...`). */
export interface ServiceCheckEntry {
  /** The service checked. */
  service: string;
  /** The check. */
  check: ServiceCheckSpec;
}

/** Where an option's value came from. */
export interface OptionOrigin {
  /** `default`, `file` (the YAML file) or `flag` (the command line). */
  source: "default" | "file" | "flag";
  /** The configuration file, for `file`. */
  file?: string;
  /** The 1-based line of the key in the file, for `file`. */
  line?: number;
  /** The flag as typed, e.g. `--listen-port`, for `flag`. */
  flag?: string;
}

/** The validated configuration of an agent run with `--leader` or `--join`. */
export interface AgentConfig {
  /** Run as the leader (`--leader`). */
  leader: boolean;
  /** Join the mesh with this token (`--join`); non-empty, its shape is checked by the caller. */
  join?: string;
  /** How long a join keeps asking before it fails, ms (`--join-timeout`). */
  joinTimeout: number;
  /** The overlay IPv4 network, canonical (`10.200.0.0/16`). */
  cidr: string;
  /** The overlay IPv6 network, canonical, when the mesh has one. */
  cidr6?: string;
  /** The UDP port for WireGuard traffic; 0 picks any. */
  listenPort: number;
  /** The TCP port for WireGuard traffic; undefined: the UDP port's number; 0: no TCP. */
  tcpPort?: number;
  /** The certificate (PEM file) wss is served with; with `wsTlsKey`. */
  wsTlsCert?: string;
  /** Its private key (PEM file). */
  wsTlsKey?: string;
  /** The port wss is served on (443 by default). */
  wsTlsPort: number;
  /** CA certificates (PEM file) `wss://` endpoints are checked against. */
  wsCa?: string;
  /**
   * The HTTP proxy TCP dials go through (`--proxy`, else `HTTPS_PROXY` and the like), with the
   * `NO_PROXY` list; null: none (`--proxy none`, or no variable set).
   */
  proxy: ProxySetting | null;
  /** Relay traffic for members without a direct path (the leader always does). */
  relay: boolean;
  /** What a relay forwards for each member, in Mbit/s. */
  relayRate: number;
  /** Subnet routes this node offers to carry for the mesh, canonical and sorted. */
  advertiseRoutes: string[];
  /** Offer this node as an exit node (the default routes). */
  advertiseExitNode: boolean;
  /** Route the subnet routes other members carry through them. */
  acceptRoutes: boolean;
  /** Masquerade the mesh's traffic into the routes this node carries. */
  snatSubnetRoutes: boolean;
  /** The member (name or overlay address) this node sends its internet traffic through. */
  exitNode?: string;
  /** With an exit node, keep this host's LAN (its more specific routes) out of the tunnel. */
  exitNodeAllowLanAccess: boolean;
  /** While the exit node is not there, traffic goes out directly rather than being blocked. */
  exitNodeFallback: boolean;
  /** The absolute directory for keys and state. */
  stateDir: string;
  /** The leader's shared store, `etcd://HOST:PORT[,...]` (checked by the driver). */
  store?: string;
  /** The store's CA, a PEM file (absolute). */
  storeCa?: string;
  /** A client certificate for the store, a PEM file (absolute). */
  storeCert?: string;
  /** Its private key, a PEM file (absolute). */
  storeKey?: string;
  /** The prefix of weft's keys in the store. */
  storePrefix: string;
  /** The TUN interface name. */
  interface: string;
  /** Run without a TUN device. */
  userspace: boolean;
  /** This node's name in the mesh: one lowercase DNS label. */
  hostname: string;
  /** What a node does when the leader removes it: exit (code 1), or wait with no peers. */
  onRemoved: "exit" | "wait";
  /** Underlay endpoints to announce, `HOST:PORT` (`[v6]:PORT`), in order. */
  advertise: string[];
  /** The status/control HTTP endpoint, `HOST:PORT` (`[v6]:PORT`). */
  statusListen: string;
  /** Allow `statusListen` on an address other than loopback. */
  statusAllowRemote: boolean;
  /** The configuration file read, as given. */
  config?: string;
  /** The log level. */
  logLevel: LogLevel;
  /** The log format. */
  logFormat: LogFormat;
  /** The crypto backend to force; undefined picks the fastest available. */
  crypto?: BackendName;
  /** Worker threads sealing and opening packets (0: all on the main thread; auto: see Agent). */
  cryptoWorkers: number | "auto";
  /** This node's labels. */
  labels: Record<string, string>;
  /** Services this node offers, with their HTTP backends and checks from the file. */
  services: ConfiguredService[];
  /** Services answered by HTTP servers (`--service-http NAME=URL`). */
  serviceHttp: HttpBackendSpec[];
  /** Health checks of this node's services (`--service-check NAME=TARGET,...`). */
  serviceChecks: ServiceCheckEntry[];
  /** What each caller may ask of this node's services (`--service-caller-limit`). */
  serviceCallerLimit: CallerLimitSpec;
  /** Plugins to run, each with the permissions granted to it (`--plugin`, `plugins:`). */
  plugins: PluginSpec[];
  /** The overlay DNS server's UDP port; 0 turns it off. */
  dnsPort: number;
  /** The overlay DNS zone, lowercase, ending with a dot. */
  dnsZone: string;
  /** Forward queries outside the zone to the system resolvers. */
  dnsForward: boolean;
  /** Forward for other members' queries too, not only this host's (`--dns-forward-members`). */
  dnsForwardMembers: boolean;
  /** Probe members' candidate endpoints and take the best path (`--no-nat-traversal`: off). */
  natTraversal: boolean;
  /** Interface addresses as candidates and LAN multicast (`--no-lan-discovery`: off). */
  lanDiscovery: boolean;
  /** Post-quantum preshared keys with the other members (`--no-pq`: off). */
  pq: boolean;
  /** Carry no data with a member before a post-quantum session (`--require-pq`). */
  requirePq: boolean;
  /** Milliseconds between rotations of each pair's post-quantum key. */
  pqRotate: number;
  /** Point the host's resolver at this node (`--accept-dns`, TUN mode). */
  acceptDns: boolean;
  /** Split DNS: domains whose names go to other resolvers. */
  dnsRoute: DnsRoute[];
  /** Seconds between keepalives to peers; 0 turns them off. */
  persistentKeepalive: number;
  /** Members (names or overlay addresses) kept with a session whatever their traffic. */
  keepPeer: string[];
  /** The TUN MTU. */
  mtu: number;
  /** Milliseconds between health probes to each peer. */
  probeInterval: number;
  /** The `policy` section of the file, for the policy module to validate. */
  policy?: PolicySource;
  /** Where each option's value came from. */
  origin: OptionOrigins;
}

/** The name of an option: a property of `AgentConfig`. */
export type OptionKey = Exclude<keyof AgentConfig, "origin">;

/** The origin of every option. */
export type OptionOrigins = { [K in OptionKey]: OptionOrigin };

/**
 * The flags given on the command line, by commander attribute name. Only flags the user set
 * should be present (see `userSetFlags`); undefined values are ignored.
 */
export interface AgentFlags {
  /** `--leader`. */
  leader?: boolean;
  /** `--join <token>`. */
  join?: string;
  /** `--join-timeout <duration>`. */
  joinTimeout?: number | string;
  /** `--cidr <cidr>`. */
  cidr?: string;
  /** `--cidr6 <cidr>`. */
  cidr6?: string;
  /** `--listen-port <port>`: a number, or its decimal text. */
  listenPort?: number | string;
  /** `--tcp-port <port>`: a number, or its decimal text. */
  tcpPort?: number | string;
  /** `--ws-tls-cert <file>`. */
  wsTlsCert?: string;
  /** `--ws-tls-key <file>`. */
  wsTlsKey?: string;
  /** `--ws-tls-port <port>`: a number, or its decimal text. */
  wsTlsPort?: number | string;
  /** `--ws-ca <file>`. */
  wsCa?: string;
  /** `--proxy <url|none>`. */
  proxy?: string;
  /** `--relay`. */
  relay?: boolean;
  /** `--relay-rate <Mbit/s>`: a number, or its decimal text. */
  relayRate?: number | string;
  /** `--advertise-routes <cidr,...>`, repeatable. */
  advertiseRoutes?: string | string[];
  /** `--advertise-exit-node`. */
  advertiseExitNode?: boolean;
  /** `--no-accept-routes` (false). */
  acceptRoutes?: boolean;
  /** `--no-snat-subnet-routes` (false). */
  snatSubnetRoutes?: boolean;
  /** `--exit-node <name|address>`. */
  exitNode?: string;
  /** `--exit-node-allow-lan-access`. */
  exitNodeAllowLanAccess?: boolean;
  /** `--exit-node-fallback`. */
  exitNodeFallback?: boolean;
  /** `--state-dir <dir>`. */
  stateDir?: string;
  /** `--store <url>`. */
  store?: string;
  /** `--store-ca <file>`. */
  storeCa?: string;
  /** `--store-cert <file>`. */
  storeCert?: string;
  /** `--store-key <file>`. */
  storeKey?: string;
  /** `--store-prefix <prefix>`. */
  storePrefix?: string;
  /** `--interface <name>`. */
  interface?: string;
  /** `--userspace`. */
  userspace?: boolean;
  /** `--hostname <name>`. */
  hostname?: string;
  /** `--on-removed <exit|wait>`. */
  onRemoved?: string;
  /** `--advertise <host:port>`, repeatable. */
  advertise?: string | string[];
  /** `--status-listen <host:port>`. */
  statusListen?: string;
  /** `--status-allow-remote`. */
  statusAllowRemote?: boolean;
  /** `--config <file>`. */
  config?: string;
  /** `--log-level <level>`. */
  logLevel?: string;
  /** `--log-format <format>`. */
  logFormat?: string;
  /** `--crypto <backend>`. */
  crypto?: string;
  /** `--crypto-workers <n>`. */
  cryptoWorkers?: number | string;
  /** `--label <k=v>`, repeatable: `k=v` texts or `parseLabel` results. */
  label?: string | LabelPair | (string | LabelPair)[];
  /** `--service <name:port/proto>`, repeatable: texts or `parseService` results. */
  service?: string | ServiceSpec | (string | ServiceSpec)[];
  /** `--service-http <name=url>`, repeatable. */
  serviceHttp?: string | string[];
  /** `--service-check <name=target[,key=value...]>`, repeatable. */
  serviceCheck?: string | string[];
  /** `--service-caller-limit <rate[,burst=n][,concurrent=n]>`. */
  serviceCallerLimit?: string;
  /** `--plugin <file>`, repeatable. */
  plugin?: string | string[];
  /** `--dns-port <port>`. */
  dnsPort?: number | string;
  /** `--dns-zone <zone>`. */
  dnsZone?: string;
  /** `--dns-forward`. */
  dnsForward?: boolean;
  /** `--dns-forward-members`. */
  dnsForwardMembers?: boolean;
  /** `--no-nat-traversal` (false). */
  natTraversal?: boolean;
  /** `--no-lan-discovery` (false). */
  lanDiscovery?: boolean;
  /** `--no-pq` (false). */
  pq?: boolean;
  /** `--require-pq`. */
  requirePq?: boolean;
  /** `--pq-rotate <duration>`. */
  pqRotate?: number | string;
  /** `--accept-dns`. */
  acceptDns?: boolean;
  /** `--dns-route <domain=resolver[,resolver]>`, repeatable. */
  dnsRoute?: string | string[];
  /** `--persistent-keepalive <seconds>`. */
  persistentKeepalive?: number | string;
  /** `--keep-peer <name|address>`, repeatable. */
  keepPeer?: string | string[];
  /** `--mtu <bytes>`. */
  mtu?: number | string;
  /** `--probe-interval <duration>`: `500ms`, `5s`, `1m`, or a number of seconds. */
  probeInterval?: number | string;
}
