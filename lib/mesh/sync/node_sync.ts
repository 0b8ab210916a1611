/**
 * A joined node's membership sync with the leader, on the control channel: a hello every few
 * seconds (and whenever the leader says something changed) with the versions it holds and what it
 * advertises (its LAN candidates too, and which LAN key it holds); views, deltas, policies and
 * the LAN key from the leader reassembled and applied; and the node's file (its address, the
 * leader, the view, the policy, the LAN key) saved after each, so that a restarted node needs
 * neither a token nor the leader to talk to the others.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { MembershipView, ServiceSpec } from "../../members/member.ts";
import type { ControlPort } from "./control_channel.ts";
import type { VersionedPolicy } from "../../policy/source.ts";
import { type NodeFile, SerialWriter, type StateDir } from "../state/state.ts";
import { type ControlMessage, PolicyAssembler, ViewAssembler } from "./protocol.ts";
import { decodeLanKey, lanKeyId } from "../state/lan_key.ts";
import { MAX_LAN } from "../../members/member.ts";

/** The sync section of a mesh agent's options. */
export interface NodeSyncOptions {
  /** Milliseconds between hellos to the leader. Default 3000. */
  syncIntervalMs?: number;
}

/** The leader as a node knows it. */
export type LeaderInfo = NodeFile["leader"];

/** What the sync works with. */
export interface NodeSyncDeps {
  /** The control channel to the leader. */
  channel: ControlPort;
  /** Where `node.json` is written. */
  state: StateDir;
  /** The logger. */
  logger: Logger;
  /** This node's public key. */
  publicKey: string;
  /** This node's overlay address, for the file while the view does not list it. */
  address: string;
  /** The leader, from the node's file or its join. */
  leader: LeaderInfo;
  /** The view held now. */
  view: () => MembershipView;
  /** Applies a view to this node (peers, policy, subscribers; `announce`: tell them anyway). */
  applyView: (v: MembershipView, announce?: boolean) => void;
  /** The policy in force on this node. */
  policy: () => VersionedPolicy | null;
  /** Puts a policy in force; false when it does not parse. */
  usePolicy: (p: VersionedPolicy) => boolean;
  /**
   * What the hellos advertise: endpoints, services and self-asserted labels; whether the node
   * relays, and its TCP port (null or absent: none).
   */
  advertise: {
    endpoints: string[];
    services: ServiceSpec[];
    labels: Record<string, string>;
    relay?: boolean;
    tcpPort?: number | null;
  };
  /** This node's LAN candidates, read for every hello (absent: the hellos carry none). */
  lan?: () => string[];
  /** The LAN key from the node's file (base64), if it holds one. */
  lanKey?: string;
  /** Hears of a LAN key from the leader that differs from the one held. */
  onLanKey?: (key: Uint8Array) => void;
}

