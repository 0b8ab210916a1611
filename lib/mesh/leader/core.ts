/**
 * The leader's state: members, address allocation, tokens, grants, routes, policy and leases,
 * committed to its store after every change and before any answer depends on it. Changes run
 * one at a time on a copy of the state that becomes the state only once the store committed it,
 * on the revision the copy was made from, so two joins never get the same address (even at two
 * leaders sharing a store) and a failed write changes nothing. Changes other leaders commit come
 * in through the store's watch and reach this leader's listeners as its own do.
 *
 * LeaderCore owns the change queue, the revision, the watch and the member index; what each
 * change does is a plain edit of the document, one module per area: join_edits.ts (joins and
 * allocations), mesh_edits.ts (the mesh and its leaders), member_edits.ts (member records),
 * name_edits.ts, service_edits.ts (grants and services), token_edits.ts, route_edits.ts,
 * policy_edits.ts, segment_edits.ts, lease_edits.ts.
 * @module
 */

import { Cidr } from "../../net/cidr.ts";
import type { Member, MembershipView, ServiceSpec } from "../../members/member.ts";
import type { TokenView } from "../join/token.ts";
import type { LeaderFile } from "../state/state.ts";
import type { LeaderStore, StoreSnapshot } from "../store/store.ts";
import { MemoryStore } from "../store/memory_store.ts";
import type { VersionedPolicy } from "../../policy/source.ts";
import type { PolicyDocument } from "../../policy/schema.ts";
import type { SegmentSpec } from "../../policy/segment_admin.ts";
import { decodeLanKey } from "../state/lan_key.ts";
import type { LeaseRecord } from "../../services/lease/arbiter.ts";
import type { JoinRequest, JoinResult } from "../join/request.ts";
import { ChangeQueue, type Edit, type Touch, type VersionEntry } from "./changes.ts";
import { changedMembers } from "./records.ts";
import { hostRange, type MemberIndex, MemberIndexes } from "./member_index.ts";
import { VersionLog } from "./version_log.ts";
import { type NodeRoutes, routeList } from "./routes.ts";
import { type GrantChange, grantChangeProblem } from "./grants.ts";
import { DEFAULT_NAME_HOLD_MS } from "./names.ts";
import { LeaderError } from "./errors.ts";
import type { EditContext, EditCounts } from "./edit_context.ts";
import * as joins from "./join_edits.ts";
import * as members from "./member_edits.ts";
import * as mesh from "./mesh_edits.ts";
import * as names from "./name_edits.ts";
import * as services from "./service_edits.ts";
import * as tokens from "./token_edits.ts";
import * as routes from "./route_edits.ts";
import * as policies from "./policy_edits.ts";
import * as segments from "./segment_edits.ts";
import * as leases from "./lease_edits.ts";

export { type GrantChange, grantChangeProblem } from "./grants.ts";
export { LeaderError, LeaderNotFoundError } from "./errors.ts";
export { TOKEN_TTL_RANGE_MS, type TokenRequest } from "./token_edits.ts";
export type { MemberUpdate } from "./member_edits.ts";
export type { MeshInit } from "./mesh_edits.ts";

/** How long a node that was answered but never heard from keeps its allocation, by default. */
export const DEFAULT_JOIN_HOLD_MS = 10 * 60_000;

