/**
 * A mesh agent: `weft --leader` or `weft --join <token>`. It runs an agent (lib/agent) whose peers
 * are the other members, keeps membership in sync through the leader, and persists what it needs
 * to restart alone. Node-to-node sessions are direct, so traffic does not depend on the leader.
 *
 * This module is the facade. Its start locks the state directory, lays the runtime preferences
 * over the options and resolves them once into a section per part (`resolve.ts`), opens the
 * leader's state or the node's file, joining first when it must (`boot.ts`, `join/`), and hands
 * the rest to the composition root (`compose.ts`), which starts the agent, makes every part from
 * its section and lists them in start order. What it keeps is the API over the parts: the
 * leader's operations, the runtime preferences (`set`), the service layer, and close.
 * @module
 */

import type { ControlledAgent, PingResult } from "../agent/agent.ts";
import { ConfigError } from "../config/config_error.ts";
import type { DirLock } from "../config/dir_lock.ts";
import { selectSuite } from "../crypto/select.ts";
import type { DnsServer } from "../dns/server.ts";
import type { HealthListener } from "../health/health.ts";
import { createLogger } from "../log/logger.ts";
import type { Collector } from "../metrics/registry.ts";
import { ownLabelsProblem } from "../members/labels.ts";
import type { Member, MembershipView, ServiceSpec } from "../members/member.ts";
import type { MeshPaths } from "./nat/mesh_paths.ts";
import type { PolicyEngine } from "../policy/engine.ts";
import type { PolicyFilter } from "../policy/filter.ts";
import { parsePolicy } from "../policy/parse.ts";
import type { PolicyDocument } from "../policy/schema.ts";
import { type SegmentSpec, type SegmentView, segmentViews } from "../policy/segment_admin.ts";
import type { VersionedPolicy } from "../policy/source.ts";
import type { MeshRoutes } from "./relay/mesh_routes.ts";
import type { MeshServices } from "../services/mesh_services.ts";
import { type MeshStatus, meshStatus } from "../status/mesh_status.ts";
import type { NodeStatus, PeerStatus } from "../status/status.ts";
import { abandonState, keepState, openLeader, openNode, openState } from "./boot.ts";
import { type Boot, composeMesh, type MeshComposition } from "./compose.ts";
import { type CheckedToken, checkJoinToken, JoinError } from "./join/client.ts";
import { type GrantChange, type LeaderCore, LeaderError } from "./leader/core.ts";
import type { CreatedToken, LeaderService, PolicyApplied, TokenOptions } from "./leader/service.ts";
import type { MeshOptions } from "./mesh_options.ts";
import { ownRoutes } from "./options/options.ts";
import {
  layerPrefs,
  mergePrefs,
  type Prefs,
  PREFS_FILE,
  type PrefsChange,
  type PrefSettings,
  readPrefs,
  writePrefs,
} from "./prefs.ts";
import { configuredSettings, type ResolvedMesh, resolveMesh } from "./resolve.ts";
import type { StateDir } from "./state/state.ts";
import type { Prober } from "./sync/protocol.ts";

export { checkJoinToken, JoinError, JoinUnavailableError } from "./join/client.ts";
export type { MeshOptions } from "./mesh_options.ts";
// `mesh.services` is the service API: its type goes wherever the agent does.
export { MeshServices } from "../services/mesh_services.ts";

/** A mesh agent's role. */
export type MeshRole = "leader" | "node";

/** What a mesh agent is made of: its resolved options, its state, and the composed parts. */
interface MeshShell {
  mesh: ResolvedMesh;
  state: StateDir;
  /** The state directory's lock, released last when the agent closes. */
  lock: DirLock;
  composed: MeshComposition;
  /** The settings `weft set` changes as configured, and the preferences set over them. */
  settings: { configured: PrefSettings; prefs: Prefs };
}

