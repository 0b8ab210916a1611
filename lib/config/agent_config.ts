/**
 * The configuration of `weft --leader` and `weft --join`: {@link loadAgentConfig} reads the YAML
 * file, lays the command-line flags over it, fills in defaults and checks options against each
 * other, returning an {@link AgentConfig}.
 *
 * The parts: `options.ts` declares every option (flag, YAML key, type, default, help, parser;
 * the rows of each area in `options_*.ts`, what a row says in `option_spec.ts`);
 * `combinators.ts` and `values.ts` are the parsers values go through; `yaml_source.ts` reads the
 * file with line positions and bounds; `merge.ts` says how file, flags and defaults combine;
 * `help.ts` renders the table; `agent_types.ts` declares the shapes this module re-exports.
 * @module
 */

import { ConfigError } from "./config_error.ts";
import type { AgentConfig, AgentFlags, OptionKey, OptionOrigins } from "./agent_types.ts";
import type { Where } from "./input.ts";
import { OPTIONS } from "./options.ts";
import type { OptionSpec } from "./option_spec.ts";
import { applyDefaults, applyFlags, readFileOptions, type Values } from "./merge.ts";
import { liveSystem, type SystemInfo } from "./system.ts";
import { isLoopbackHost, parseHostPort } from "../net/hostport.ts";

export type {
  AgentConfig,
  AgentFlags,
  ConfiguredService,
  OptionKey,
  OptionOrigin,
  OptionOrigins,
  ServiceCheckEntry,
} from "./agent_types.ts";
export type { PolicySource } from "./yaml_source.ts";
export type { LabelPair } from "../members/labels.ts";
export { MAX_CONFIG_BYTES } from "./yaml_source.ts";
export { MAX_VALUE_CHARS } from "./input.ts";
export { defaultStateDir, type SystemInfo } from "./system.ts";
export { type OptionHelp, optionHelp, optionTableMarkdown } from "./help.ts";
export { userSetFlags } from "./merge.ts";
export { parseLabel, parseService } from "./values.ts";

/** The arguments of `loadAgentConfig`. */
export interface LoadAgentConfigOptions {
  /** The flags the user set; see `AgentFlags`. */
  flags?: AgentFlags;
  /** The YAML file to read; defaults to `flags.config`; no file when both are absent. */
  configPath?: string;
  /**
   * Overrides for the machine facts used by defaults (for tests).
   * @ignore internal: tests' machine facts
   */
  system?: Partial<SystemInfo>;
}

/** How messages name an option: by the flag or the key, wherever its value came from. */
function locate(config: AgentConfig, key: OptionKey): { name: string; where: Where } {
  const o = config.origin[key];
  const spec = OPTIONS[key] as OptionSpec<unknown>;
  if (o.source === "flag") return { name: o.flag ?? spec.flag!, where: {} };
  return {
    name: spec.yaml ?? spec.flag!,
    where: o.source === "file" ? { file: o.file, line: o.line } : {},
  };
}

/**
 * HTTP backends and checks given as flags against the services' entries: one backend and one
 * check per service, and a check only of a service offered here (listed, or answered by an HTTP
 * backend), which it could not otherwise affect.
 */
function checkServiceExtras(config: AgentConfig): void {
  const inEntries = (what: "http" | "check") =>
    new Set(config.services.filter((s) => s[what] !== undefined).map((s) => s.name));
  const http = inEntries("http");
  for (const b of config.serviceHttp) {
    if (http.has(b.name)) {
      throw new ConfigError(
        `--service-http: service ${b.name} has an HTTP backend in the configuration file already`,
      );
    }
  }
  const checked = inEntries("check");
  const offered = new Set([
    ...config.services.map((s) => s.name),
    ...config.serviceHttp.map((b) => b.name),
  ]);
  for (const c of config.serviceChecks) {
    if (checked.has(c.service)) {
      throw new ConfigError(
        `--service-check: service ${c.service} has a check in the configuration file already`,
      );
    }
    if (!offered.has(c.service)) {
      throw new ConfigError(
        `--service-check: service ${c.service} is not offered here ` +
          "(give --service or --service-http for it)",
      );
    }
  }
}