// A hello that changes nothing (nearly every one) is answered with this one promise, made once.
const UNCHANGED: Promise<boolean> = Promise.resolve(false);

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
  readonly #changes: ChangeQueue;
  readonly #listeners = new Set<(v: MembershipView) => void>();
  readonly #policyListeners = new Set<(p: VersionedPolicy) => void>();
  readonly #tokenListeners = new Set<() => void>();
  // Which members each recent version touched, so nodes can catch up with a delta.
  readonly #log = new VersionLog();
  readonly #counts: EditCounts = { labelsDropped: 0, servicesRefused: 0, forgotten: 0 };
  // The service names grants restrict, cached for the tokens and an epoch that each adopted
  // state moves (another leader's state).
  readonly #restricted = new services.RestrictedNames();
  #epoch = 0;
  // The index of each list of members (a state's, or a copy's being edited), and the view of
  // the state, made once per state.
  readonly #indexes: MemberIndexes;
  #shown: { data: LeaderFile; view: MembershipView } | null = null;
  // Members whose hellos to this leader stopped (its liveness): they carry no routes.
  readonly #quiet = new routes.QuietMembers();
  // What the edits (the *_edits.ts modules) read of the core: see ./edit_context.ts.
  readonly #ctx: EditContext;

  private constructor(
    snapshot: StoreSnapshot,
    store: LeaderStore,
    holdMs: number,
    own: string,
    nameHoldMs: number,
    batchGapFactor: number | undefined,
  ) {
    this.#own = own;
    this.#data = snapshot.data;
    this.#revision = snapshot.revision;
    this.#store = store;
    this.#indexes = new MemberIndexes(hostRange(Cidr.parse(snapshot.data.network).toString()));
    this.#ctx = {
      index: (d) => this.#idx(d),
      own,
      ownRecord: () => this.leader,
      quiet: this.#quiet.keys,
      joinHoldMs: holdMs,
      openedAt: Date.now(),
      nameHoldMs,
      restricted: (d) => this.#restricted.of(d, this.#epoch),
      counts: this.#counts,
      policyChanged: (p) => this.#policyListeners.forEach((l) => l(p)),
      tokensChanged: () => this.#tokenListeners.forEach((l) => l()),
    };
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
      copied: (from, to) => this.#indexes.copied(from.members, to.members),
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
        this.#indexes.committed(d.members);
        d.joins.settle();
        this.#logged(log);
      },
    });
  }

  /** Adds versions to the change log and tells the membership listeners, when there are any. */
  #logged(log: VersionEntry[]): void {
    if (!log.length) return;
    this.#log.add(log);
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
    // The new document shares the records that did not change: its index is the old one's
    // changed by the others, not built again (29 ms of a foreign commit's adopt at 10,000).
    this.#indexes.adopted(old.members, s.data.members);
    this.#epoch++;
    const keys = changedMembers(old.members, s.data.members);
    if (keys.length || s.data.version !== old.version) {
      this.#logged([{ version: s.data.version, keys }]);
    }
    const p = s.data.policy;
    if (p && p.version !== old.policy?.version) this.#ctx.policyChanged(p);
    if (JSON.stringify(s.data.tokens) !== JSON.stringify(old.tokens)) this.#ctx.tokensChanged();
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
    init: mesh.MeshInit & {
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
      const problem = mesh.storedMeshProblem(loaded.data, init, store.where);
      if (problem !== undefined) throw new LeaderError(problem);
    }
    const snapshot = loaded ?? { data: mesh.newMesh(init, Date.now()), revision: 0 };
    const core = new LeaderCore(
      snapshot,
      store,
      holdMs,
      init.publicKey,
      nameHoldMs,
      init.batchGapFactor,
    );
    // A new mesh: nobody sees the core before this first write succeeds.
    const enter = loaded ? mesh.reopenMesh : mesh.foundMesh;
    await core.#change((d, touch) => enter(core.#ctx, d, touch, init, store));
    core.#follow();
    return core;
  }

  /** The index of `d`'s members (./member_index.ts MemberIndexes). */
  #idx(d: LeaderFile): MemberIndex {
    return this.#indexes.of(d.members);
  }

  /** Makes one change through the queue: see {@link ChangeQueue.change}. */
  #change<T>(edit: (d: LeaderFile, touch: Touch) => Edit<T>): Promise<T> {
    return this.#changes.change(edit);
  }

  /** Makes the change `edit` (one of the *_edits.ts functions) with `args`, in the queue. */
  #edit<A extends unknown[], T>(
    edit: (ctx: EditContext, d: LeaderFile, touch: Touch, ...args: A) => Edit<T>,
    ...args: A
  ): Promise<T> {
    return this.#changes.change((d, touch) => edit(this.#ctx, d, touch, ...args));
  }

  /** Labels joiners asserted outside `node.weft/` and that were dropped, since the start. */
  get labelsDropped(): number {
    return this.#counts.labelsDropped;
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
    const ix = this.#idx(this.#data);
    return this.#log.changesSince(version, this.#data.version, (k) => ix.byKey(k));
  }

  /**
   * The public keys of the members added, changed or removed since `version` (those the state
   * no longer holds were removed); null when the log no longer reaches back that far.
   */
  changedKeysSince(version: number): Set<string> | null {
    return this.#log.keysSince(version, this.#data.version);
  }

  /**
   * Handles a join (./join_edits.ts join, which has the freshness rules); the result is on disk
   * before this resolves, and a write that fails rejects and changes nothing, as does a refusal.
   */
  join(
    req: JoinRequest,
    observed: string | null,
    now: number = Date.now(),
    holdsKey: () => boolean = () => false,
  ): Promise<JoinResult> {
    return this.#edit(joins.join, req, observed, now, holdsKey);
  }

  /** Notes that a member was heard from (a hello): its allocation is kept for good. */
  heardFrom(publicKey: string): Promise<void> {
    // Every hello lands here: members already heard from cost one lookup, no change.
    if (this.#data.joins.get(publicKey)?.heard !== false) return Promise.resolve();
    return this.#edit(joins.heardFrom, publicKey);
  }

  /**
   * Releases the allocations of nodes never heard from within the hold time (their answer was
   * lost, or came after they gave up), but for those `heard` says completed a handshake.
   */
  releaseUnheard(
    now: number = Date.now(),
    heard: (publicKey: string) => boolean = () => false,
  ): Promise<Member[]> {
    for (const r of this.#data.joins.values()) {
      if (!r.heard) return this.#edit(joins.releaseUnheard, now, heard);
    }
    return Promise.resolve([]);
  }

  /**
   * Records what a member's hello says (or its operator's labels: never from what a node
   * says); see ./member_edits.ts MemberUpdate. Whether the record changed.
   */
  updateMember(publicKey: string, patch: members.MemberUpdate): Promise<boolean> {
    let update: members.MemberUpdate;
    try {
      update = members.checkedUpdate(patch);
    } catch (e) {
      return Promise.reject(e);
    }
    // Every hello lands here: an unchanged member costs no change and no write.
    const now = this.memberByKey(publicKey);
    if (!now) return Promise.resolve(false);
    // Counted once a call, here: the edit below may run again (another leader came first).
    if (update.services) {
      this.#counts.servicesRefused += update.services.length -
        services.grantedServices(this.#ctx, this.#data, now, update.services).length;
    }
    if (!members.updated(this.#ctx, this.#data, now, update)) return UNCHANGED;
    return this.#edit(members.updateMember, publicKey, update);
  }

  /**
   * Marks a node that stops on purpose (its bye) offline until its next hello: its services
   * are withdrawn, its record stays. Whether the record changed.
   */
  leave(publicKey: string): Promise<boolean> {
    const now = this.memberByKey(publicKey);
    if (!now || now.role === "leader" || now.offline) return Promise.resolve(false);
    return this.#edit(members.leave, publicKey);
  }

  /**
   * Changes what the leader granted a node (`weft node set`: relaying, labels; route approvals
   * only through {@link setRouteApprovals}); the member as it is now.
   */
  setGrants(nameOrAddress: string, change: GrantChange): Promise<Member> {
    const problem = grantChangeProblem(change);
    if (problem !== undefined) return Promise.reject(new LeaderError(problem));
    return this.#edit(services.setGrants, nameOrAddress, change);
  }

  /** Which of a member's offered service names the grants refuse (for the leader's log). */
  ungrantedServices(publicKey: string, offered: ServiceSpec[]): string[] {
    const m = this.memberByKey(publicKey);
    return m ? services.ungrantedServices(this.#ctx, this.#data, m, offered) : [];
  }

  /** Service offers left out of member records because no grant allowed them. */
  get servicesRefused(): number {
    return this.#counts.servicesRefused;
  }

  /** Removes a member by name or address (never this leader). */
  removeNode(nameOrAddress: string): Promise<Member> {
    return this.#edit(members.removeMember, nameOrAddress, Date.now());
  }

  /**
   * Frees a removed member's name before its grace period ends (`weft node free-name`); a
   * {@link LeaderNotFoundError} when no removed member holds it.
   */
  freeName(name: string, now: number = Date.now()): Promise<void> {
    return this.#change((d) => names.freeName(this.#ctx, d, name, now));
  }

  /**
   * Approves routes for a node or revokes approvals (`weft route approve|revoke`; refusals in
   * ./route_edits.ts); the member as it is now.
   */
  setRouteApprovals(
    nameOrAddress: string,
    change: { approve?: string[]; revoke?: string[]; preApprove?: boolean },
  ): Promise<Member> {
    let parsed: routes.ApprovalChange;
    try {
      parsed = routes.parseApprovalChange(change);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#edit(routes.setRouteApprovals, nameOrAddress, parsed);
  }

  /** Departed keys forgotten to stay within MAX_LEFT (./records.ts): their joins could replay. */
  get departedForgotten(): number {
    return this.#counts.forgotten;
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
    return this.#quiet.keys.size;
  }

  /**
   * Notes that a member's hellos to this leader stopped (`quiet`) or came back: a quiet router
   * hands the routes it carries to a standby at once (HA routes); back, it stands by (no
   * preemption). Members using another leader are judged by that one.
   */
  setQuiet(publicKey: string, quiet: boolean): Promise<void> {
    const ix = this.#idx(this.#data);
    if (!this.#quiet.set(publicKey, quiet, ix)) return Promise.resolve();
    return this.#change((d, touch) => {
      routes.reassign(this.#ctx, d, touch);
      return { result: undefined, write: false };
    });
  }

  /** The policy in force, if any. */
  policy(): VersionedPolicy | null {
    return this.#data.policy ?? null;
  }

  /** Puts a validated policy (canonical text) in force and on disk; returns its version. */
  setPolicy(canonical: string): Promise<number> {
    return this.#edit(policies.putPolicy, canonical);
  }

  /**
   * Edits the policy in force (./policy_edits.ts editPolicy) and puts the result in force as
   * {@link setPolicy} does. `edit` runs on the state every change before it left, and again on
   * a newer one when another leader wrote first: two edits at once both apply.
   */
  editPolicy(edit: (doc: PolicyDocument) => PolicyDocument): Promise<number> {
    return this.#edit(policies.editPolicy, edit);
  }

  /** Adds a segment to the policy in force (as {@link editPolicy}); the new version. */
  createSegment(spec: SegmentSpec): Promise<number> {
    return this.#edit(segments.createSegment, spec);
  }

  /** Removes a segment from the policy in force (as {@link editPolicy}); the new version. */
  deleteSegment(name: string): Promise<number> {
    return this.#edit(segments.deleteSegment, name);
  }

  /** Subscribes to policy changes. */
  onPolicy(fn: (p: VersionedPolicy) => void): () => void {
    this.#policyListeners.add(fn);
    return () => this.#policyListeners.delete(fn);
  }

  /** The service-leader leases' record, as last persisted (null: none yet). */
  leases(): LeaseRecord | null {
    return leases.leasesOf(this.#data);
  }

  /** Replaces the service-leader leases' record; resolves once it is on disk. */
  saveLeases(record: LeaseRecord): Promise<void> {
    const copy = structuredClone(record);
    return this.#change((d) => leases.saveLeases(d, copy));
  }

  /** Creates a token; returns its id and secret (the secret is stored only hashed). */
  createToken(
    opts: tokens.TokenRequest,
  ): Promise<{ id: string; secret: string; expiresAt: number }> {
    const now = Date.now();
    let made: tokens.NewToken;
    try {
      made = tokens.newToken(opts, now);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#edit(tokens.addToken, made, now);
  }

  /** Every token's id and secret hash: what the join gate derives its mac1 keys from. */
  tokenKeys(): { id: string; secretHash: string }[] {
    return tokens.tokenKeys(this.#data);
  }

  /** Subscribes to new tokens. */
  onTokens(fn: () => void): () => void {
    this.#tokenListeners.add(fn);
    return () => this.#tokenListeners.delete(fn);
  }

  /** The tokens, without their hashes, each saying whether it has expired at `now`. */
  listTokens(now: number = Date.now()): TokenView[] {
    return tokens.tokenViews(this.#data, now);
  }

  /** Revokes a token. */
  revokeToken(id: string): Promise<void> {
    return this.#change((d) => tokens.revokeToken(d, id));
  }
}
