/**
 * A joined node's membership sync with the mesh's leaders, on the control channel: a hello every
 * few seconds (and whenever a leader says something changed) with the versions it holds and what
 * it advertises (its LAN candidates too, and which LAN key it holds); views, deltas, policies and
 * the LAN key reassembled and applied; and the node's file (its address, the leader in use, the
 * view, the policy, the LAN key) saved after each, so that a restarted node needs neither a token
 * nor a leader to talk to the others. A change of what it advertises is told at once and again
 * until its own record in the view shows it (./tell_again.ts).
 *
 * A mesh may have several leaders (the view's members with role `leader`, sharing one store). The
 * node says hello to one of them at a time, "the leader in use" (./leader_choice.ts: which one,
 * the probes, and the move to another when it stops answering or cannot reach its store). It
 * takes views, deltas, policies, the LAN key and its removal from any leader in its view
 * (WireGuard authenticated the sender's overlay address), and only a higher version than it
 * holds; what comes from any other member is dropped.
 *
 * Shared views (./manifest.ts): hellos say `fs`, and a leader that keeps them answers a node that
 * needs a whole view with a manifest (taken from the leader in use only), the members it names as
 * holders, and the pieces no holder has. The node fetches the others from the holders, holds the
 * view's pieces once whole and serves them (`hz` in its hellos): ./node_shared_views.ts. The
 * whole view applies as one from a leader does.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { MembershipView, ServiceSpec } from "../../members/member.ts";
import type { ControlPort } from "./control_channel.ts";
import { Carrier, type CarrierCounts } from "./carrier.ts";
import type { VersionedPolicy } from "../../policy/source.ts";
import type { NodeFile, StateDir } from "../state/state.ts";
import { SerialWriter } from "../state/serial_writer.ts";
import {
  appliesTo,
  type ControlMessage,
  DEFAULT_HELLO_MS,
  helloEveryOf,
  PolicyAssembler,
  SNAPSHOT_WINDOW,
  ViewAssembler,
} from "./protocol.ts";
import { decodeLanKey, lanKeyId } from "../state/lan_key.ts";
import { MAX_LAN } from "../../members/member.ts";
import { newRunId } from "../../members/run_id.ts";
import { byeWaitFor, sayBye } from "./bye.ts";
import { ASK_AGAIN_MS, ASK_TRIES, AskAgain } from "./ask_again.ts";
import { TellAgain } from "./tell_again.ts";
import { NodeSharedViews, type SharedViewCounts } from "./node_shared_views.ts";
import { LeaderChoice, type LeaderChoiceDeps, type LeaderInfo } from "./leader_choice.ts";
import type { NodeStatus } from "../../status/status.ts";

export type { SharedViewCounts } from "./node_shared_views.ts";

/** The sync section of a mesh agent's options. */
export interface NodeSyncOptions {
  /** Milliseconds between hellos to the leader. Default 3000. */
  syncIntervalMs?: number;
  /**
   * How long a stopping node waits for the leader to answer its bye, ms (the bye is sent three
   * times in that time). Default {@link byeWaitFor} the members it knows: a second, longer in a
   * mesh of more than 5,000; a leader that is gone costs a stop no more.
   */
  byeWaitMs?: number;
}

/** What the sync works with (the probes of the leaders: ./leader_choice.ts). */
export interface NodeSyncDeps
  extends Pick<LeaderChoiceDeps, "probe" | "generation" | "probed" | "stale"> {
  /** The control channel to the leaders. */
  channel: ControlPort;
  /**
   * Whether this node takes the pushes members carry and carries them (./carrier.ts; default
   * true): a browser's page does not, as its only path to members is the leader's relay.
   */
  carries?: boolean;
  /** This run's id (the one its join, if any, carried); default: a new one. */
  run?: string;
  /** Where `node.json` is written (a browser node keeps it in memory). */
  state: Pick<StateDir, "writeNode">;
  /** The logger. */
  logger: Logger;
  /** This node's public key. */
  publicKey: string;
  /** This node's overlay address, for the file while the view does not list it. */
  address: string;
  /** The leader in use from the node's file, or the one that answered its join. */
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
   * relays, its TCP port (null or absent: none), and the routes it offers to carry.
   */
  advertise: {
    endpoints: string[];
    services: ServiceSpec[];
    labels: Record<string, string>;
    relay?: boolean;
    tcpPort?: number | null;
    routes?: string[];
  };
  /** This node's LAN candidates, read for every hello (absent: the hellos carry none). */
  lan?: () => string[];
  /** The LAN key from the node's file (base64), if it holds one. */
  lanKey?: string;
  /** Hears of a LAN key from the leader that differs from the one held. */
  onLanKey?: (key: Uint8Array) => void;
  /**
   * Whether this node holds a session with a member (default: yes for all). The bye goes
   * straight only to those: a member without one holds no session to wipe, and a bye to it
   * would start a handshake with every member known (the leader tells them all anyway).
   */
  inSession?: (publicKey: string) => boolean;
}

