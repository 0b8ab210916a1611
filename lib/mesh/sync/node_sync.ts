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
  /**
   * How long a stopping node waits for the leader to answer its bye, ms (the bye is sent three
   * times in that time). Default 1000; a leader that is gone costs a stop no more.
   */
  byeWaitMs?: number;
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
  /** This node's name, for the file once the view no longer lists it (absent: from the view). */
  name?: string;
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
  readonly #byeWaitMs: number;
  readonly #removedListeners = new Set<() => void>();
  #name: string | undefined;
  #started = false;
  #removed = false;
  // Resolves the wait of a bye under way when the leader answers it.
  #byeAnswered: (() => void) | null = null;
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
  #closing: Promise<void> | null = null;

  /** A stopped sync; `start` begins it. */
  constructor(deps: NodeSyncDeps, opts: NodeSyncOptions = {}) {
    this.#deps = deps;
    this.#interval = opts.syncIntervalMs ?? 3000;
    this.#byeWaitMs = opts.byeWaitMs ?? 1000;
    this.#name = deps.name ?? deps.view().members.find((m) => m.publicKey === deps.publicKey)?.name;
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
    this.#started = true;
    this.hello();
    this.#timer = setInterval(() => this.hello(), this.#interval);
  }

  /** Whether the leader removed this node (a view from it without this node). */
  get removed(): boolean {
    return this.#removed;
  }

  /** Calls `fn` once when the leader removes this node; returns the function that stops it. */
  onRemoved(fn: () => void): () => void {
    this.#removedListeners.add(fn);
    return () => this.#removedListeners.delete(fn);
  }

  /** Tells the leader the versions held and what this node advertises. */
  hello(): void {
    // A stopping node said (or is saying) bye: a hello now would bring it back online.
    // Nor from a removed node: the leader no longer has its peer.
    if (this.#closed || this.#removed) return;
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

  /**
   * Stops the hellos and, when the sync ran and this node is still a member, says bye to the
   * leader: up to three times within `byeWaitMs` until it answers (it has told every member by
   * then), never longer. From now on only `flush` writes the file.
   */
  close(): Promise<void> {
    return this.#closing ??= this.#leave();
  }

  async #leave(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (!this.#started || this.#removed) return;
    const d = this.#deps;
    const bye = { t: "bye" as const, k: d.publicKey };
    // The other members hear it first, once each: their calls stop coming even before the
    // leader's change arrives, and when the leader is down. The leader's answer is waited for.
    for (const m of d.view().members) {
      if (m.publicKey !== d.publicKey && m.address !== this.#leader.address && !m.offline) {
        d.channel.send(m.address, bye);
      }
    }
    const answered = new Promise<void>((resolve) => this.#byeAnswered = resolve);
    const tries = 3;
    for (let i = 0; i < tries; i++) {
      d.channel.send(this.#leader.address, bye);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waited = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), this.#byeWaitMs / tries);
      });
      const ok = await Promise.race([answered.then(() => true), waited]);
      clearTimeout(timer);
      if (ok) {
        d.logger.info("left the mesh: the leader took this node out of rotation", {});
        return;
      }
    }
    this.#byeAnswered = null;
    d.logger.warn(
      "the leader did not answer this node's bye (down, or an older version): its peers were " +
        "told directly; the leader lists it as running until its health says otherwise",
      { leader: this.#leader.address },
    );
  }

  /** The last write of the node's file, when anything changed since the start. */
  async flush(): Promise<void> {
    if (this.#snapshot) await this.#writer.save();
  }

  #onMessage(msg: ControlMessage, from: string): void {
    const d = this.#deps;
    if (from !== this.#leader.address) return;
    if (msg.t === "bye-ok") {
      this.#byeAnswered?.();
      this.#byeAnswered = null;
      return;
    }
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
    const own = v.members.find((m) => m.publicKey === d.publicKey);
    if (own) this.#name = own.name;
    let removed = false;
    if (!own && !this.#removed) {
      // Only the leader says it (the sender was checked, and WireGuard authenticated it). Saved
      // so (node.json's view without this node): a restart refuses, or joins again with a new
      // token (boot.ts); no more hellos, which would go nowhere.
      this.#removed = removed = true;
      if (this.#timer) clearInterval(this.#timer);
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
    if (removed) { for (const fn of this.#removedListeners) fn(); }
  }

  #save(): void {
    const d = this.#deps;
    const view = d.view();
    const address = view.members.find((m) => m.publicKey === d.publicKey)?.address ?? d.address;
    this.#snapshot = {
      format: 1,
      address,
      ...(this.#name ? { name: this.#name } : {}),
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