/** Keeps a node in sync with the leader. See the module docs. */
export class NodeSync {
  readonly #deps: NodeSyncDeps;
  readonly #interval: number;
  readonly #assembler = new ViewAssembler();
  readonly #policyAssembler = new PolicyAssembler();
  readonly #writer: SerialWriter;
  #leader: LeaderInfo;
  #services: ServiceSpec[];
  #lanKey: string | undefined;
  #lanKeyId: string | undefined;
  #snapshot: NodeFile | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** A stopped sync; `start` begins it. */
  constructor(deps: NodeSyncDeps, opts: NodeSyncOptions = {}) {
    this.#deps = deps;
    this.#interval = opts.syncIntervalMs ?? 3000;
    this.#leader = deps.leader;
    this.#services = deps.advertise.services;
    const key = decodeLanKey(deps.lanKey);
    if (key) {
      this.#lanKey = deps.lanKey;
      this.#lanKeyId = lanKeyId(key);
    }
    this.#writer = new SerialWriter(() =>
      this.#snapshot ? deps.state.writeNode(this.#snapshot) : Promise.resolve()
    );
  }

  /** The leader as this node knows it now. */
  get leader(): LeaderInfo {
    return this.#leader;
  }

  /** Applies the saved view and policy, then says hello now and every interval. */
  start(initialPolicy: VersionedPolicy | null): void {
    const d = this.#deps;
    d.applyView(d.view(), true);
    if (initialPolicy) d.usePolicy(initialPolicy);
    d.channel.listen((msg, from) => this.#onMessage(msg, from));
    this.hello();
    this.#timer = setInterval(() => this.hello(), this.#interval);
  }

  /** Tells the leader the versions held and what this node advertises. */
  hello(): void {
    const d = this.#deps;
    d.channel.send(this.#leader.address, {
      t: "hello",
      v: d.view().version,
      pv: d.policy()?.version ?? 0,
      endpoints: d.advertise.endpoints,
      services: this.#services,
      labels: d.advertise.labels,
      ...(d.lan ? { lan: d.lan().slice(0, MAX_LAN) } : {}),
      ...(this.#lanKeyId ? { lk: this.#lanKeyId } : {}),
      ...(d.advertise.relay ? { relay: true as const } : {}),
      ...(d.advertise.tcpPort ? { tcpPort: d.advertise.tcpPort } : {}),
    });
  }

  /** The LAN key held (base64), if any. */
  get lanKey(): string | undefined {
    return this.#lanKey;
  }

  /** Replaces the services this node advertises and tells the leader at once. */
  setServices(services: ServiceSpec[]): void {
    this.#services = services;
    this.hello();
  }

  /** Stops the hellos; from now on only `flush` writes the file. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
  }

  /** The last write of the node's file, when anything changed since the start. */
  async flush(): Promise<void> {
    if (this.#snapshot) await this.#writer.save();
  }

  #onMessage(msg: ControlMessage, from: string): void {
    const d = this.#deps;
    if (from !== this.#leader.address) return;
    const view = d.view();
    if (
      msg.t === "changed" &&
      (msg.v !== view.version || (msg.pv ?? 0) !== (d.policy()?.version ?? 0))
    ) this.hello();
    if (msg.t === "lankey") {
      const key = decodeLanKey(msg.k);
      if (key && msg.k !== this.#lanKey) {
        this.#lanKey = msg.k;
        this.#lanKeyId = lanKeyId(key);
        d.onLanKey?.(key);
        this.#save();
      }
    }
    if (msg.t === "policy") {
      const p = this.#policyAssembler.add(msg);
      if (p && p.version !== d.policy()?.version && d.usePolicy(p)) this.#save();
    }
    if (msg.t === "delta" && msg.from !== view.version) {
      if (msg.part === 0 && msg.v !== view.version) this.hello();
      return;
    }
    if (msg.t === "view" || msg.t === "delta") {
      const v = this.#assembler.add(msg, view);
      if (v && v.version !== view.version) this.#onView(v);
    }
  }

  #onView(v: MembershipView): void {
    const d = this.#deps;
    if (!v.members.some((m) => m.publicKey === d.publicKey)) {
      // Saved so (node.json's view without this node): a restart refuses, or joins again with a
      // new token (boot.ts).
      d.logger.error(
        "this node was removed from the mesh by the leader: it has no peers now; to join again, " +
          "restart it with a new token (--join <token>)",
        {},
      );
    }
    const leader = v.members.find((m) => m.role === "leader");
    if (leader) {
      this.#leader = {
        publicKey: leader.publicKey,
        address: leader.address,
        endpoints: leader.endpoints,
      };
    }
    d.applyView(v);
    this.#save();
  }

  #save(): void {
    const d = this.#deps;
    const view = d.view();
    const address = view.members.find((m) => m.publicKey === d.publicKey)?.address ?? d.address;
    this.#snapshot = {
      format: 1,
      address,
      leader: this.#leader,
      view,
      policy: d.policy() ?? undefined,
      ...(this.#lanKey ? { lanKey: this.#lanKey } : {}),
    };
    // Once closing, the last write is `flush`'s: a write started here would race it (and the
    // removal of a test's state directory) unawaited.
    if (this.#closed) return;
    this.#writer.save().catch((e) => d.logger.error("saving state failed", { error: String(e) }));
  }
}