/** Keeps a node in sync with the mesh's leaders. See the module docs. */
export class NodeSync {
  readonly #deps: NodeSyncDeps;
  // The hello interval configured, and the one in use: longer when the leader paces its
  // members (a large fleet), never shorter.
  readonly #configured: number;
  #interval: number;
  // The bye's wait configured (undefined: byeWaitFor the members known at the stop).
  readonly #byeWaitMs: number | undefined;
  /** This run's id, in every hello: a new one tells the peers that sessions are gone. */
  readonly #run: string;
  readonly #removedListeners = new Set<() => void>();
  readonly #paceListeners = new Set<(ms: number) => void>();
  #name: string | undefined;
  #started = false;
  #removed = false;
  // Resolves the wait of a bye under way when the leader answers it.
  #byeAnswered: (() => void) | null = null;
  // One assembler per sending leader: two leaders' parts never mix.
  readonly #assemblers = new Map<string, ViewAssembler>();
  readonly #policyAssemblers = new Map<string, PolicyAssembler>();
  readonly #writer: SerialWriter;
  // The leader in use, and what is known of the others.
  readonly #choice: LeaderChoice;
  #services: ServiceSpec[];
  #labels: Record<string, string>;
  #routes: string[];
  #lanKey: string | undefined;
  #lanKeyId: string | undefined;
  #snapshot: NodeFile | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  // News asked for and not yet held, asked for again while it does not come.
  readonly #news: AskAgain;
  // Pushes members carry for each other (carrier.ts): the leaders' keys, the parts passed on.
  readonly #carrier: Carrier;
  // A change of what this node advertises, told again until its own record shows it.
  readonly #tell: TellAgain;
  // A snapshot's window asked for and not all come: asked again from the part lacking.
  #fetchTimer: ReturnType<typeof setTimeout> | undefined;
  #fetchTries = 0;
  // The highest version heard of while a snapshot came (0: none).
  #newsDuring = 0;
  #closed = false;
  #closing: Promise<void> | null = null;
  // Shared views: the fetch from holders and the leader, and the pieces held for others.
  readonly #shared: NodeSharedViews;

