/**
 * A mesh agent run from a parsed configuration (`weft --leader`, `weft --join`): which role it
 * plays, the options `MeshAgent.start` takes, each part reading its own section of the
 * configuration, and where its control server listens.
 * @module
 */

import { type AgentConfig, validateRunMode } from "../config/agent_config.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { joinFromConfig } from "./join/client.ts";
import { leaderFromConfig } from "./leader/service.ts";
import type { MeshOptions } from "./mesh_agent.ts";
import { dnsFromConfig } from "../dns/mesh_dns.ts";
import { identityFromConfig, servicesFromConfig, underlayFromConfig } from "./options/options.ts";
import { peersFromConfig } from "./peers/peers.ts";
import { subnetsFromConfig } from "./subnets/accepted.ts";
import { StateDir } from "./state/state.ts";
import { natFromConfig } from "./nat/mesh_paths.ts";
import { pqFromConfig } from "./pq/mesh_pq.ts";

/** What the configuration does not say. */
export interface MeshConfigDeps {
  /** The role (see {@link meshRoleFromConfig}). */
  role: "leader" | "node";
  /** The logger; default one made from the configuration's log level and format. */
  logger?: Logger;
}

/**
 * The mesh agent's options from a parsed configuration. A configuration error (a policy in a
 * node's configuration, a policy that does not validate) is a `ConfigError`.
 *
 * @example What `weft --config weft.yaml` starts
 * ```ts run
 * import { loadAgentConfig, MeshAgent, meshOptionsFromConfig, meshRoleFromConfig } from "@weft/weft";
 * const dir = await Deno.makeTempDir();
 * const yaml = ["leader: true", "hostname: hq", `state-dir: ${dir}/state`, "userspace: true"]
 *   .concat(["listen-port: 52820", "advertise: [127.0.0.1:52820]", "dns-port: 0"]);
 * await Deno.writeTextFile(`${dir}/weft.yaml`, yaml.join("\n") + "\n");
 * const config = await loadAgentConfig({ configPath: `${dir}/weft.yaml` }); // and WEFT_* variables
 * const options = meshOptionsFromConfig(config, { role: await meshRoleFromConfig(config) });
 * const mesh = await MeshAgent.start(options);
 * console.log(mesh.role, mesh.name, options.listenPort); // prints: leader hq 52820
 * await mesh.close();
 * ```
 */
export function meshOptionsFromConfig(
  config: AgentConfig,
  deps: MeshConfigDeps,
): MeshOptions & { logger: Logger } {
  return {
    role: deps.role,
    logger: deps.logger ?? createLogger({ level: config.logLevel, format: config.logFormat }),
    ...identityFromConfig(config),
    ...underlayFromConfig(config),
    ...joinFromConfig(config),
    ...leaderFromConfig(config, deps.role),
    ...peersFromConfig(config),
    ...subnetsFromConfig(config),
    ...dnsFromConfig(config),
    ...servicesFromConfig(config),
    ...natFromConfig(config),
    ...pqFromConfig(config),
    ...(config.plugins.length ? { plugins: config.plugins } : {}),
  };
}

/**
 * Leader or node: from `leader`/`join`, or, with neither, from what the state directory holds (a
 * restarted node needs no token), else from `store` (only leaders take one). Neither and an
 * empty state directory is a `ConfigError`.
 */
export async function meshRoleFromConfig(config: AgentConfig): Promise<"leader" | "node"> {
  if (config.leader || config.join) return validateRunMode(config) === "leader" ? "leader" : "node";
  const state = new StateDir(config.stateDir);
  if (await state.readLeader()) return "leader";
  if (await state.readNode()) return "node";
  // A leader on a shared store keeps only its key in its directory: --store says the role.
  if (config.store !== undefined) return "leader";
  return validateRunMode(config) === "leader" ? "leader" : "node"; // throws the usage message
}

/** Where the mesh agent's control server listens, and the token it wants (from the state). */
export interface MeshControlOptions {
  /** `HOST:PORT`. */
  listen: string;
  /** Whether a listener other than loopback is allowed. */
  allowRemote: boolean;
  /** The bearer token of `/v1/*`, made and kept in the state directory on first use. */
  token: string;
  /** The read-only token of `GET /status` and `GET /metrics`, kept there too. */
  monitorToken: string;
  /** The control socket in the state directory (`weft.sock`), for the local commands. */
  socket: string;
  /** Writes a new control token to the state directory and gives it (`weft token rotate-control`). */
  rotateToken: () => Promise<string>;
}

/** The control server's section of a parsed configuration, with the state directory's token. */
export async function meshControlFromConfig(config: AgentConfig): Promise<MeshControlOptions> {
  return {
    listen: config.statusListen,
    allowRemote: config.statusAllowRemote,
    ...await new StateDir(config.stateDir).controlServerSecrets(),
  };
}
