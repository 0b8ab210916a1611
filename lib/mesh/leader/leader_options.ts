/**
 * The leader's options: its networks, its policy and its store, and the leader section of a parsed
 * configuration.
 * @module
 */

import type { AgentConfig } from "../../config/agent_config.ts";
import { ConfigError } from "../../config/config_error.ts";
import { compileAt, type PolicyOrigin, policySection } from "../../policy/source.ts";
import type { LeaderStore } from "../store/store.ts";

/** The leader section of a mesh agent's options. */
export interface LeaderOptions {
  /** The mesh network (leader). Default `10.200.0.0/16`. */
  network?: string;
  /** An IPv6 mesh network (leader), allocated alongside the IPv4 one. */
  network6?: string;
  /**
   * Leader: how long a node that was answered but never heard from (no hello, no handshake)
   * keeps its name and address, ms. Default 600000 (10 minutes).
   */
  joinHoldMs?: number;
  /**
   * Leader: how long a removed node's name is kept from other joiners unless the operator frees
   * it (`weft node free-name`), ms. Default 86400000 (24 hours).
   */
  nameHoldMs?: number;
  /**
   * The leader's network policy (YAML text, as `weft policy apply` takes it), put in force at
   * start once checked against the mesh's members as `weft policy apply` checks it: a name no
   * member has (nor the policy's `future:` list) or a failing test stops the start (a
   * `PolicyError`, a `ConfigError` with `policyOrigin`).
   */
  policyText?: string;
  /**
   * Where `policyText` is in its file (a configuration's `policy:` section), for its lines.
   * @ignore internal: the CLI's (a configuration's policy file, the etcd store) and tests'
   */
  policyOrigin?: PolicyOrigin;
  /**
   * Where the leader keeps the mesh's state (members, tokens, policy). Default: `leader.json` in
   * its state directory. Leaders given one shared store (etcd, through `KvLeaderStore`) serve
   * one mesh together; the leader's own key stays in its state directory.
   * @ignore internal: the CLI's (a configuration's policy file, the etcd store) and tests'
   */
  store?: LeaderStore;
}

/**
 * The leader section of a parsed configuration: its networks, and its `policy:` section's text
 * and place. Only a leader's configuration may hold a policy: a node's is a ConfigError, as is a
 * policy that does not validate (at the file's own line).
 */
export function leaderFromConfig(config: AgentConfig, role: "leader" | "node"): LeaderOptions {
  if (config.store !== undefined && role !== "leader") {
    throw new ConfigError(
      "--store: only a leader keeps the mesh's state: a node (--join, or a node's state " +
        "directory) takes no store",
    );
  }
  let policy: Pick<LeaderOptions, "policyText" | "policyOrigin"> = {
    policyText: undefined,
    policyOrigin: undefined,
  };
  if (config.policy) {
    if (role !== "leader") {
      throw new ConfigError("a policy section belongs in the leader's configuration");
    }
    const { text, origin } = policySection(config.policy);
    // A policy that does not validate stops here, before anything is opened; the members are
    // checked once the leader's state is (openLeader).
    compileAt(text, origin);
    policy = { policyText: text, policyOrigin: origin };
  }
  // A default network is left out: a stored mesh keeps its own (openLeader applies the default).
  const network = config.origin.cidr.source === "default" ? undefined : config.cidr;
  return { network, network6: config.cidr6, ...policy };
}

/** A policy put in force: its version, and its warnings (label selectors no member matches). */
export interface PolicyApplied {
  /** The version in force. */
  version: number;
  /** Warnings, each with its line; they did not stop the policy. */
  warnings: string[];
}