/**
 * The store's options: only with a store, a certificate with its key and a CA (that only a leader
 * takes one is checked once the role is known: leaderFromConfig).
 */
function checkStore(config: AgentConfig): void {
  if (config.store === undefined) {
    for (const k of ["storeCa", "storeCert", "storeKey", "storePrefix"] as const) {
      if (config.origin[k].source === "default") continue;
      const at = locate(config, k);
      throw new ConfigError(`${at.name} needs a store (--store etcd://HOST:PORT)`, at.where);
    }
    return;
  }
  if ((config.storeCert === undefined) !== (config.storeKey === undefined)) {
    const at = locate(config, config.storeCert === undefined ? "storeKey" : "storeCert");
    throw new ConfigError(`${at.name}: store-cert and store-key go together`, at.where);
  }
  if (config.storeCert !== undefined && config.storeCa === undefined) {
    const at = locate(config, "storeCert");
    throw new ConfigError(`${at.name}: a client certificate needs store-ca (TLS)`, at.where);
  }
}

/** wss: a certificate with its key, on the TCP transport (which serves the WebSockets). */
function checkWebSocketTls(config: AgentConfig): void {
  if ((config.wsTlsCert === undefined) !== (config.wsTlsKey === undefined)) {
    const at = locate(config, config.wsTlsCert === undefined ? "wsTlsKey" : "wsTlsCert");
    throw new ConfigError(`${at.name}: ws-tls-cert and ws-tls-key go together`, at.where);
  }
  if (config.wsTlsCert === undefined && config.origin.wsTlsPort.source !== "default") {
    const at = locate(config, "wsTlsPort");
    throw new ConfigError(`${at.name} needs ws-tls-cert and ws-tls-key`, at.where);
  }
  if (config.wsTlsCert !== undefined && config.tcpPort === 0) {
    const at = locate(config, "wsTlsCert");
    throw new ConfigError(`${at.name} needs the TCP transport (tcp-port is 0)`, at.where);
  }
}

/** Carrying routes for others forwards through the kernel: TUN mode only. */
function checkRoutes(config: AgentConfig): void {
  if (config.exitNode !== undefined && config.advertiseExitNode) {
    const at = locate(config, "exitNode");
    throw new ConfigError(
      `${at.name}: an exit node sends its internet traffic out itself (advertise-exit-node)`,
      at.where,
    );
  }
  if (config.exitNodeFallback && config.exitNode === undefined) {
    const at = locate(config, "exitNodeFallback");
    throw new ConfigError(`${at.name}: a fallback for no exit node: give exit-node`, at.where);
  }
  if (!config.userspace) return;
  for (const k of ["advertiseRoutes", "advertiseExitNode"] as const) {
    if (config.origin[k].source === "default") continue;
    if (k === "advertiseExitNode" ? !config.advertiseExitNode : !config.advertiseRoutes.length) {
      continue;
    }
    const at = locate(config, k);
    throw new ConfigError(
      `${at.name}: carrying traffic for the mesh needs TUN mode (the kernel forwards it); ` +
        "drop --userspace",
      at.where,
    );
  }
}

/** Pointing the host's resolver here needs the DNS server, on the kernel's overlay address. */
function checkAcceptDns(config: AgentConfig): void {
  if (!config.acceptDns) return;
  const at = locate(config, "acceptDns");
  if (config.userspace) {
    throw new ConfigError(
      `${at.name}: the host's resolver can reach weft only through its TUN interface; ` +
        "drop --userspace",
      at.where,
    );
  }
  if (config.dnsPort === 0) {
    throw new ConfigError(`${at.name}: needs the DNS server (dns-port is 0)`, at.where);
  }
  if (config.dnsPort === 53) {
    throw new ConfigError(
      `${at.name}: serves the host's resolver on port 53 of the overlay address itself; ` +
        "leave dns-port at another port (default 15353)",
      at.where,
    );
  }
}