  /** A stopped sync; `start` begins it. */
  constructor(deps: NodeSyncDeps, opts: NodeSyncOptions = {}) {
    this.#deps = deps;
    this.#run = deps.run ?? newRunId();
    this.#configured = this.#interval = opts.syncIntervalMs ?? DEFAULT_HELLO_MS;
    this.#byeWaitMs = opts.byeWaitMs;
    this.#name = deps.name ?? deps.view().members.find((m) => m.publicKey === deps.publicKey)?.name;
    this.#choice = new LeaderChoice({
      probe: deps.probe,
      generation: deps.generation,
      probed: deps.probed,
      stale: deps.stale,
      logger: deps.logger,
      publicKey: deps.publicKey,
      view: () => deps.view(),
      closed: () => this.#closed,
      changed: () => this.#save(),
    }, deps.leader);
    this.#services = deps.advertise.services;
    this.#labels = deps.advertise.labels;
    this.#routes = deps.advertise.routes ?? [];
    const key = decodeLanKey(deps.lanKey);
    if (key) {
      this.#lanKey = deps.lanKey;
      this.#lanKeyId = lanKeyId(key);
    }
    this.#carrier = new Carrier({
      send: (to, c) => deps.channel.send(to, { t: "carried", c }),
      policyVersion: () => deps.policy()?.version ?? 0,
    });
    this.#news = new AskAgain({
      hello: () => this.hello(),
      version: () => deps.view().version,
      policyVersion: () => deps.policy()?.version ?? 0,
      live: () => !this.#closed && !this.#removed,
    });
    this.#tell = new TellAgain({
      hello: () => this.hello(),
      own: () => deps.view().members.find((m) => m.publicKey === deps.publicKey),
      live: () => !this.#closed && !this.#removed,
    });
    this.#shared = new NodeSharedViews({
      channel: deps.channel,
      logger: deps.logger,
      publicKey: deps.publicKey,
      address: deps.address,
      view: () => deps.view(),
      applyView: (v) => deps.applyView(v),
      leader: () => this.#choice.leader.address,
      live: () => !this.#closed && !this.#removed,
      whole: (v) => {
        this.#onView(v);
        // News that came meanwhile, else a hello now: it asks what changed since, and tells the
        // leader that this node holds the pieces (a holder for the next joiners).
        if (this.#newsDuring > v.version) this.#news.askFor(this.#newsDuring, 0);
        else this.hello();
        this.#newsDuring = 0;
      },
      again: () => this.hello(),
    });
    this.#writer = new SerialWriter(() =>
      this.#snapshot ? deps.state.writeNode(this.#snapshot) : Promise.resolve()
    );
  }

  /** The leader in use now: hellos, byes, link reports, lease requests and call-me go to it. */
  get leader(): LeaderInfo {
    return this.#choice.leader;
  }

  /** Whether `address` is a leader's overlay address in the view held (or the leader in use). */
  isLeader(address: string): boolean {
    return this.#choice.isLeader(address);
  }

  /** The leader in use and every leader known (in the view's order): `/status` fields. */
  status(): Required<Pick<NodeStatus, "leader" | "leaders">> {
    return this.#choice.status();
  }

  /** Applies the saved view and policy, then says hello now and every interval. */
  start(initialPolicy: VersionedPolicy | null): void {
    const d = this.#deps;
    d.applyView(d.view(), true);
    if (initialPolicy) d.usePolicy(initialPolicy);
    d.channel.listen((msg, from) => this.#onMessage(msg, from));
    this.#started = true;
    this.hello();
    this.#choice.probe(true, this.#interval);
    this.#timer = setInterval(() => this.#tick(), this.#interval);
  }

  /** The hello of the interval, after the leader in use's answers are counted (./leader_choice.ts). */
  #tick(): void {
    if (this.#closed || this.#removed) return;
    this.#choice.tick(() => this.hello(), this.#interval);
  }

  /**
   * The leader in use asks for hellos every `ms`: taken when not shorter than the configured
   * interval (a leader slows its members down, never speeds them up past their own setting),
   * from the next hello on; the hellos say it, so the leader counts a hello missed by it.
   */
  #pace(ms: number): void {
    const next = Math.max(this.#configured, ms);
    if (next === this.#interval) return;
    this.#deps.logger.debug("hello interval set by the leader", { ms: next });
    this.#interval = next;
    for (const fn of this.#paceListeners) fn(next);
    // Not started, or stopped: the interval is used when (if) it starts.
    if (this.#timer === undefined || this.#closed || this.#removed) return;
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#tick(), next);
  }

  /** Subscribes to the hello interval changing (the leader paces its members); unsubscribes. */
  onPace(fn: (ms: number) => void): () => void {
    this.#paceListeners.add(fn);
    return () => this.#paceListeners.delete(fn);
  }

  /** The milliseconds between this node's hellos now. */
  get helloIntervalMs(): number {
    return this.#interval;
  }

  /** Forgets the assemblers of senders that are no leaders now. */
  #pruneAssemblers(): void {
    for (const map of [this.#assemblers, this.#policyAssemblers]) {
      for (const address of [...map.keys()]) {
        if (!this.isLeader(address)) map.delete(address);
      }
    }
    this.#carrier.keep((address) => this.isLeader(address));
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
    const snap = this.#snapshotInProgress();
    const msg: Extract<ControlMessage, { t: "hello" }> = {
      t: "hello",
      v: d.view().version,
      pv: d.policy()?.version ?? 0,
      endpoints: d.advertise.endpoints,
      services: this.#services,
      labels: this.#labels,
      ...(d.lan ? { lan: d.lan().slice(0, MAX_LAN) } : {}),
      ...(this.#lanKeyId ? { lk: this.#lanKeyId } : {}),
      ...(d.carries !== false ? { ck: this.#carrier.keyIdOf(this.#choice.leader.address) } : {}),
      ...(d.advertise.relay ? { relay: true as const } : {}),
      ...(d.advertise.tcpPort ? { tcpPort: d.advertise.tcpPort } : {}),
      ...(this.#routes.length ? { routes: this.#routes } : {}),
      ...(helloEveryOf(this.#interval) ? { hi: this.#interval } : {}),
      ...(this.#choice.rtt !== null ? { rtt: Math.round(this.#choice.rtt * 1000) / 1000 } : {}),
      r: this.#run,
      fw: true,
      fz: true,
      fs: true,
      ...(this.#shared.holding !== null ? { hz: this.#shared.holding } : {}),
      ...(snap ? { sv: snap.v, sp: snap.next } : {}),
      // A shared view under way: the leader does not send its manifest again.
      ...(!snap && this.#shared.fetching !== null ? { sv: this.#shared.fetching, sp: 0 } : {}),
    };
    d.channel.send(this.#choice.leader.address, msg);
    // A change (not the first hello) is told again until the view shows it: one lost datagram
    // would cost it a whole interval.
    this.#tell.sent(msg);
  }

  /** The snapshot being assembled from the leader in use, if any. */
  #snapshotInProgress(): ReturnType<ViewAssembler["snapshot"]> {
    return this.#assemblers.get(this.#choice.leader.address)?.snapshot() ?? null;
  }

  /**
   * After a part of a snapshot: asks for the next window once every part below the highest held
   * came and that is a window's end; and again from the part lacking while parts stop coming
   * ({@link ASK_AGAIN_MS}, doubled, {@link ASK_TRIES} times; then the hellos say where it is).
   */
  #fetchOn(from: string): void {
    clearTimeout(this.#fetchTimer);
    this.#fetchTimer = undefined;
    const snap = this.#snapshotInProgress();
    if (!snap || from !== this.#choice.leader.address || this.#closed || this.#removed) return;
    const fetch = (part: number) =>
      this.#deps.channel.send(this.#choice.leader.address, {
        t: "fetch",
        h: this.#deps.view().version,
        v: snap.v,
        part,
      });
    if (snap.next === snap.high && snap.high % SNAPSHOT_WINDOW === 0 && snap.high < snap.parts) {
      this.#fetchTries = 0;
      fetch(snap.high);
    }
    const again = () => {
      this.#fetchTimer = undefined;
      const now = this.#snapshotInProgress();
      if (!now || now.v !== snap.v || this.#closed || this.#removed) return;
      if (++this.#fetchTries > ASK_TRIES) return;
      fetch(now.next);
      this.#fetchTimer = setTimeout(again, ASK_AGAIN_MS * 2 ** this.#fetchTries);
    };
    this.#fetchTimer = setTimeout(again, ASK_AGAIN_MS * (0.5 + Math.random()));
  }

  /** The LAN key held (base64), if any. */
  get lanKey(): string | undefined {
    return this.#lanKey;
  }

  /** Replaces the services this node advertises and tells the leader at once (and again: ./tell_again.ts). */
  setServices(services: ServiceSpec[]): void {
    this.#services = services;
    this.hello();
  }

  /**
   * Replaces the labels this node asserts about itself (`node.weft/` ones: the leader drops any
   * other) and tells the leader at once.
   */
  setLabels(labels: Record<string, string>): void {
    this.#labels = { ...labels };
    this.hello();
  }

  /**
   * Replaces the routes this node offers to carry (the exit node's defaults among them) and tells
   * the leader at once; none: the hellos carry none, and the leader takes that as none offered.
   */
  setRoutes(routes: readonly string[]): void {
    this.#routes = [...routes];
    this.hello();
  }

  /**
   * Stops the hellos and, when the sync ran and this node is still a member, says bye to the
   * leader: up to three times within `byeWaitMs` ({@link byeWaitFor} by default) until it
   * answers (its change is written by then), never longer. From now on only `flush` writes the file.
   */
  close(): Promise<void> {
    return this.#closing ??= this.#leave();
  }

  async #leave(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    clearTimeout(this.#fetchTimer);
    this.#shared.stop();
    this.#news.stop();
    this.#tell.stop();
    if (!this.#started || this.#removed) return;
    const answered = new Promise<void>((resolve) => this.#byeAnswered = resolve);
    const waitMs = this.#byeWaitMs ?? byeWaitFor(this.#deps.view().members.length);
    await sayBye(this.#deps, this.#choice.leader.address, answered, waitMs);
    this.#byeAnswered = null;
  }

  /** The last write of the node's file, when anything changed since the start. */
  async flush(): Promise<void> {
    if (this.#snapshot) await this.#writer.save();
  }

  #onMessage(msg: ControlMessage, from: string): void {
    const d = this.#deps;
    // Shared views' pieces and asks come from members (each checked by who sent it).
    if (msg.t === "pget") return this.#shared.ask(from, msg);
    if (msg.t === "piece") return this.#shared.piece(msg.piece, from);
    if (msg.t === "plack") return this.#shared.lack(from, msg.d);
    // A push's part carried by a member (or sent by the leader to its carrier): the signing
    // leader's word once checked (carried.ts), taken as a delta from it.
    if (msg.t === "carried") {
      const taken = this.#carrier.take(msg.c, from);
      if (taken && this.isLeader(taken.leader)) this.#onPart(taken.msg, taken.leader);
      return;
    }
    // Only a leader's word counts (WireGuard authenticated the sender's overlay address).
    if (!this.isLeader(from)) return;
    this.#choice.heardFrom(from);
    if (msg.t === "manifest" || msg.t === "holders") {
      // The leader in use only: it names the holders, and their pieces are checked against its
      // manifest.
      if (from !== this.#choice.leader.address) return;
      if (msg.t === "holders") return this.#shared.holders(msg.v, msg.members);
      return this.#shared.manifest(msg.d);
    }
    if (msg.t === "bye-ok") {
      this.#byeAnswered?.();
      this.#byeAnswered = null;
      return;
    }
    const view = d.view();
    const pv = d.policy()?.version ?? 0;
    // News of a higher version (from any leader) is asked of the leader in use.
    if (msg.t === "changed" && (msg.v > view.version || (msg.pv ?? 0) > pv)) {
      // Not while a snapshot comes (a hello would have it sent again): asked once it is whole.
      if ((msg.pv ?? 0) <= pv && this.#assembling()) {
        this.#newsDuring = Math.max(this.#newsDuring, msg.v);
        return;
      }
      this.#news.askFor(msg.v, msg.pv ?? 0);
    }
    if (msg.t === "pace" && from === this.#choice.leader.address) this.#pace(msg.hi);
    if (msg.t === "pushkey") {
      this.#carrier.key(from, msg.k);
      return;
    }
    if (msg.t === "carry") return this.#carrier.carry(msg, from);
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
      const p = this.#assembler(this.#policyAssemblers, from, PolicyAssembler).add(msg);
      if (p && p.version > pv && d.usePolicy(p)) {
        this.#save();
        this.#news.came();
      }
    }
    if (msg.t === "view" || msg.t === "delta") this.#onPart(msg, from);
  }

  /** A part of a view or delta from the leader at `from`. */
  #onPart(msg: Extract<ControlMessage, { t: "view" | "delta" }>, from: string): void {
    const d = this.#deps;
    const view = d.view();
    if (msg.t === "delta" && !appliesTo(msg, view.version)) {
      // Not while a snapshot comes: its delta is asked for once it is whole.
      if (msg.part === 0 && msg.from > view.version) {
        if (!this.#assembling()) this.#news.askFor(msg.v, 0);
        else this.#newsDuring = Math.max(this.#newsDuring, msg.v);
      }
      return;
    }
    const a = this.#assembler(this.#assemblers, from, ViewAssembler);
    const malformed = a.malformed;
    const v = a.add(msg, view);
    if (a.malformed > malformed) {
      // Only a leader sends views (checked above, or signed it): a body that does not unpack is
      // its fault or the path's; the view held stays, and the next hello asks again.
      d.logger.warn("a view from the leader did not unpack: dropped", {
        from,
        version: msg.v,
        dropped: a.malformed,
      });
    }
    this.#fetchOn(from);
    // A leader behind the others (its store's news on the way) may send an older view.
    if (v && v.version > view.version) {
      this.#onView(v);
      // News that came while the snapshot did (older than the leader's version): asked now.
      if (this.#newsDuring > v.version) this.#news.askFor(this.#newsDuring, 0);
      this.#newsDuring = 0;
    }
  }

  /** Whether a whole view comes now (a snapshot in windows, or a shared view). */
  #assembling(): boolean {
    return this.#shared.fetching !== null || this.#snapshotInProgress() !== null;
  }

  /** What this node counted of pushes carried for and by it (`/metrics`). */
  carried(): CarrierCounts {
    return this.#carrier.counts();
  }

  /** What this node counted of shared views, as a joiner and as a holder (`/metrics`). */
  sharedViews(): SharedViewCounts {
    return this.#shared.counts();
  }

  /** The version of the shared view whose pieces this node holds and serves (null: none). */
  get holding(): number | null {
    return this.#shared.holding;
  }

  /** The assembler of the parts `from` sends, made at its first part. */
  #assembler<T>(map: Map<string, T>, from: string, make: new () => T): T {
    let a = map.get(from);
    if (!a) map.set(from, a = new make());
    return a;
  }

  #onView(v: MembershipView): void {
    const d = this.#deps;
    const own = v.members.find((m) => m.publicKey === d.publicKey);
    if (own) this.#name = own.name;
    let removed = false;
    if (!own && !this.#removed) {
      // Only a leader says it (the sender was checked, and WireGuard authenticated it). Saved
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
    this.#choice.know(v);
    this.#pruneAssemblers();
    this.#choice.follow(removed);
    d.applyView(v);
    this.#save();
    // News told while a hello was out, past what this brought: asked for now.
    if (!removed) this.#news.came();
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
      leader: this.#choice.leader,
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
