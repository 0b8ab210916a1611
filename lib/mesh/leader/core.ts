/**
 * The leader's bookkeeping: members, address allocation and tokens, committed to its store
 * after every change and before any answer depends on it. Changes run one at a time on a copy of
 * the state that becomes the state only once the store committed it, on the revision the copy
 * was made from, so two joins never get the same address (even at two leaders sharing a store)
 * and a failed write changes nothing. Changes other leaders commit come in through the store's
 * watch and reach this leader's listeners as its own do.
 * @module
 */

import { Cidr } from "../../net/cidr.ts";
import { formatAddress } from "../../net/ip.ts";
import {
  MAX_LAN,
  type Member,
  type MemberGrants,
  type MembershipView,
  type ServiceSpec,
} from "../../members/member.ts";
import {
  hashSecret,
  newTokenSecret,
  secretMatches,
  type StoredToken,
  tokenProblem,
  type TokenView,
} from "../join/token.ts";
import type { JoinRecord, LeaderFile } from "../state/state.ts";
import type { LeaderStore, StoreSnapshot } from "../store/store.ts";
import { MemoryStore } from "../store/memory_store.ts";
import type { VersionedPolicy } from "../../policy/source.ts";
import { parsePolicy, serializePolicy } from "../../policy/parse.ts";
import type { PolicyDocument } from "../../policy/schema.ts";
import { decodeLanKey, newLanKey } from "../state/lan_key.ts";
import { grantedLabelsProblem, isNodeLabelKey, splitLabels } from "../../members/labels.ts";
import { quote } from "../../text/quote.ts";
import { dnsLabelProblem } from "../../net/names.ts";
import { grantedServicesProblem } from "../../members/services.ts";
import type { LeaseRecord } from "../../services/lease/arbiter.ts";
import type { JoinRequest, JoinResult } from "../join/request.ts";
import { joinTimeProblem, NOT_KEY_HOLDER, STALE } from "../join/freshness.ts";
import { ChangeQueue, type Edit, type Touch } from "./changes.ts";
import { changedMembers, remember, sameRecord, tokenGrants } from "./records.ts";
import { type HostRange, hostRange, MemberIndex } from "./member_index.ts";
import {
  changedApprovals,
  type NodeRoutes,
  reassignRoutes,
  routeList,
  routesMatter,
  unadvertisedApproval,
} from "./routes.ts";
import { parseApprovals } from "../../routes/prefixes.ts";
import { type GrantChange, grantChangeProblem, withGrantChange } from "./grants.ts";

export { type GrantChange, grantChangeProblem } from "./grants.ts";
import {
  assignName,
  DEFAULT_NAME_HOLD_MS,
  heldNames,
  type NameBook,
  nameProblem,
} from "./names.ts";

/** The shortest and longest a token may be valid: 1 s to 365 days. */
export const TOKEN_TTL_RANGE_MS = { min: 1000, max: 365 * 86_400_000 } as const;

/** A refused operation with a message for the user. */
export class LeaderError extends Error {}

/** A refusal because the node or token named does not exist (the control API's 404). */
export class LeaderNotFoundError extends LeaderError {}

/** How long a node that was answered but never heard from keeps its allocation, by default. */
export const DEFAULT_JOIN_HOLD_MS = 10 * 60_000;

/** What a leader opens its state with: who it is and where it is reached. */
interface LeaderInit {
  hostname: string;
  publicKey: string;
  endpoints: string[];
  labels?: Record<string, string>;
  services?: ServiceSpec[];
  /** The routes the leader itself offers to carry (canonical; need no approval). */
  routes?: string[];
}

/** The leader's state. */
export class LeaderCore {
  #data: LeaderFile;
  // The store's revision of #data.
  #revision: number;
  readonly #store: LeaderStore;
  // This leader's public key: the mesh may have other members with the leader role.
  readonly #own: string;
  // This leader's record as last seen (what `leader` says once another leader removed it).
  #self: Member | null = null;
  // The newest watched snapshot that came while a change was under way, and the watch's stop.
  #watched: StoreSnapshot | null = null;
  #unwatch: (() => void) | null = null;
  readonly #net: Cidr;
  readonly #holdMs: number;
  // How long a removed member's name is kept from other joiners (./names.ts).
  #nameHoldMs = DEFAULT_NAME_HOLD_MS;
  readonly #openedAt: number;
  readonly #changes: ChangeQueue;
  readonly #listeners = new Set<(v: MembershipView) => void>();
  readonly #policyListeners = new Set<(p: VersionedPolicy) => void>();
  readonly #tokenListeners = new Set<() => void>();
  // Which members each recent version touched, so nodes can catch up with a delta.
  readonly #log: { version: number; keys: string[] }[] = [];
  #labelsDropped = 0;
  #servicesRefused = 0;
  // The service names grants restrict, for the state they were read from; an edit may change
  // the state in place, so every edit drops it (the change queue's eachEdit).
  // They change only with the tokens (a member's grants come from its token's) or another
  // leader's state: cached for the tokens and an epoch that each adopted state moves.
  #restricted: { tokens: string; epoch: number; names: Set<string> } | null = null;
  #epoch = 0;
  // The index of each list of members (a state's, or a copy's being edited), and the list each
  // copy was made from, whose index it forks; and the view of the state, made once per state.
  readonly #indexes = new WeakMap<Member[], MemberIndex>();
  readonly #parents = new WeakMap<Member[], Member[]>();
  #range: HostRange;
  #shown: { data: LeaderFile; view: MembershipView } | null = null;
  // Members whose hellos to this leader stopped (its liveness): they carry no routes.
  readonly #quiet = new Set<string>();
  #forgotten = 0;