/** A running mesh agent; the example of `@weft/weft/mesh` starts a leader and a node. */
export class MeshAgent<R extends MeshRole = MeshRole> {
  /**
   * The agent (device, drivers, userspace API).
   * @ignore internal: for the control server, the CLI and tests
   */
  readonly agent: ControlledAgent;
  /** `leader` or `node`. */
  readonly role: R;
  /** This node's name. */
  readonly name: string;
  /**
   * The leader's state: on a leader, always; on a node, null.
   * @ignore internal: the leader's core, for the control routes and tests
   */
  readonly leader: R extends "leader" ? LeaderCore : R extends "node" ? null : LeaderCore | null;
  /**
   * Probes peers through the tunnel.
   * @ignore internal: for the control routes and tests
   */
  readonly prober: Prober;
  /**
   * The network policy engine (rules compiled against the membership).
   * @ignore internal: for the control server, the CLI and tests
   */
  readonly policyEngine: PolicyEngine;
  /**
   * The stateful filter enforcing it on this node's tunnel.
   * @ignore internal: for the control server, the CLI and tests
   */
  readonly policyFilter: PolicyFilter;
  readonly #shell: MeshShell;
  readonly #parts: MeshComposition;
  #closed = false;
  // The policy in force parsed for segments(), by version.
  #segmentDoc: { version: number; doc: PolicyDocument } | null = null;
  // Until start() returns, the state directory's lock is the start's: a start that fails removes
  // what it made in the directory before it lets the lock go.
  #starting = true;
  // The labels and services the agent was started with (flags, file), the preferences set at
  // runtime over them (prefs.ts), and the changes one after the other.
  readonly #configured: PrefSettings;
  #prefs: Prefs;
  #setting: Promise<unknown> = Promise.resolve();

  private constructor(shell: MeshShell) {
    const c = shell.composed;
    this.#shell = shell;
    this.#parts = c;
    this.agent = c.agent;
    const role = c.role;
    this.role = role.role as R;
    // The name the mesh knows it by: a node's join may have been granted its previous one.
    this.name = c.membership.member(c.agent.device.publicKey)?.name ??
      shell.mesh.identity.hostname;
    this.leader = (role.role === "leader" ? role.core : null) as MeshAgent<R>["leader"];
    this.prober = c.channel.prober;
    this.policyEngine = c.policy.engine;
    this.policyFilter = c.policy.filter;
    this.#configured = shell.settings.configured;
    this.#prefs = shell.settings.prefs;
  }

  /** Whether this agent is the leader (narrows its type: `leader` is then not null). */
  isLeader(): this is MeshAgent<"leader"> {
    return this.#parts.role.role === "leader";
  }

  /** Starts a leader or a node; a fresh node joins with its token first. */
  static async start<O extends MeshOptions>(opts: O): Promise<MeshAgent<O["role"]>> {
    const logger = opts.logger ?? createLogger();
    let checked: CheckedToken | null;
    try {
      if (opts.role === "node") {
        const p = ownLabelsProblem(opts.labels ?? {});
        if (p !== undefined) throw new JoinError(p);
      }
      // A token that cannot be used is refused before anything is created on disk.
      checked = opts.role === "node" && opts.token
        ? checkJoinToken(opts.token, selectSuite(opts.crypto).dh)
        : null;
    } catch (e) {
      opts.stateLock?.release(); // the agent took it over
      throw e;
    }
    // The state directory is locked first: a second agent on it stops here.
    const opened = await openState(opts.stateDir, logger, opts.stateLock);
    const configured = configuredSettings(opts);
    let mesh: MeshAgent<O["role"]>;
    try {
      // What `weft set` changed at runtime is laid over the configuration (prefs.ts); then the
      // options are resolved, once, into the section of each part.
      const prefs = await readPrefs(opened.state.path(PREFS_FILE));
      const resolved = resolveMesh({ ...opts, logger }, layerPrefs(configured, prefs));
      const boot = resolved.role === "leader"
        ? await openLeader(resolved, opened, logger).then(({ core, addresses }) => ({
          opened,
          addresses,
          start: { core },
        }))
        : await openNode(resolved, opened, checked, logger).then((n) => ({
          opened,
          addresses: n.addresses,
          start: { node: n.node, joinedOver: n.joinedOver, run: n.run },
        }));
      mesh = await MeshAgent.#compose<O["role"]>(resolved, boot, { configured, prefs });
    } catch (e) {
      // #compose closed what it had opened; what the start made in the state directory goes
      // (a key, a new leader's state, the directory), then the lock.
      await abandonState(opened, logger);
      throw e;
    }
    keepState(opened);
    mesh.#starting = false;
    return mesh;
  }

