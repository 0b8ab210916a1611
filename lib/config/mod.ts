/**
 * Configuration: the agent's YAML file, environment and flags merged into one
 * {@link AgentConfig}; wg-quick `.conf` files; and the systemd unit that runs the agent
 * (`weft install-service`).
 *
 * @example The configuration `weft --leader` would run with
 * ```ts run
 * import { loadAgentConfig } from "@weft/weft/config";
 *
 * const config = await loadAgentConfig({ flags: { leader: true, listenPort: 51820 } });
 * // Each value, and where it came from: a flag, the environment, the file or the default.
 * console.log(config.listenPort, config.origin.listenPort.source); // prints: 51820 flag
 * console.log(config.origin.stateDir.source); // prints: default
 * ```
 * @module
 */

export {
  type AgentConfig,
  type AgentFlags,
  type LabelPair,
  loadAgentConfig,
  type LoadAgentConfigOptions,
  type PolicySource,
} from "./agent_config.ts";
export type {
  ConfiguredService,
  OptionOrigin,
  OptionOrigins,
  ServiceCheckEntry,
} from "./agent_types.ts";
export { ConfigError } from "./config_error.ts";
export type { NoProxyRule, ProxySetting, ProxyUrl } from "../net/proxy.ts";
export {
  MAX_PLUGINS,
  PLUGIN_PERMISSIONS,
  type PluginPermission,
  type PluginPermissions,
  type PluginSpec,
} from "./plugins.ts";
export {
  loadWgQuickFile,
  parseWgQuick,
  type ParseWgQuickOptions,
  serializeWgQuick,
  type WgQuickConfig,
  type WgQuickEndpoint,
  type WgQuickInterface,
  type WgQuickPeer,
} from "./wgquick.ts";
export {
  type InstalledSystemdUnit,
  installSystemdUnit,
  type InstallSystemdUnitOptions,
  runningWeftBinary,
  systemdUnit,
  SystemdUnitExistsError,
  type SystemdUnitOptions,
} from "./systemd.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type { BackendName } from "../crypto/types.ts";
export type { LogFormat, LogLevel } from "../log/logger.ts";
export type { ServiceSpec } from "../members/member.ts";
export type {
  CallerLimitSpec,
  CheckTarget,
  HttpBackendSpec,
  ServiceCheckSpec,
} from "../members/service_backends.ts";
export type { DnsRoute } from "../net/dns_route.ts";
export type { OptionKey } from "./agent_types.ts";