  private constructor(
    snapshot: StoreSnapshot,
    store: LeaderStore,
    holdMs: number,
    own: string,
    batchGapFactor: number | undefined,
  ) {
    this.#own = own;
    this.#data = snapshot.data;
    this.#revision = snapshot.revision;
    this.#store = store;
    this.#net = Cidr.parse(snapshot.data.network);
    this.#range = hostRange(this.#net.toString());
    this.#holdMs = holdMs;
    this.#openedAt = Date.now();
    this.#changes = new ChangeQueue({
      current: () => this.#data,
      revision: () => this.#revision,
      write: (d, base) => store.commit(d, base),
      ...(store.maxChangesPerCommit ? { maxBatch: store.maxChangesPerCommit } : {}),
      ...(batchGapFactor !== undefined ? { gapFactor: batchGapFactor } : {}),
      reload: async () => {
        const s = await store.load();
        if (!s) throw new LeaderError(`${store.where} no longer holds the mesh`);
        this.#adopt(s);
      },
      copied: (from, to) => this.#parents.set(to.members, from.members),
      between: () => {
        const s = this.#watched;
        this.#watched = null;
        if (s) this.#adopt(s);
      },
      commit: (d, log, revision) => {
        // A commit the watch already brought (with every change before it) is told already.
        if (revision < this.#revision) return;
        this.#data = d;
        this.#revision = revision;
        this.#logged(log);
      },
    });
  }

  /** Adds versions to the change log and tells the membership listeners, when there are any. */
  #logged(log: { version: number; keys: string[] }[]): void {
    if (!log.length) return;
    this.#log.push(...log);
    if (this.#log.length > 4096) this.#log.splice(0, this.#log.length - 4096);
    const v = this.view();
    for (const l of this.#listeners) l(v);
  }

  /**
   * Makes a newer snapshot of the store the state (another leader's commit, or what a conflict
   * loaded): the members whose records differ go into the change log as one version, and the
   * listeners of what changed are told, as for a change made here.
   */
  #adopt(s: StoreSnapshot): void {
    if (s.revision <= this.#revision) return;
    const old = this.#data;
    // Another leader may have removed this one: its record as it was stays for `leader`.
    this.#self = this.#idx(old).byKey(this.#own) ?? this.#self;
    this.#data = s.data;
    this.#revision = s.revision;
    this.#epoch++;
    const keys = changedMembers(old.members, s.data.members);
    if (keys.length || s.data.version !== old.version) {
      this.#logged([{ version: s.data.version, keys }]);
    }
    const p = s.data.policy;
    if (p && p.version !== old.policy?.version) { for (const l of this.#policyListeners) l(p); }
    if (JSON.stringify(s.data.tokens) !== JSON.stringify(old.tokens)) {
      for (const l of this.#tokenListeners) l();
    }
  }

  /** Takes in a watched snapshot: now, or after the change under way (which may be its own). */
  #onWatched(s: StoreSnapshot): void {
    if (this.#changes.busy) {
      if (!this.#watched || s.revision > this.#watched.revision) this.#watched = s;
    } else this.#adopt(s);
  }

  /** Follows the store from the revision the core holds. */
  #follow(): void {
    this.#unwatch = this.#store.watch(this.#revision, (s) => this.#onWatched(s));
  }

  /** Stops following the store's changes (the leader stops). */
  close(): void {
    this.#unwatch?.();
    this.#unwatch = null;
  }

  /** The store's revision of the state this core holds. */
  get revision(): number {
    return this.#revision;
  }

  /**
   * Loads the leader's state from `store`, or creates it with the leader as the first member at
   * the first host address of `network`. A different `network` than the stored one is an error.
   * A shared store whose mesh another leader made gets this leader as one more member with the
   * leader role (an address allocated as a join's, a name no other member holds), in one commit.
   * `joinHoldMs` is how long a node that was answered but never heard from keeps its allocation
   * (default {@link DEFAULT_JOIN_HOLD_MS}). Null keeps the state in memory only.
   */
  static async open(
    storeOrNull: LeaderStore | null,
    init: {
      network: string;
      /**
       * `network` is only a default: a stored mesh keeps its own network instead of being
       * refused for another (a leader restarted, or added to a shared store, without `--cidr`).
       */
      keepStoredNetwork?: boolean;
      network6?: string;
      hostname: string;
      publicKey: string;
      endpoints: string[];
      labels?: Record<string, string>;
      services?: ServiceSpec[];
      /** The routes the leader itself offers to carry (canonical; need no approval). */
      routes?: string[];
      joinHoldMs?: number;
      /** How long a removed member's name is kept from other joiners, ms (default 24 h). */
      nameHoldMs?: number;
      /** The change queue's batch gap factor (./changes.ts; 0: none, for tests of races). */
      batchGapFactor?: number;
    },
  ): Promise<LeaderCore> {
    const holdMs = init.joinHoldMs ?? DEFAULT_JOIN_HOLD_MS;
    if (!(holdMs > 0)) throw new LeaderError("the join hold time must be positive");
    const nameHoldMs = init.nameHoldMs ?? DEFAULT_NAME_HOLD_MS;
    if (!(nameHoldMs >= 0)) throw new LeaderError("the name hold time must not be negative");
    const store = storeOrNull ?? new MemoryStore();
    const loaded = await store.load();
    if (loaded) {
      const stored = loaded.data;
      if (
        !init.keepStoredNetwork &&
        Cidr.parse(stored.network).toString() !== Cidr.parse(init.network).toString()
      ) {
        throw new LeaderError(
          `${store.where} is for network ${stored.network}, not ${init.network}`,
        );
      }
      if (
        init.network6 && stored.network6 &&
        Cidr.parse(init.network6).toString() !== Cidr.parse(stored.network6).toString()
      ) {
        throw new LeaderError(
          `${store.where} is for IPv6 network ${stored.network6}, not ${init.network6}`,
        );
      }
      const core = new LeaderCore(loaded, store, holdMs, init.publicKey, init.batchGapFactor);
      core.#nameHoldMs = nameHoldMs;
      await core.#change((d, touch) => {
        const added = core.#enter(d, init, touch, store.where);
        // An IPv6 network added later: every member gets its address now.
        if (init.network6 && !d.network6) core.#setNetwork6(d, init.network6, touch);
        // State from before LAN discovery: its key is made now, once.
        const keyless = d.lanKey === undefined;
        if (keyless) d.lanKey = newLanKey();
        return { result: undefined, write: keyless || added };
      });
      core.#follow();
      return core;
    }
    const net = Cidr.parse(init.network);
    if (net.family !== 4) throw new LeaderError("the mesh network must be an IPv4 CIDR");
    if (net.bits > 30) throw new LeaderError(`network ${init.network} is too small`);
    if (dnsLabelProblem(init.hostname) !== undefined) {
      throw new LeaderError(`hostname ${quote(init.hostname)} is not a valid DNS label`);
    }
    const own = splitLabels(init.labels ?? {});
    const leader: Member = {
      name: init.hostname,
      publicKey: init.publicKey,
      address: formatAddress(net.firstHost()),
      endpoints: init.endpoints,
      labels: own.granted,
      ...(Object.keys(own.asserted).length ? { nodeLabels: own.asserted } : {}),
      role: "leader",
      services: init.services ?? [],
      joinedAt: Date.now(),
    };
    const core = new LeaderCore(
      {
        data: {
          format: 1,
          network: net.toString(),
          version: 1,
          members: [leader],
          tokens: [],
          joins: {},
          lanKey: newLanKey(),
        },
        revision: 0,
      },
      store,
      holdMs,
      init.publicKey,
      init.batchGapFactor,
    );
    core.#nameHoldMs = nameHoldMs;
    // Nobody sees the core before this first write succeeds.
    await core.#change((d, touch) => {
      // Run again on what another leader created meanwhile: this leader joins that mesh.
      if (Cidr.parse(d.network).toString() !== net.toString()) {
        throw new LeaderError(
          `another leader created the mesh in ${store.where} for network ${d.network}, not ` +
            init.network,
        );
      }
      core.#enter(d, init, touch, store.where);
      if (init.network6 && !d.network6) core.#setNetwork6(d, init.network6, touch);
      return { result: undefined, write: true };
    });
    core.#follow();
    return core;
  }

  /** The index of `d`'s members: forked from the list it was copied from, else built. */
  #idx(d: LeaderFile): MemberIndex {
    const list = d.members;
    let ix = this.#indexes.get(list);
    if (ix) return ix;
    const parent = this.#parents.get(list);
    const from = parent && this.#indexes.get(parent);
    ix = new MemberIndex(list, this.#range, from);
    this.#indexes.set(list, ix);
    // The link has served: kept, it would hold the parent list alive, whose own link holds its
    // parent, and so on (every state since the start, with its index).
    this.#parents.delete(list);
    return ix;
  }

  /** Makes one change through the queue: see {@link ChangeQueue.change}. */
  #change<T>(edit: (d: LeaderFile, touch: Touch) => Edit<T>): Promise<T> {
    return this.#changes.change(edit);
  }

  /**
   * Makes this leader a member of the stored mesh: a leader whose key the store does not hold
   * yet (another leader made the mesh) is added with the leader role, an address allocated as a
   * join's and its hostname, which no other member may hold; one already there gets its
   * endpoints, labels and services updated. True when it was added.
   */
  #enter(d: LeaderFile, init: LeaderInit, touch: Touch, where: string): boolean {
    const ix = this.#idx(d);
    const found = ix.byKey(init.publicKey);
    if (found) {
      if (found.role !== "leader") {
        throw new LeaderError(
          `this leader's key is a node's in ${where}: a leader needs a key of its own`,
        );
      }
      this.#refreshLeader(d, found, init, touch);
      return false;
    }
    // A store of one leader's holds another key: this leader's own was lost or replaced.
    if (this.#store.single || ix.leaderKeys().size === 0) {
      throw new LeaderError("the leader's key does not match its stored state");
    }
    if (d.left?.[init.publicKey]?.removedToken !== undefined) {
      throw new LeaderError(
        `this leader was removed from the mesh in ${where}: start it with a new state ` +
          "directory (a new key) to serve the mesh again",
      );
    }
    if (dnsLabelProblem(init.hostname) !== undefined) {
      throw new LeaderError(`hostname ${quote(init.hostname)} is not a valid DNS label`);
    }
    if (ix.byName(init.hostname)) {
      throw new LeaderError(
        `hostname "${init.hostname}" is already taken in ${where}: give this leader another ` +
          "(--hostname)",
      );
    }
    const address = this.#allocate(d);
    if (!address) throw new LeaderError(`network ${d.network} is exhausted`);
    const own = splitLabels(init.labels ?? {});
    ix.add({
      name: init.hostname,
      publicKey: init.publicKey,
      address,
      ...(d.network6 ? { address6: this.#v6For(address, d.network6) } : {}),
      endpoints: init.endpoints,
      labels: own.granted,
      ...(Object.keys(own.asserted).length ? { nodeLabels: own.asserted } : {}),
      role: "leader",
      services: init.services ?? [],
      ...(init.routes?.length ? { advertisedRoutes: [...init.routes] } : {}),
      joinedAt: Date.now(),
    });
    // A key that left before (a released join) is a member again.
    if (d.left?.[init.publicKey]) delete d.left[init.publicKey];
    touch(init.publicKey);
    if (init.routes?.length) this.#reassign(d, touch);
    return true;
  }

  #refreshLeader(d: LeaderFile, leader: Member, init: LeaderInit, touch: Touch): void {
    // The leader's operator sets its labels: ordinary keys are granted, node.weft/ ones its own.
    const own = init.labels ? splitLabels(init.labels) : null;
    const labels = own?.granted ?? leader.labels;
    const nodeLabels = own ? own.asserted : leader.nodeLabels ?? {};
    const routes = init.routes ?? [];
    const changed = JSON.stringify([
      leader.endpoints,
      leader.labels,
      leader.nodeLabels ?? {},
      leader.services,
      leader.advertisedRoutes ?? [],
    ]) !==
      JSON.stringify([
        init.endpoints,
        labels,
        nodeLabels,
        init.services ?? leader.services,
        routes,
      ]);
    if (changed) {
      const { nodeLabels: _, advertisedRoutes: _r, ...rest } = leader;
      this.#idx(d).replace({
        ...rest,
        endpoints: init.endpoints,
        labels,
        ...(Object.keys(nodeLabels).length ? { nodeLabels } : {}),
        services: init.services ?? leader.services,
        ...(routes.length ? { advertisedRoutes: [...routes] } : {}),
      });
      touch(leader.publicKey);
      if (String(routes) !== String(leader.advertisedRoutes ?? [])) this.#reassign(d, touch);
    }
  }

  #setNetwork6(d: LeaderFile, text: string, touch: Touch): void {
    const net6 = Cidr.parse(text);
    if (net6.family !== 6) throw new LeaderError(`${text} is not an IPv6 network`);
    d.network6 = net6.toString();
    d.members = d.members.map((m) => ({ ...m, address6: this.#v6For(m.address, d.network6) }));
    touch(...d.members.map((m) => m.publicKey));
  }

  /** A member's IPv6 address: the same host index as its IPv4 address, in the IPv6 network. */
  #v6For(address: string, network6: string | undefined): string | undefined {
    if (!network6) return undefined;
    const v4 = Cidr.parse(address).address;
    const net = this.#net.network;
    let index = 0n;
    for (let i = 0; i < 4; i++) index = (index << 8n) | BigInt(v4[i] ^ net[i]);
    return formatAddress(Cidr.parse(network6).addressAt(index));
  }

  /** Labels joiners asserted outside `node.weft/` and that were dropped, since the start. */
  get labelsDropped(): number {
    return this.#labelsDropped;
  }

  /** The mesh's LAN key (a copy): it authenticates LAN announcements. Never log it. */
  get lanKey(): Uint8Array {
    return decodeLanKey(this.#data.lanKey)!;
  }

  /** The IPv6 network, if any. */
  get network6(): string | undefined {
    return this.#data.network6;
  }

  /**
   * This leader's own member record (the mesh may have several leaders: see {@link leaders}).
   * Once another leader removed it, its record as last seen.
   */
  get leader(): Member {
    const m = this.#idx(this.#data).byKey(this.#own);
    if (m) this.#self = m;
    return this.#self!;
  }

  /** Every member with the leader role, this one among them (a mesh may have several). */
  leaders(): Member[] {
    const ix = this.#idx(this.#data);
    return [...ix.leaderKeys()].map((k) => ix.byKey(k)!);
  }

  /** The network. */
  get network(): string {
    return this.#data.network;
  }

  /**
   * The current membership view. Member records are never changed in place (a change replaces
   * the record), so views share them; treat them as read-only.
   */
  view(): MembershipView {
    // Made once per state: a commit makes a new state, the members of a state never change.
    const d = this.#data;
    if (this.#shown?.data !== d) {
      this.#shown = {
        data: d,
        view: {
          network: d.network,
          ...(d.network6 ? { network6: d.network6 } : {}),
          version: d.version,
          members: [...d.members],
        },
      };
    }
    const v = this.#shown.view;
    // Callers may change the view object they get, not the records or their list.
    return { ...v };
  }

  /** The member with this overlay address (or name). */
  member(addressOrName: string): Member | undefined {
    return this.#idx(this.#data).byAddressOrName(addressOrName);
  }

  /** The member with this public key. */
  memberByKey(publicKey: string): Member | undefined {
    return this.#idx(this.#data).byKey(publicKey);
  }

  /** How many members the mesh has, the leaders among them. */
  get size(): number {
    return this.#data.members.length;
  }

  /** Subscribes to membership changes. */
  onChange(fn: (v: MembershipView) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Resolves once every change asked for so far is in the store; rejects if that write failed. */
  flush(): Promise<void> {
    return this.#change(() => ({ result: undefined, write: false }));
  }

  /** {@link flush}, then has the store fold what it holds (the leader stops: ../store/store.ts). */
  async flushAndCompact(): Promise<void> {
    await this.flush();
    await this.#store.compact?.();
  }

  /**
   * What changed since `version`: members to add or update and keys to remove; null when the
   * log no longer reaches back that far (send the whole view instead).
   */
  changesSince(version: number): { upsert: Member[]; remove: string[] } | null {
    if (version >= this.#data.version) return { upsert: [], remove: [] };
    const keys = this.changedKeysSince(version);
    if (!keys) return null;
    const ix = this.#idx(this.#data);
    const upsert: Member[] = [];
    const remove: string[] = [];
    for (const k of keys) {
      const m = ix.byKey(k);
      if (m) upsert.push({ ...m });
      else remove.push(k);
    }
    return { upsert, remove };
  }

  /**
   * The public keys of the members added, changed or removed since `version` (those the state
   * no longer holds were removed); null when the log no longer reaches back that far.
   */
  changedKeysSince(version: number): Set<string> | null {
    const keys = new Set<string>();
    if (version >= this.#data.version) return keys;
    const log = this.#log;
    const first = log[0];
    if (!first || version < first.version - 1) return null;
    // The log is in version order: only its tail since `version` is read.
    let i = log.length;
    while (i > 0 && log[i - 1].version > version) i--;
    for (; i < log.length; i++) for (const k of log[i].keys) keys.add(k);
    return keys;
  }

  /** The lowest free host address, or null when the network is exhausted. */
  #allocate(d: LeaderFile): string | null {
    return this.#idx(d).lowestFree();
  }

  /** When an allocation nobody has heard from is released. */
  #holdUntil(rec: JoinRecord): number {
    // A leader that was down cannot have heard anyone: each node gets the full hold after a start.
    return Math.max(rec.at, this.#openedAt) + this.#holdMs;
  }

  /**
   * Handles a join; the result is on disk before this resolves, and a write that fails rejects
   * and changes nothing. Nothing changes on refusal. A key that already holds an allocation gets
   * the same answer again (a retransmission, or a retry after a lost answer) when it presents
   * the token that admitted it, used up or not, or any other usable token (which is not used).
   *
   * Freshness: per key, the leader keeps the latest request time it accepted (on disk, also for
   * keys that were removed or released). A request older than that is refused as stale; one
   * with the same time is a retransmission and gets the same answer while the key holds its
   * allocation; a key removed with `weft node remove` joins again only with a later request and
   * a token other than the one it was admitted with. A request naming a member's key is a resend
   * only when `holdsKey` says it comes from that key's holder (its key proof: a member's key is
   * public), and a time more than 5 minutes ahead of `now` is refused, never kept (it would hold
   * the key out until then; ../join/freshness.ts).
   */
  join(
    req: JoinRequest,
    observed: string | null,
    now: number = Date.now(),
    holdsKey: () => boolean = () => false,
  ): Promise<JoinResult> {
    return this.#change((d, touch) => {
      // `usage`: refused for what the joiner was given (../join/request.ts JoinResult).
      const refuse = (error: string, usage = true): Edit<JoinResult> => ({
        result: { ok: false, error, ...(usage ? { usage } : {}) },
        write: false,
      });
      const found = d.tokens.find((t) => t.id === req.tokenId);
      if (!found || !secretMatches(found, req.secret)) return refuse("unknown token");
      const token = found;
      const ahead = joinTimeProblem(req.time, now);
      if (ahead !== undefined) return refuse(ahead, false);
      const problem = tokenProblem(token, now);
      const ix = this.#idx(d);
      const existing = ix.byKey(req.publicKey);
      if (existing?.role === "leader") return refuse(problem ?? "that key is a leader's");
      if (existing) {
        if (!holdsKey()) return refuse(NOT_KEY_HOLDER, false);
        const rec = d.joins?.[existing.publicKey];
        if (rec?.time !== undefined && req.time < rec.time) return refuse(STALE, false);
        if (rec?.token === token.id || problem === null) {
          const later = rec !== undefined && (rec.time === undefined || req.time > rec.time);
          if (later) d.joins![existing.publicKey] = { ...rec, time: req.time };
          return { result: this.#accepted(existing, d), write: later };
        }
        return refuse(problem);
      }
      const gone = d.left?.[req.publicKey];
      if (gone && req.time <= gone.time) return refuse(STALE, false);
      if (gone?.removedToken === req.tokenId) {
        return refuse("this node was removed: it can join again only with a new token");
      }
      if (problem !== null) return refuse(problem);
      const named = this.#nameFor(d, req, token, now);
      if ("error" in named) return refuse(named.error);
      const name = named.name;
      const address = this.#allocate(d);
      if (!address) return refuse(`network ${d.network} is exhausted`, false);
      // Granted labels come from the token alone; the joiner's own only under node.weft/.
      const own = splitLabels(req.labels);
      const grants = tokenGrants(token);
      const member: Member = {
        name,
        publicKey: req.publicKey,
        address,
        ...(d.network6 ? { address6: this.#v6For(address, d.network6) } : {}),
        endpoints: [...new Set([...(observed ? [observed] : []), ...req.endpoints])],
        ...(observed ? { observed } : {}),
        labels: { ...token.labels },
        ...(Object.keys(own.asserted).length ? { nodeLabels: own.asserted } : {}),
        role: "node",
        services: [],
        joinedAt: now,
        ...(grants ? { grants } : {}),
        // Relaying is the leader's grant; the node's --relay says it is willing.
        ...(req.relay && grants?.relay ? { relay: true as const } : {}),
        ...(req.tcpPort !== undefined ? { tcpPort: req.tcpPort } : {}),
        ...(req.routes?.length ? { advertisedRoutes: [...req.routes] } : {}),
        ...(req.run !== undefined ? { run: req.run } : {}),
      };
      member.services = this.#grantedServices(d, member, req.services);
      ix.add(member);
      if (token.usesLeft !== null) token.usesLeft--;
      d.joins![member.publicKey] = { token: token.id, at: now, heard: false, time: req.time };
      // Not heard from yet: it carries routes from its first hello (heardFrom).
      if (routesMatter(member)) this.#reassign(d, touch);
      if (gone) delete d.left![req.publicKey];
      touch(member.publicKey);
      return {
        result: this.#accepted(ix.byKey(member.publicKey) ?? member, d),
        write: true,
        // Counted once, for the run committed (another leader's commit first runs it again).
        after: () => {
          this.#labelsDropped += Object.keys(own.granted).length;
          this.#servicesRefused += req.services.length - member.services.length;
        },
      };
    });
  }

  /**
   * The name a joiner gets (./names.ts): the one its token pins, or refused; else the one it had
   * before (a removed node joining again) when it may have it back; else the one it asks for,
   * suffixed when another claim is on it.
   */
  #nameFor(
    d: LeaderFile,
    req: JoinRequest,
    token: StoredToken,
    now: number,
  ): { name: string } | { error: string } {
    const book = this.#nameBook(d, now);
    if (token.hostname !== undefined) {
      const p = nameProblem(token.hostname, req.publicKey, book, token.id);
      return p === undefined
        ? { name: token.hostname }
        : { error: `the name this token gives, "${token.hostname}", ${p}` };
    }
    const previous = req.previousName;
    if (previous !== undefined && nameProblem(previous, req.publicKey, book) === undefined) {
      return { name: previous };
    }
    return assignName(req.hostname, req.publicKey, book);
  }

  /** The claims on names in `d` at `now`, for ./names.ts. */
  #nameBook(d: LeaderFile, now: number): NameBook {
    const ix = this.#idx(d);
    const restricted = this.#restrictedNames(d);
    let held: Map<string, { key: string; until: number }> | undefined;
    let pinned: Map<string, string> | undefined;
    return {
      holder: (name) => ix.byName(name)?.publicKey,
      isService: (name) => ix.offersService(name) || restricted.has(name),
      held: (name) => (held ??= heldNames(d.left, now, this.#nameHoldMs)).get(name),
      pinnedBy: (name) => {
        if (!pinned) {
          pinned = new Map();
          for (const t of d.tokens) {
            if (t.hostname !== undefined && tokenProblem(t, now) === null) {
              pinned.set(t.hostname, t.id);
            }
          }
        }
        return pinned.get(name);
      },
    };
  }

  #accepted(member: Member, d: LeaderFile): JoinResult {
    return {
      ok: true,
      member: { ...member },
      // The leader that answers: the joiner syncs with it first.
      leader: { ...(this.#idx(d).byKey(this.#own) ?? this.leader) },
      network: d.network,
      ...(d.network6 ? { network6: d.network6 } : {}),
      version: d.version,
    };
  }

  /**
   * Notes that a member was heard from (a hello reached the leader): its join answer arrived,
   * so its allocation is kept for good.
   */
  heardFrom(publicKey: string): Promise<void> {
    // Every hello lands here: members already heard from cost one lookup, no change.
    if (this.#data.joins?.[publicKey]?.heard !== false) return Promise.resolve();
    return this.#change((d, touch) => {
      const rec = d.joins?.[publicKey];
      if (!rec || rec.heard) return { result: undefined, write: false };
      d.joins![publicKey] = { ...rec, heard: true };
      // A router carries routes once it is heard from (its join answer arrived).
      if (routesMatter(this.#idx(d).byKey(publicKey))) this.#reassign(d, touch);
      return { result: undefined, write: true };
    });
  }

  /**
   * Releases the allocations of nodes never heard from within the hold time: their answer was
   * lost, or came after they gave up. The name and address are free again and the token gets
   * its use back; the same key joining later is a fresh join. `heard` tells whether a key has
   * completed a handshake with the leader (its answer arrived): such nodes are kept.
   */
  releaseUnheard(
    now: number = Date.now(),
    heard: (publicKey: string) => boolean = () => false,
  ): Promise<Member[]> {
    if (!Object.values(this.#data.joins ?? {}).some((r) => !r.heard)) return Promise.resolve([]);
    return this.#change((d, touch) => {
      const released: Member[] = [];
      let write = false;
      for (const [key, rec] of Object.entries(d.joins ?? {})) {
        if (rec.heard) continue;
        if (heard(key)) {
          d.joins![key] = { ...rec, heard: true };
          write = true;
          if (routesMatter(this.#idx(d).byKey(key))) this.#reassign(d, touch);
          continue;
        }
        if (now < this.#holdUntil(rec)) continue;
        write = true;
        delete d.joins![key];
        // Its request may still be replayed: only a later one may join again.
        if (rec.time !== undefined) {
          this.#forgotten += remember(d, key, { time: rec.time, at: now });
        }
        const m = this.#idx(d).remove(key);
        if (m) {
          released.push(m);
          touch(key);
          if (routesMatter(m)) this.#reassign(d, touch);
        }
        const t = d.tokens.find((x) => x.id === rec.token);
        if (t && t.usesLeft !== null) t.usesLeft++;
      }
      return { result: released, write };
    });
  }

  /**
   * Records where a member is reachable now (its observed endpoint first, and its LAN candidates,
   * at most 8; its TCP port, null for none; whether it relays), its services, and the labels it
   * asserts about itself (`nodeLabels`: keys outside `node.weft/` are dropped). `labels` sets its granted labels: for the leader's operator only,
   * never from what a node says.
   */
  updateMember(
    publicKey: string,
    patch: {
      endpoints?: string[];
      /** The endpoint the leader saw the hello come from over UDP; null: none (TCP, relayed). */
      observed?: string | null;
      services?: ServiceSpec[];
      labels?: Record<string, string>;
      nodeLabels?: Record<string, string>;
      lan?: string[];
      relay?: boolean;
      tcpPort?: number | null;
      /** The routes it offers to carry (canonical, sorted; empty: none). */
      advertisedRoutes?: string[];
      /** The member is running (it said hello): it is no longer offline. */
      online?: true;
      /** The id of the run that said hello (absent: an older node; the record keeps its own). */
      run?: string;
    },
  ): Promise<boolean> {
    const own = patch.nodeLabels
      ? Object.fromEntries(Object.entries(patch.nodeLabels).filter(([k]) => isNodeLabelKey(k)))
      : undefined;
    if (patch.labels) {
      const p = grantedLabelsProblem(patch.labels);
      if (p !== undefined) return Promise.reject(new LeaderError(p));
    }
    const patched = (d: LeaderFile, old: Member): Member | null => {
      const m: Member = {
        ...old,
        ...(patch.endpoints ? { endpoints: [...new Set(patch.endpoints)].slice(0, 8) } : {}),
        ...(patch.observed ? { observed: patch.observed } : {}),
        ...(patch.services ? { services: this.#grantedServices(d, old, patch.services) } : {}),
        ...(patch.labels ? { labels: { ...patch.labels } } : {}),
        ...(own ? { nodeLabels: own } : {}),
        ...(patch.lan ? { lan: [...new Set(patch.lan)].slice(0, MAX_LAN) } : {}),
        ...(typeof patch.tcpPort === "number" ? { tcpPort: patch.tcpPort } : {}),
        ...(patch.advertisedRoutes ? { advertisedRoutes: [...patch.advertisedRoutes] } : {}),
        ...(patch.run ? { run: patch.run } : {}),
      };
      if (m.advertisedRoutes?.length === 0) delete m.advertisedRoutes;
      // Off is no field, as in records from before relays and TCP. A node relays when it is
      // willing (its --relay) and the leader granted it; the leader always relays.
      if (patch.relay === true && (old.role === "leader" || old.grants?.relay)) m.relay = true;
      else if (patch.relay !== undefined) delete m.relay;
      if (patch.tcpPort === null) delete m.tcpPort;
      if (patch.observed === null) delete m.observed;
      if (patch.online) delete m.offline;
      if (m.nodeLabels && Object.keys(m.nodeLabels).length === 0) delete m.nodeLabels;
      // No LAN candidates is no field: records stay as they were before candidates existed.
      if (m.lan && m.lan.length === 0) delete m.lan;
      return sameRecord(m, old) ? null : m;
    };
    // Every hello lands here: an unchanged member costs no change and no write.
    const now = this.#idx(this.#data).byKey(publicKey);
    if (!now) return Promise.resolve(false);
    // Counted once a call, here: the edit below may run again (another leader came first).
    if (patch.services) {
      this.#servicesRefused += patch.services.length -
        this.#grantedServices(this.#data, now, patch.services).length;
    }
    if (!patched(this.#data, now)) return Promise.resolve(false);
    return this.#change((d, touch) => {
      const ix = this.#idx(d);
      const old = ix.byKey(publicKey);
      const m = old ? patched(d, old) : null;
      if (!m) return { result: false, write: false };
      ix.replace(m);
      touch(m.publicKey);
      // What a router carries follows what it offers and whether it runs.
      if (
        (routesMatter(old) || routesMatter(m)) &&
        (m.offline !== old!.offline ||
          String(m.advertisedRoutes) !== String(old!.advertisedRoutes))
      ) this.#reassign(d, touch);
      return { result: true, write: true };
    });
  }

  /**
   * Marks a node that stops on purpose (its bye) offline: its services are withdrawn from its
   * record, which stays (name, address, key), until its next hello says it runs again. Resolves
   * with whether the record changed (a second bye, or one from the leader's key, changes nothing).
   */
  leave(publicKey: string): Promise<boolean> {
    const now = this.memberByKey(publicKey);
    if (!now || now.role === "leader" || now.offline) return Promise.resolve(false);
    return this.#change((d, touch) => {
      const ix = this.#idx(d);
      const old = ix.byKey(publicKey);
      if (!old || old.role === "leader" || old.offline) return { result: false, write: false };
      ix.replace({ ...old, services: [], offline: true });
      touch(publicKey);
      // A router stopping on purpose hands its routes to another at once.
      if (routesMatter(old)) this.#reassign(d, touch);
      return { result: true, write: true };
    });
  }

  /**
   * Changes what the leader granted a node (`weft node set`): relaying for others, and labels
   * (set or removed). A node given relaying relays once it is also willing (`--relay`: its next
   * hello); one that loses it stops at once. Labels change the policies, scoped views and
   * segments that select the node with the same view. Every other grant is kept: route
   * approvals change only through {@link setRouteApprovals}. Returns the member as it is now.
   */
  setGrants(nameOrAddress: string, change: GrantChange): Promise<Member> {
    const problem = grantChangeProblem(change);
    if (problem !== undefined) return Promise.reject(new LeaderError(problem));
    return this.#change((d, touch) => {
      const ix = this.#idx(d);
      const old = ix.byAddressOrName(nameOrAddress);
      if (!old) throw new LeaderNotFoundError(`no node "${nameOrAddress}"`);
      // Field by field: route approvals and service grants are kept (./grants.ts).
      const m = withGrantChange(old, change);
      if (typeof m === "string") throw new LeaderError(m);
      if (JSON.stringify(m) === JSON.stringify(old)) return { result: old, write: false };
      ix.replace(m);
      touch(m.publicKey);
      // What it carries is decided again with the change, not at some later hello.
      if (routesMatter(m)) this.#reassign(d, touch);
      return { result: ix.byKey(m.publicKey) ?? m, write: true };
    });
  }

  /**
   * The services among `offered` that `m` may offer: all for the leader; otherwise those whose
   * name no grant restricts (no token and no member's grants name it: open, as in a mesh
   * without grants) and those it was granted. The others are left out.
   */
  #grantedServices(d: LeaderFile, m: Member, offered: ServiceSpec[]): ServiceSpec[] {
    if (m.role === "leader" || offered.length === 0) return offered;
    const restricted = this.#restrictedNames(d);
    const mine = m.grants?.services ?? [];
    let book: NameBook | undefined;
    // Counted by the callers, once for the run committed (an edit may run again). An open offer
    // (no grant names it) may not take a name the zone answers otherwise, as a joiner may not
    // (services answer before host names there): another member's, a reserved or address name,
    // a pinned or held one (./names.ts nameProblem; a service's own name is no claim on it). One
    // the record holds already passed that when it came, and no name can be given to it since:
    // not asked again (a hello repeats its offers).
    const had = m.services.length ? new Set(m.services.map((s) => s.name)) : null;
    const open = (name: string) => {
      book ??= { ...this.#nameBook(d, Date.now()), isService: () => false };
      return nameProblem(name, m.publicKey, book) === undefined;
    };
    return offered.filter((s) =>
      mine.includes(s.name) || (!restricted.has(s.name) && (had?.has(s.name) || open(s.name)))
    );
  }

  /** The service names some grant mentions (a token's or a member's), for `d`. */
  #restrictedNames(d: LeaderFile): Set<string> {
    // Tokens are only ever added (a revoked one stays), and a member's granted names are its
    // token's: the names change with the tokens (their count and newest), or with another
    // leader's state.
    const tokens = `${d.tokens.length}:${d.tokens.at(-1)?.id}`;
    const cached = this.#restricted;
    if (cached !== null && cached.tokens === tokens && cached.epoch === this.#epoch) {
      return cached.names;
    }
    const names = new Set<string>();
    for (const t of d.tokens) for (const n of t.services ?? []) names.add(n);
    for (const m of d.members) for (const n of m.grants?.services ?? []) names.add(n);
    this.#restricted = { tokens, epoch: this.#epoch, names };
    return names;
  }

  /**
   * Which of a member's offered service names the grants refuse (for the leader's log): empty
   * for the leader and for names no grant restricts.
   */
  ungrantedServices(publicKey: string, offered: ServiceSpec[]): string[] {
    const m = this.memberByKey(publicKey);
    if (!m || m.role === "leader") return [];
    const kept = new Set(this.#grantedServices(this.#data, m, offered).map((s) => s.name));
    return offered.map((s) => s.name).filter((n) => !kept.has(n));
  }

  /** Service offers left out of member records because no grant allowed them. */
  get servicesRefused(): number {
    return this.#servicesRefused;
  }

  /** Removes a member by name or address. */
  removeNode(nameOrAddress: string): Promise<Member> {
    return this.#change((d, touch) => {
      const ix = this.#idx(d);
      const m = ix.byAddressOrName(nameOrAddress);
      if (!m) throw new LeaderNotFoundError(`no node "${nameOrAddress}"`);
      // Another leader may be removed (decommissioned); this one only by another.
      if (m.publicKey === this.#own) {
        throw new LeaderError("a leader cannot remove itself: remove it at another leader");
      }
      ix.remove(m.publicKey);
      const rec = d.joins?.[m.publicKey];
      delete d.joins![m.publicKey];
      // Removed stays removed: no replay of its request, no rejoin with the token that admitted it.
      // Its name too, for a while: a rule naming it must not pass to whoever joins next.
      this.#forgotten += remember(d, m.publicKey, {
        time: rec?.time ?? Date.now(),
        at: Date.now(),
        removedToken: rec?.token ?? "",
        name: m.name,
      });
      touch(m.publicKey);
      if (routesMatter(m)) this.#reassign(d, touch);
      return { result: m, write: true };
    });
  }

  /**
   * Frees a removed member's name before its grace period ends (`weft node free-name`): the next
   * joiner asking for it may have it. Rejects with {@link LeaderNotFoundError} when no removed
   * member holds it.
   */
  freeName(name: string, now: number = Date.now()): Promise<void> {
    return this.#change((d) => {
      const keys = Object.entries(d.left ?? {})
        .filter(([, r]) => r.name === name && now < r.at + this.#nameHoldMs).map(([k]) => k);
      if (!keys.length) throw new LeaderNotFoundError(`no removed member's name "${name}" is held`);
      for (const k of keys) {
        const { name: _, ...rest } = d.left![k];
        d.left![k] = rest;
      }
      return { result: undefined, write: true };
    });
  }

  /**
   * Approves routes for a node (`weft route approve`: prefixes, each covering the advertised
   * routes inside it, or `exit`) or revokes approvals (`weft route revoke`: the approvals equal
   * to or inside the prefix given). Refuses a revocation that leaves the prefix approved by a
   * wider approval, naming it, and an approval that covers nothing the node advertises unless
   * `preApprove` (approving ahead of the advertisement). Returns the member as it is now.
   */
  setRouteApprovals(
    nameOrAddress: string,
    change: { approve?: string[]; revoke?: string[]; preApprove?: boolean },
  ): Promise<Member> {
    let approve: string[];
    let revoke: string[];
    try {
      approve = parseApprovals(change.approve ?? []);
      revoke = parseApprovals(change.revoke ?? []);
    } catch (e) {
      return Promise.reject(new LeaderError((e as Error).message));
    }
    return this.#change((d, touch) => {
      const ix = this.#idx(d);
      const old = ix.byAddressOrName(nameOrAddress);
      if (!old) throw new LeaderNotFoundError(`no node "${nameOrAddress}"`);
      if (old.role === "leader") {
        throw new LeaderError("a leader's own routes need no approval");
      }
      const idle = unadvertisedApproval(old, approve, change.preApprove === true);
      if (idle !== null) throw new LeaderError(idle);
      const before = old.grants?.routes ?? [];
      const next = changedApprovals(before, approve, revoke, old.name);
      if (typeof next === "string") throw new LeaderError(next);
      const routes = next;
      const grants: MemberGrants = { ...old.grants, routes };
      if (routes.length === 0) delete grants.routes;
      const m: Member = { ...old, grants };
      if (Object.keys(grants).length === 0) delete m.grants;
      if (String(routes) === String(before)) return { result: old, write: false };
      ix.replace(m);
      touch(m.publicKey);
      this.#reassign(d, touch);
      return { result: ix.byKey(m.publicKey) ?? m, write: true };
    });
  }

  /**
   * Departed keys this leader forgot to stay within MAX_LEFT (./records.ts): a forgotten key's
   * old join request could be replayed.
   */
  get departedForgotten(): number {
    return this.#forgotten;
  }

  /** Every node's routes (`weft route list`). */
  routes(): NodeRoutes[] {
    return routeList(this.#data.members);
  }

  /**
   * Keys held as quiet: the quiet members, and members removed since they went quiet until the
   * next sweep (which comes once they outnumber the members).
   * @ignore internal: for tests of the bound
   */
  get quietHeld(): number {
    return this.#quiet.size;
  }

  /**
   * Notes that a member's hellos to this leader stopped (`quiet`) or came back: a quiet router
   * hands the routes it carries to a standby at once (HA routes); back, it stands by (no
   * preemption). Members using another leader are judged by that one.
   */
  setQuiet(publicKey: string, quiet: boolean): Promise<void> {
    // Members removed since they went quiet leave the set here (it holds quiet members only),
    // swept once it holds more keys than there are members: a sweep at every call was quadratic
    // when thousands of members go quiet at once (a leader started on 10,000 that are down).
    if (this.#quiet.size > this.#idx(this.#data).size) {
      for (const k of this.#quiet) if (!this.memberByKey(k)) this.#quiet.delete(k);
    }
    if (quiet === this.#quiet.has(publicKey)) return Promise.resolve();
    if (quiet && !this.memberByKey(publicKey)) return Promise.resolve();
    if (quiet) this.#quiet.add(publicKey);
    else this.#quiet.delete(publicKey);
    if (!routesMatter(this.memberByKey(publicKey))) return Promise.resolve();
    return this.#change((d, touch) => {
      this.#reassign(d, touch);
      return { result: undefined, write: false };
    });
  }

  /** Sets which router carries each route, in a change (see ./routes.ts). */
  #reassign(d: LeaderFile, touch: Touch): void {
    const ix = this.#idx(d);
    // Eligible: running (no bye), heard from since its join (its answer arrived), and its
    // hellos to this leader not stopped.
    const eligible = (m: Member) =>
      !m.offline && d.joins?.[m.publicKey]?.heard !== false && !this.#quiet.has(m.publicKey);
    reassignRoutes(d.members, eligible, (m) => {
      ix.replace(m);
      touch(m.publicKey);
    });
  }

  /** The policy in force, if any. */
  policy(): VersionedPolicy | null {
    return this.#data.policy ?? null;
  }

  /**
   * Puts a validated policy (canonical text) in force and on disk; returns its version. The same
   * text again changes nothing.
   */
  setPolicy(canonical: string): Promise<number> {
    return this.#change((d, touch) => this.#putPolicy(d, touch, canonical));
  }

  /**
   * Edits the policy in force and puts the result in force as {@link setPolicy} does; returns
   * its version. `edit` gets the document in force (an empty one when there is none) and returns
   * the new one, or throws (a `PolicyError`, a segment not found) and nothing changes. It runs
   * in the change queue on the state every change before it left, and again on the newer state
   * when another leader wrote first: two edits at once both apply, one on top of the other.
   */
  editPolicy(edit: (doc: PolicyDocument) => PolicyDocument): Promise<number> {
    return this.#change((d, touch) => {
      const doc = d.policy ? parsePolicy(d.policy.text) : { defaults: {}, policies: [] };
      return this.#putPolicy(d, touch, serializePolicy(edit(doc)));
    });
  }

  /** Makes `canonical` the policy in the copy `d` (a new version unless it is the same text). */
  #putPolicy(d: LeaderFile, touch: Touch, canonical: string): Edit<number> {
    const cur = d.policy;
    if (cur && cur.text === canonical) return { result: cur.version, write: false };
    const p = { version: (cur?.version ?? 0) + 1, text: canonical };
    d.policy = p;
    // Views are scoped by the policy (fanout.ts): a new one moves the view's version, so a
    // member holding the old version asks for its view again.
    touch();
    return {
      result: p.version,
      write: true,
      after: () => {
        for (const l of this.#policyListeners) l(p);
      },
    };
  }

  /** The service-leader leases' record, as last persisted (null: none yet). */
  leases(): LeaseRecord | null {
    return this.#data.leases ? structuredClone(this.#data.leases) : null;
  }

  /** Replaces the service-leader leases' record; resolves once it is on disk. */
  saveLeases(record: LeaseRecord): Promise<void> {
    const copy = structuredClone(record);
    return this.#change((d) => {
      d.leases = copy;
      return { result: undefined, write: true };
    });
  }

  /** Subscribes to policy changes. */
  onPolicy(fn: (p: VersionedPolicy) => void): () => void {
    this.#policyListeners.add(fn);
    return () => this.#policyListeners.delete(fn);
  }

  /** Creates a token; returns its id and secret (the secret is stored only hashed). */
  createToken(
    opts: {
      ttlMs: number;
      uses: number | null;
      labels: Record<string, string>;
      services?: string[];
      relay?: boolean;
      approveRoutes?: string[];
      /** The name its node gets, whatever it asks for (./names.ts). */
      hostname?: string;
    },
  ): Promise<
    { id: string; secret: string; expiresAt: number }
  > {
    const { min, max } = TOKEN_TTL_RANGE_MS;
    // Beyond the range an expiry is no longer a date (and a year is plenty for a join token).
    if (!(opts.ttlMs >= min && opts.ttlMs <= max)) {
      return Promise.reject(
        new LeaderError(`ttl must be from 1s to 365d (${min} to ${max} ms), got ${opts.ttlMs} ms`),
      );
    }
    const labelProblem = grantedLabelsProblem(opts.labels);
    if (labelProblem !== undefined) return Promise.reject(new LeaderError(labelProblem));
    const services = opts.services ?? [];
    const serviceProblem = grantedServicesProblem(services);
    if (serviceProblem !== undefined) return Promise.reject(new LeaderError(serviceProblem));
    if (opts.uses !== null && !(Number.isInteger(opts.uses) && opts.uses > 0)) {
      return Promise.reject(new LeaderError("uses must be a positive integer"));
    }
    let approveRoutes: string[];
    try {
      approveRoutes = parseApprovals(opts.approveRoutes ?? []);
    } catch (e) {
      return Promise.reject(new LeaderError(`approve-routes: ${(e as Error).message}`));
    }
    const { id, secret } = newTokenSecret();
    const now = Date.now();
    const t: StoredToken = {
      id,
      secretHash: hashSecret(secret),
      createdAt: now,
      expiresAt: now + opts.ttlMs,
      usesLeft: opts.uses,
      labels: { ...opts.labels },
      ...(services.length ? { services: [...services] } : {}),
      ...(opts.relay ? { relay: true as const } : {}),
      ...(approveRoutes.length ? { approveRoutes } : {}),
      ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
      revoked: false,
    };
    return this.#change((d, touch) => {
      if (opts.hostname !== undefined) {
        // A pinned name is never suffixed: one its node could not have is refused now.
        const book = this.#nameBook(d, now);
        const p = nameProblem(opts.hostname, "", {
          ...book,
          isService: (n) => book.isService(n) || services.includes(n),
        });
        if (p !== undefined) throw new LeaderError(`hostname "${opts.hostname}" ${p}`);
      }
      d.tokens.push(t);
      // A name this token restricts is no longer open: members offering it without a grant
      // lose it now rather than at their next hello.
      let refused = 0;
      if (services.length) {
        const ix = this.#idx(d);
        for (const m of [...d.members]) {
          const kept = this.#grantedServices(d, m, m.services);
          if (kept.length === m.services.length) continue;
          refused += m.services.length - kept.length;
          ix.replace({ ...m, services: kept });
          touch(m.publicKey);
        }
      }
      return {
        result: { id, secret, expiresAt: t.expiresAt },
        write: true,
        after: () => {
          this.#servicesRefused += refused;
          for (const l of this.#tokenListeners) l();
        },
      };
    });
  }

  /** Every token's id and secret hash: what the join gate derives its mac1 keys from. */
  tokenKeys(): { id: string; secretHash: string }[] {
    return this.#data.tokens.map(({ id, secretHash }) => ({ id, secretHash }));
  }

  /** Subscribes to new tokens. */
  onTokens(fn: () => void): () => void {
    this.#tokenListeners.add(fn);
    return () => this.#tokenListeners.delete(fn);
  }

  /** The tokens, without their hashes, each saying whether it has expired at `now`. */
  listTokens(now: number = Date.now()): TokenView[] {
    return this.#data.tokens.map(({ secretHash: _, ...t }) => ({
      ...t,
      expired: now >= t.expiresAt,
    }));
  }

  /** Revokes a token. */
  revokeToken(id: string): Promise<void> {
    return this.#change((d) => {
      const t = d.tokens.find((x) => x.id === id);
      if (!t) throw new LeaderNotFoundError(`no token "${id}"`);
      t.revoked = true;
      return { result: undefined, write: true };
    });
  }
}