  /**
   * Has the composition root start the agent and make the parts, then starts them in their
   * order. If any of it fails, everything opened so far is closed before the error is rethrown,
   * so a failed start leaves no socket or timer behind.
   */
  static async #compose<R extends MeshRole>(
    mesh: ResolvedMesh,
    boot: Boot,
    settings: MeshShell["settings"],
  ): Promise<MeshAgent<R>> {
    const composed = await composeMesh(mesh, boot);
    const agent = new MeshAgent<R>({
      mesh,
      state: boot.opened.state,
      lock: boot.opened.lock,
      composed,
      settings,
    });
    try {
      await composed.parts.start();
      return agent;
    } catch (e) {
      try {
        await agent.close();
      } catch (closing) {
        mesh.logger.error("closing after a failed start failed", { error: String(closing) });
      }
      throw e;
    }
  }

  /**
   * The paths to the other members (null when NAT traversal is off).
   * @ignore internal: the path table, for the control routes and tests
   */
  get paths(): MeshPaths | null {
    return this.#parts.nat?.paths ?? null;
  }

  /**
   * The routes through relays and TCP (null when NAT traversal is off).
   * @ignore internal: the relay and TCP routes, for the control routes and tests
   */
  get routes(): MeshRoutes | null {
    return this.#parts.nat?.routes ?? null;
  }

  /**
   * The mesh view (leader only; null on a node): every member and every link between two
   * members, merged from the members' link reports. `/status` serves it as `mesh`.
   */
  meshStatus(): MeshStatus | null {
    const store = this.#parts.links.store;
    if (!store) return null;
    return meshStatus(this.view().members, store.reports(), this.agent.device.publicKey);
  }

  /** This node and its peers (their paths, health and traffic), as `weft status` shows them. */
  status(): { node: NodeStatus; peers: PeerStatus[] } {
    return this.agent.status();
  }

  /**
   * Sends `count` ICMP echo requests through the tunnel to a member's overlay address (`weft
   * ping`), in userspace and TUN mode alike; each reply's round trip and the path it took (null
   * for none in `timeoutMs`). The first may wait for a handshake.
   */
  async ping(
    address: string,
    opts: { count?: number; timeoutMs?: number; intervalMs?: number } = {},
  ): Promise<PingResult> {
    return await this.agent.ping(address, opts);
  }

  /** Calls `fn` on each change of a member's health (up, degraded, down); returns the stop. */
  onHealth(fn: HealthListener): () => void {
    return this.agent.onHealth(fn);
  }

  /**
   * Adds a collector to this agent's `/metrics` page (see `Agent.addCollector`); returns the
   * function that removes it.
   */
  addCollector(collector: Collector): () => void {
    return this.agent.addCollector(collector);
  }

  /**
   * The DNS server, when on.
   * @ignore internal: for the control server, the CLI and tests
   */
  get dns(): DnsServer | null {
    return this.#parts.dns?.server ?? null;
  }

  /**
   * The parts' names in start order (close runs in reverse); see compose.ts.
   * @ignore internal: for the control server, the CLI and tests
   */
  get partNames(): string[] {
    return this.#parts.parts.names;
  }

  /** The network policy in force, if any. */
  get policy(): VersionedPolicy | null {
    return this.#parts.policy.policy;
  }

  /** This node's own member record in the current view. */
  get self(): Member | undefined {
    return this.#parts.membership.member(this.agent.device.publicKey);
  }

  /** The membership view this node holds. */
  view(): MembershipView {
    return this.#parts.membership.view;
  }

  /**
   * Calls `fn` once when the leader removes this node from the mesh (`weft node remove`): it has
   * no peers from then on. Only the leader can say it (its own overlay address, authenticated
   * by WireGuard). The agent keeps running: what to do (stop, wait for an operator) is the
   * caller's. Never called on the leader. Returns the function that stops it.
   */
  onRemoved(fn: () => void): () => void {
    const role = this.#parts.role;
    return role.role === "node" ? role.sync.onRemoved(fn) : () => {};
  }

  /** Whether the leader removed this node (see {@link MeshAgent.onRemoved}). */
  get removed(): boolean {
    const role = this.#parts.role;
    return role.role === "node" && role.sync.removed;
  }

  /** Subscribes to membership changes; returns the unsubscribe function. */
  onMembership(fn: (v: MembershipView) => void): () => void {
    return this.#parts.membership.subscribe(fn);
  }

  /**
   * Labels that nodes claimed outside `node.weft/` (in a join or a hello), dropped.
   * @ignore internal: for the control server, the CLI and tests
   */
  get labelsDropped(): number {
    const role = this.#parts.role;
    return role.role === "leader" ? role.service.labelsDropped : 0;
  }

  #needLeader(): LeaderService {
    const role = this.#parts.role;
    if (role.role !== "leader") throw new LeaderError("this node is not the leader");
    return role.service;
  }

  /**
   * Creates a join token (leader only): nodes joining with it get its labels, may offer the
   * services it names, and with `relay` may relay for others (the example of
   * `@weft/weft/mesh` makes one).
   */
  async createToken(opts: TokenOptions = {}): Promise<CreatedToken> {
    return await this.#needLeader().createToken(opts);
  }

  /**
   * Changes what a node was granted (leader only; `weft node set`): relaying for others, labels
   * set or removed (policies, scoped views and segments follow).
   */
  async setNodeGrants(nameOrAddress: string, change: GrantChange): Promise<Member> {
    return await this.#needLeader().setNodeGrants(nameOrAddress, change);
  }

  /**
   * Service offers the leader left out of member records for want of a grant (leader only).
   * @ignore internal: for the control server, the CLI and tests
   */
  get servicesRefused(): number {
    const role = this.#parts.role;
    return role.role === "leader" ? role.service.servicesRefused : 0;
  }

  /** Removes a node from the mesh (leader only). */
  async removeNode(nameOrAddress: string): Promise<Member> {
    return await this.#needLeader().removeNode(nameOrAddress);
  }

  /**
   * Frees a removed node's name before its grace period (24 h by default) ends, so that another
   * joiner may have it (leader only; `weft node free-name`).
   */
  async freeName(name: string): Promise<void> {
    return await this.#needLeader().freeName(name);
  }

  /**
   * Puts a policy (YAML text, as `weft policy apply` takes it) in force at the leader and sends
   * it to every node, once it is checked whole against the members: a name a selector gives that
   * no member has (nor the policy's `future:` list) and a test of its `tests:` that fails refuse
   * it, with every other problem of the text, in one `PolicyError` (`problems`); the policy in
   * force stays. Label selectors that match no member are warnings. The same text again changes
   * nothing (the same version).
   */
  async applyPolicy(text: string): Promise<PolicyApplied> {
    return await this.#needLeader().setPolicy(text);
  }

  /**
   * Adds a Layer 2 segment to the policy in force (leader only; `weft segment create`): a new
   * policy version, stored and sent to every node like {@link MeshAgent.applyPolicy}'s, whose
   * members each get the bridge `br-<name>`. The whole document is validated again: a name or
   * VNI another segment has rejects with a `SegmentConflictError`, anything else the policy
   * refuses (a bad name, VNI, MTU or selector) with its `PolicyError`. Changes at once apply one
   * after the other, each on top of the one before. The example of `@weft/weft/mesh` makes one.
   */
  async createSegment(spec: SegmentSpec): Promise<{ version: number }> {
    return { version: await this.#needLeader().createSegment(spec) };
  }

  /**
   * Removes a segment from the policy in force (leader only; `weft segment delete`), as
   * {@link MeshAgent.createSegment} adds one; a name the policy does not hold rejects with a
   * `SegmentNotFoundError`.
   */
  async deleteSegment(name: string): Promise<{ version: number }> {
    return { version: await this.#needLeader().deleteSegment(name) };
  }

  /**
   * The segments of the policy in force on this node, each with the members of this node's view
   * it selects (`weft segment list`, `GET /v1/segments`).
   */
  segments(): SegmentView[] {
    const p = this.policy;
    if (!p) return [];
    if (this.#segmentDoc?.version !== p.version) {
      this.#segmentDoc = { version: p.version, doc: parsePolicy(p.text) };
    }
    return segmentViews(this.#segmentDoc.doc, this.view().members);
  }

  /**
   * Replaces the services this node advertises (served in every node's DNS once the leader has
   * them). Resolves when the leader has them (leader) or when they were sent (node).
   */
  async setServices(services: ServiceSpec[]): Promise<void> {
    const copy = services.map((x) => ({ ...x }));
    // With what the service layer adds (services provided here, health).
    const list = this.#parts.services.configure(copy);
    this.#parts.leases.offer(list.map((s) => s.name));
    const role = this.#parts.role;
    if (role.role === "leader") await role.service.setServices(list);
    else role.sync.setServices(list);
  }

  /**
   * Changes this node's own labels (`node.weft/` ones) and the services it offers at runtime
   * (`weft set`, `PATCH /v1/prefs`; `parsePrefsChange` parses the API's form): only what the
   * change names. The preferences are written to `prefs.json` in the state directory before it
   * resolves, and every later start lays them over its configuration (see `lib/mesh/prefs.ts`
   * for the precedence; `reset` goes back to the configuration). Each change goes to the leader
   * at once: a node's next hello is sent now, a leader updates its own record. Changes run one
   * after the other. Resolves with the labels and services in force; rejects with a
   * `ConfigError` (too many labels or services) and changes nothing.
   */
  set(change: PrefsChange): Promise<PrefSettings> {
    const run = this.#setting.catch(() => {}).then(() => this.#set(change));
    this.#setting = run;
    return run;
  }

  async #set(change: PrefsChange): Promise<PrefSettings> {
    const before = layerPrefs(this.#configured, this.#prefs);
    const next = mergePrefs(this.#prefs, change);
    const after = layerPrefs(this.#configured, next);
    const routesBefore = ownRoutes(before);
    const routes = ownRoutes(after);
    const routesChanged = String(routesBefore) !== String(routes);
    const router = this.#parts.router;
    const exit = this.#parts.exit;
    const exitWant = (s: PrefSettings) => ({
      exitNode: s.exitNode ?? null,
      allowLanAccess: s.exitNodeAllowLanAccess,
      fallback: s.exitNodeFallback,
    });
    const exitChanged = JSON.stringify(exitWant(before)) !== JSON.stringify(exitWant(after));
    if (exitChanged && !exit) {
      throw new ConfigError(
        "choosing an exit node at runtime needs TUN mode and the Linux underlay (restart with " +
          "--exit-node)",
      );
    }
    if (routesChanged) {
      if (!router) {
        throw new ConfigError(
          "carrying routes for the mesh needs TUN mode (the kernel forwards them)",
        );
      }
      // The host first: what it cannot forward is refused before anything is written or told.
      await router.setPrefixes(routes);
    }
    if (exitChanged) {
      try {
        await exit!.set(exitWant(after));
      } catch (e) {
        if (routesChanged) await router?.setPrefixes(routesBefore).catch(() => {});
        throw e;
      }
    }
    try {
      // On disk before anything says it is in force: a restart keeps what was answered.
      await writePrefs(this.#shell.state.path(PREFS_FILE), next);
    } catch (e) {
      if (routesChanged) await router?.setPrefixes(routesBefore).catch(() => {});
      if (exitChanged) await exit?.set(exitWant(before)).catch(() => {});
      throw e;
    }
    this.#prefs = next;
    if (before.acceptRoutes !== after.acceptRoutes) {
      await this.#parts.accepted.setAccept(after.acceptRoutes);
    }
    if (routesChanged) {
      const role = this.#parts.role;
      if (role.role === "node") role.sync.setRoutes(routes);
      else await role.core.updateMember(this.agent.device.publicKey, { advertisedRoutes: routes });
    }
    if (JSON.stringify(before.labels) !== JSON.stringify(after.labels)) {
      const role = this.#parts.role;
      if (role.role === "node") role.sync.setLabels(after.labels);
      else {
        // The leader's own record: its node.weft/ labels (the granted ones are its config's).
        await role.core.updateMember(this.agent.device.publicKey, { nodeLabels: after.labels });
      }
    }
    if (JSON.stringify(before.services) !== JSON.stringify(after.services)) {
      await this.setServices(after.services);
    }
    return after;
  }

  /** The preferences set at runtime and the labels and services in force with them. */
  prefs(): { prefs: Prefs; settings: PrefSettings } {
    return {
      prefs: structuredClone(this.#prefs),
      settings: layerPrefs(this.#configured, this.#prefs),
    };
  }

  /**
   * The service layer: provide services (`provide`, `provideHttp`), call them, publish and
   * subscribe, health checks, the instances of every service, the services'
   * leaders and leases: the whole service API (the agent forwards none of it; the example of
   * `@weft/weft/services` uses it).
   */
  get services(): MeshServices {
    return this.#parts.services;
  }

  /**
   * Stops the agent; state stays on disk. A node says bye to the leader first (waiting at most
   * about a second for its answer): the leader marks it offline and withdraws its services at
   * once, so callers stop sending to it; its next start says hello and it is back. Everything is closed even when the final state write
   * fails, and then this rejects (naming the cause): what was not written is lost.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const { state, mesh: { logger } } = this.#shell;
    const agent = this.#parts.agent;
    const role = this.#parts.role;
    // Every part, last started first (see compose.ts): the final writes wait for them.
    let partsFailed: unknown = undefined;
    try {
      await this.#parts.parts.close();
    } catch (e) {
      partsFailed = e;
    }
    const failures: string[] = [];
    const finalWrite = async (file: string, write: () => Promise<void>): Promise<void> => {
      try {
        await write();
      } catch (e) {
        logger.error("final state write failed", { file, error: String(e) });
        failures.push(`${state.path(file)}: ${String(e)}`);
      }
    };
    if (role.role === "leader") {
      await finalWrite("leader.json", () => role.core.flushAndCompact());
      role.core.close();
    } else await finalWrite("node.json", () => role.sync.flush());
    try {
      await agent.close();
    } finally {
      // Last, once the final writes are done: another agent may use the directory from here.
      // (A start that failed releases it itself, after removing what it made.)
      if (!this.#starting) this.#shell.lock.release();
    }
    if (failures.length) {
      throw new Error(`state not saved at shutdown: ${failures.join("; ")}`);
    }
    if (partsFailed !== undefined) throw partsFailed;
  }
}