function crossCheck(config: AgentConfig): void {
  checkServiceExtras(config);
  checkStore(config);
  checkWebSocketTls(config);
  checkRoutes(config);
  checkAcceptDns(config);
  if (config.cidr6 !== undefined && config.mtu < 1280) {
    // IPv6 requires every link to carry 1280-byte packets (RFC 8200 section 5).
    const at = locate(config, config.origin.mtu.source === "default" ? "cidr6" : "mtu");
    throw new ConfigError(
      `${at.name}: an IPv6 overlay (cidr6) needs mtu 1280 or more, got ${config.mtu}`,
      at.where,
    );
  }
  const status = parseHostPort(config.statusListen, { minPort: 0 });
  if (!isLoopbackHost(status.host) && !config.statusAllowRemote) {
    const at = locate(config, "statusListen");
    throw new ConfigError(
      `${at.name}: ${config.statusListen} is reachable from other hosts; set ` +
        "status-allow-remote (--status-allow-remote) to serve status beyond loopback",
      at.where,
    );
  }
  if (config.dnsPort !== 0 && config.dnsPort === config.listenPort) {
    const at = locate(
      config,
      config.origin.dnsPort.source === "default" ? "listenPort" : "dnsPort",
    );
    throw new ConfigError(
      `${at.name}: dns-port and listen-port are both UDP port ${config.dnsPort}; pick two ports`,
      at.where,
    );
  }
  // TCP is on the listen port's number unless tcp-port says otherwise; the DNS server and the
  // status server listen on TCP too.
  const tcp = config.tcpPort ?? config.listenPort;
  const clash = tcp === 0
    ? undefined
    : tcp === config.dnsPort
    ? "dns-port"
    : tcp === status.port
    ? "status-listen"
    : undefined;
  if (clash !== undefined) {
    const own = config.origin.tcpPort.source !== "default";
    const at = locate(config, own ? "tcpPort" : "listenPort");
    throw new ConfigError(
      own
        ? `${at.name}: tcp-port and ${clash} are both TCP port ${tcp}; pick two ports`
        : `${at.name}: TCP is on the listen port's number (tcp-port) and ${clash} is TCP ` +
          `port ${tcp} too; pick two ports, or set tcp-port`,
      at.where,
    );
  }
}

/**
 * Reads the YAML file (if any), checks every key and value, fills in defaults, lays the given
 * flags over the result and checks options against each other. Throws a ConfigError naming the
 * file and line (or the flag) for bad input, and a TypeError when `flags` has a key that is not
 * an option's commander attribute (a bug in the caller). Does not check the run mode: see
 * `validateRunMode`.
 */
export async function loadAgentConfig(options: LoadAgentConfigOptions = {}): Promise<AgentConfig> {
  const flags = options.flags ?? {};
  const sys = liveSystem(options.system ?? {});
  const values: Values = {};
  const origin: Partial<OptionOrigins> = {};
  const file = options.configPath ?? flags.config;
  if (file !== undefined) {
    if (file.trim() === "") throw new ConfigError("--config: the path is empty");
    await readFileOptions(file, sys, values, origin);
  }
  applyFlags(flags, sys, values, origin);
  if (file !== undefined) {
    values.config = file;
    origin.config = { source: "flag", flag: "--config" };
  }
  applyDefaults(sys, values, origin);
  const config = { ...values, origin } as AgentConfig;
  crossCheck(config);
  return config;
}

/**
 * Checks that exactly one of leader and join is set, as running an agent requires (subcommands
 * such as `weft token` skip this); returns the mode.
 */
export function validateRunMode(config: AgentConfig): "leader" | "join" {
  const join = config.join !== undefined;
  if (config.leader && join) {
    const at = locate(config, config.origin.join.source === "file" ? "join" : "leader");
    throw new ConfigError(
      "leader and join exclude each other: a node either leads the mesh or joins one",
      at.where,
    );
  }
  if (config.leader) return "leader";
  if (join) return "join";
  throw new ConfigError(
    "give --leader to start a mesh or --join <token> to join one " +
      "(or `leader: true` / `join: <token>` in the configuration file)",
  );
}
