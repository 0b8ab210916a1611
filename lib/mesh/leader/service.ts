/**
 * The leader's service to the nodes, on the control channel: it takes their hellos (endpoints,
 * LAN candidates, services, self-asserted labels), sends the LAN key to nodes that lack it,
 * answers a stale version with the view or what changed, announces membership changes (bursts
 * once, small changes with the notice itself) and policy changes, releases allocations whose
 * node was never heard from, and makes tokens and removals. What each node is told goes through
 * the fan-out (fanout.ts): views and deltas scoped by the policy, encoded once per group of
 * members that see the same members, not once per member.
 *
 * A mesh may have several leaders on one shared store. Each answers hellos from any member and
 * remembers which members use it (said hello lately: users.ts); it pushes changes,
 * its own and those its store's watch brings from the other leaders, to those members only (a
 * member that joined is pushed to once it said hello). A write its store refuses (no quorum,
 * unreachable) is dropped and counted (`store`), logged once a minute.
 * @module
 */

import type { Device } from "../../device/device.ts";
import type { Logger } from "../../log/logger.ts";
import type { Member, MembershipView, ServiceSpec, ViewChange } from "../../members/member.ts";
import { RateLimiter } from "../../protocol/ratelimiter.ts";
import type { EncodedControlPort } from "../sync/control_channel.ts";
import { byeWaitFor } from "../sync/bye.ts";
import { DEFAULT_JOIN_HOLD_MS, type GrantChange, type LeaderCore } from "./core.ts";
import { compilePolicyText, type VersionedPolicy } from "../../policy/source.ts";
import type { SegmentSpec } from "../../policy/segment_admin.ts";
import {
  type ControlMessage,
  DEFAULT_HELLO_MS,
  helloEveryOf,
  helloRttOf,
} from "../sync/protocol.ts";
import { AnswerPacer } from "./answers.ts";
import { PushCarry, type PushCarryCounts } from "./push_carry.ts";
import { SnapshotFetches } from "./snapshot_fetches.ts";
import { type LeaderSharedCounts, SharedViews } from "./shared_views.ts";
import { LeaderUsers } from "./users.ts";
import { type Hello, HelloRate } from "./hello_rate.ts";
import { HelloRefusals, helloUpdate } from "./hello_update.ts";
import { Fanout, PUSH_PARTS_MAX } from "./fanout.ts";
import { type PushCounts, PushSchedule } from "./push_schedule.ts";
import type { GroupId, Scope } from "./scope.ts";
import { type CreatedToken, type TokenOptions, tokenRequest, tokenText } from "./token_text.ts";
import { observedEndpoint } from "../join/server.ts";
import { lanKeyId } from "../state/lan_key.ts";
import { encodeBase64 } from "../../crypto/base64.ts";
import { StoreError } from "../../store/kv.ts";
import type { NodeRoutes } from "./routes.ts";

import type { LeaderOptions, PolicyApplied } from "./leader_options.ts";

export { leaderFromConfig } from "./leader_options.ts";
export type { LeaderOptions, PolicyApplied } from "./leader_options.ts";

export type { CreatedToken, TokenOptions } from "./token_text.ts";
export { FETCH_IDLE_MS, FETCH_RATE, FETCHING_MAX } from "./snapshot_fetches.ts";
export { USER_WINDOW_MS } from "./users.ts";
export { HELLO_RATE } from "./hello_rate.ts";

/** What the service works with. */
export interface LeaderServiceDeps {
  /** The leader's state. */
  core: LeaderCore;
  /** The leader's device (its key, the peers' endpoints and handshakes). */
  device: Pick<Device, "publicKey" | "peer">;
  /** The control channel to the nodes (changes go out encoded once, `sendEncoded`). */
  channel: EncodedControlPort;
  /** The logger. */
  logger: Logger;
  /**
   * Applies a view to this node (peers, policy, subscribers), with how it differs from the one
   * applied before when the change log says (null: take it whole).
   */
  applyView: (v: MembershipView, change: ViewChange | null) => void;
  /** Puts a policy in force on this node. */
  usePolicy: (p: VersionedPolicy | null) => void;
  /**
   * The leader's own ports, as its agent got them: its record gets the TCP port (none: null)
   * and `relay` (the leader always relays); tokens carry the TCP port when it is not the UDP
   * port's number. Absent: the record is left as stored and tokens carry no TCP port.
   */
  underlay?: { listenPort: number; tcpPort: number | null };
  /** Monotonic milliseconds, for the hello rate (default `performance.now`). */
  now?: () => number;
  /**
   * A member said bye and is offline now (after its record changed, before its answer): the
   * leases it held are released at once (lib/services/lease/).
   */
  memberLeft?: (publicKey: string) => void;
  /**
   * A member's hello was heard (before the hello rate: every hello says the member lives), with
   * the interval it says it keeps ({@link DEFAULT_HELLO_MS} when it does not say) and the RTT it
   * measured to this leader (null: none said): its liveness (../../health/heard.ts).
   */
  heard?: (publicKey: string, everyMs: number, rttMs: number | null) => void;
  /**
   * The most hellos a second the members are paced to (default 1,000, the protocol's
   * `LEADER_HELLOS_PER_SECOND`): past it, each is asked for a longer interval.
   */
  hellosPerSecond?: number;
  /** A member was asked for hellos every `everyMs` from now on (its liveness expects them so). */
  paced?: (publicKey: string, everyMs: number) => void;
  /**
   * How long after its bye arrived a member's written bye waits for the push that tells every
   * member before it is answered anyway, ms, by the mesh's size (default {@link byeAnswerWithin}).
   */
  byeAnswerMs?: (members: number) => number;
  /**
   * How long the message handled now waited in the underlay socket before it was read, ms (the
   * device's `readWaitMs`; default 0): a bye's `byeAnswerMs` runs from when it reached this
   * machine, as the node's wait runs from when it sent it, not from when a busy leader read it.
   */
  readWaitMs?: () => number;
  /** The pushes' budget: datagrams a second and the longest gap, ms (defaults: push_schedule.ts's). */
  pushBudget?: { perSecond?: number; maxGapMs?: number };
  /**
   * Members of a group that take carried pushes from which its pushes go through carriers
   * (push_carry.ts; default its `CARRY_MIN`; 0: never).
   */
  carryMin?: number;
}

/**
 * How long after a bye arrived the leader answers it once written even if the push that tells
 * every member is not out yet, ms: half the node's wait ({@link byeWaitFor}). In a small mesh the
 * push is out long before (the node goes once every member knows); at 10,000 members the push
 * under way and its own take seconds on a busy leader, and an answer after the node gave up
 * tells it nothing.
 */
export function byeAnswerWithin(members: number): number {
  return byeWaitFor(members) / 2;
}

/** Serves the nodes from the leader. See the module docs. */
export class LeaderService {
  readonly #core: LeaderCore;
  readonly #device: Pick<Device, "publicKey" | "peer">;
  readonly #channel: EncodedControlPort;
  // What each member is told, scoped and encoded once (made at `start`).
  #fanout: Fanout | null = null;
  // Answers to hellos: whole views a slice per turn, one under way per member.
  readonly #answers: AnswerPacer;
  // Pushes members carry for each other (push_carry.ts).
  readonly #carry: PushCarry;
  readonly #logger: Logger;
  readonly #deps: LeaderServiceDeps;
  readonly #holdMs: number;
  readonly #stops: (() => void)[] = [];
  // The LAN key as sent to nodes whose hello names another (or none), and its id.
  readonly #lanKey: string;
  readonly #lanKeyId: string;
  // What hellos claimed that no grant allows: counted, logged once a minute per member.
  readonly #refused: HelloRefusals;
  // Each member's hellos (and byes) held to the hellos' rate.
  readonly #helloRate: HelloRate;
  // Members fetching their view in windows, and those in line to.
  readonly #fetches: SnapshotFetches;
  // Members taking shared views (manifests, pieces from holders), and the holders.
  readonly #shared: SharedViews;
  // The version each group was last told, by the push.
  readonly #toldAt = new Map<GroupId, number>();
  // Called once the next push made is out (the answers to byes whose change it carries).
  readonly #afterPush: (() => void)[] = [];
  // Members whose bye is being written or waits for its push: their byes meanwhile (the node
  // asks again every third of a second) wait for that answer rather than each add an edit.
  readonly #leaving = new Set<string>();
  // Byes written whose push (telling every member) is not out yet: pushes go ahead of views.
  #byesUnpushed = 0;
  // The timers that answer written byes whose push is late.
  readonly #byeTimers = new Set<ReturnType<typeof setTimeout>>();
  #byesRefused = 0;
  // Member writes (hellos, byes) the store refused, and one log line a minute about them.
  #storeRefused = 0;
  readonly #storeLog = new RateLimiter({ perSecond: 1 / 60, burst: 1, maxEntries: 4 });
  // The members that use this leader, and the hello interval each was asked for.
  readonly #users: LeaderUsers;
  readonly #now: () => number;
  readonly #byeAnswerMs: (members: number) => number;
  // One log line per member a minute for byes it may not send.
  readonly #byeLog = new RateLimiter({ perSecond: 1 / 60, burst: 1, maxEntries: 4096 });
  // Pushes the changes now if the push budget allows, or at once with `force` (set by `start`).
  #pushNow: (force?: boolean) => void = () => {};
  // When pushes are made (set by `start`).
  #pushes: PushSchedule | null = null;
  // Makes sure the change notice's timer runs (set by `start`): a change waiting for it goes
  // with the others of its burst.
  #pushSoon: () => void = () => {};

  /** A stopped service; `start` begins it. */
  constructor(deps: LeaderServiceDeps, opts: Pick<LeaderOptions, "joinHoldMs"> = {}) {
    this.#deps = deps;
    this.#helloRate = new HelloRate((key, msg, from) => {
      const member = this.#core.member(from);
      if (member && member.publicKey === key) this.#onHello(msg, member, from);
    }, deps.now);
    this.#now = deps.now ?? (() => performance.now());
    this.#byeAnswerMs = deps.byeAnswerMs ?? byeAnswerWithin;
    this.#core = deps.core;
    const key = deps.core.lanKey;
    this.#lanKey = encodeBase64(key);
    this.#lanKeyId = lanKeyId(key);
    this.#device = deps.device;
    this.#channel = deps.channel;
    this.#logger = deps.logger;
    this.#refused = new HelloRefusals(deps.logger);
    this.#holdMs = opts.joinHoldMs ?? DEFAULT_JOIN_HOLD_MS;
    this.#answers = new AnswerPacer((to, bytes) => this.#channel.sendEncoded(to, bytes), {
      // A bye's change goes to every member ahead of views: from its bye until its push is out
      // (answered or not).
      urgent: () => this.#leaving.size > 0 || this.#byesUnpushed > 0,
    });
    this.#carry = new PushCarry({
      ...(deps.carryMin !== undefined ? { min: deps.carryMin } : {}),
      // A member a hello or two late still carries (its paced interval, and a second's slack).
      freshMs: () => 2 * this.#users.helloInterval() + 1000,
      now: this.#now,
    });
    this.#users = new LeaderUsers({
      size: () => deps.core.size,
      hellosPerSecond: deps.hellosPerSecond,
      now: this.#now,
      askPace: (to, hi) => this.#channel.send(to, { t: "pace", hi }),
      ...(deps.paced ? { paced: deps.paced } : {}),
    });
    this.#shared = new SharedViews({
      fanout: () => this.#fanout,
      memberByKey: (key) => deps.core.memberByKey(key),
      answers: this.#answers,
      behindPush: (key, fn) => this.#behindPush(key, fn),
      ...(deps.now ? { now: deps.now } : {}),
    });
    this.#fetches = new SnapshotFetches({
      core: deps.core,
      fanout: () => this.#fanout,
      answers: this.#answers,
      shared: this.#shared,
      ...(deps.now ? { now: deps.now } : {}),
    });
  }

  /** Applies the leader's view and policy, then follows their changes and serves hellos. */
  start(): void {
    const core = this.#core;
    const me = this.#device.publicKey;
    const started = core.view();
    this.#deps.applyView(started, null);
    // The version applied last: the next view is applied with what changed since (the change
    // log's), so this node's parts cost what a batch changed, not a pass over every member.
    let applied = started.version;
    const applyView = (v: MembershipView) => {
      const keys = core.view().version === v.version ? core.changedKeysSince(applied) : null;
      let change: ViewChange | null = null;
      if (keys) {
        const upsert: Member[] = [];
        const remove: string[] = [];
        for (const k of keys) {
          const m = core.memberByKey(k);
          if (m) upsert.push(m);
          else remove.push(k);
        }
        change = { from: applied, upsert, remove };
      }
      this.#deps.applyView(v, change);
      applied = v.version;
    };
    this.#deps.usePolicy(core.policy());
    // A single leader just started does not know its users yet: the online members count as
    // users until a hello interval shows who they are (with other leaders, they use those).
    if (!started.members.some((m) => m.role === "leader" && m.publicKey !== me)) {
      this.#users.seed(started.members);
    }
    const fanout = this.#fanout = new Fanout(core);
    const send = (to: string, bytes: Uint8Array) => this.#channel.sendEncoded(to, bytes);
    this.#stops.push(core.onPolicy((p) => {
      this.#deps.usePolicy(p);
      // A policy moves the view's version (its scope may change): the push tells each group
      // what it gained and lost (nothing, mostly). A policy of a few parts is pushed too, before
      // the notice: a member that got all of it holds the notice's versions and asks nothing
      // (every member asking at once had the leader take 10,000 hellos and answer each); one
      // that lost a part, or of a policy too long to push, asks with a hello.
      this.#pushNow(true);
      const notice = fanout.policyNotice(p);
      const parts = fanout.policyParts(p);
      const pushed = parts.length <= PUSH_PARTS_MAX ? parts : [];
      const sends: (string | Uint8Array)[] = [];
      for (const m of this.#users.served(core.view())) {
        for (const part of pushed) sends.push(m.address, part);
        sends.push(m.address, notice);
      }
      this.#answers.push(sends);
    }));
    const toldAt = this.#toldAt;
    // Pushes spaced to their budget of datagrams a second (push_schedule.ts): changes meanwhile
    // go together.
    const schedule = this.#pushes = new PushSchedule({
      passed: () => this.#carry.takePassed(),
      pushing: () => this.#answers.pushing,
      whenPushed: (fn) => this.#answers.whenPushed(fn),
      make: () => {
        const now = core.view();
        fanout.update(now);
        // Each group hears its own delta (small ones with the notice: nodes that hold the version
        // it was last told apply them at once), encoded once and sent paced, ahead of whole views;
        // the others pull as usual.
        const sends: (string | Uint8Array)[] = [];
        const carry = this.#carry;
        fanout.push(this.#users.served(now), toldAt, (to, bytes) => sends.push(to, bytes), {
          min: carry.min,
          able: (key) => carry.able(key),
          carry: (parts, members, pv, from, v) => carry.carry(parts, members, pv, from, v, sends),
        });
        this.#answers.push(sends);
        for (const fn of this.#afterPush.splice(0)) this.#answers.whenPushed(fn);
        return sends.length / 2;
      },
      ...this.#deps.pushBudget,
    });
    this.#pushNow = (force) => schedule.now(force);
    this.#pushSoon = () => schedule.soon();
    this.#stops.push(() => schedule.close());
    let shown = core.view();
    // A view whose applying waits (below); views are applied in order, the latest winning.
    let deferred: MembershipView | null = null;
    const applyDeferred = () => {
      const v = deferred;
      deferred = null;
      if (v) applyView(v);
    };
    this.#stops.push(core.onChange((v) => {
      // Members that are gone (removed, released) hear it while their sessions still exist: the
      // new view, without them. The control stack sends from a microtask, so the view that drops
      // their peers is applied in a later one.
      let told = false;
      for (const m of this.#gone(shown, v)) {
        if (m.publicKey === me) continue;
        this.#users.forget(m.publicKey);
        this.#carry.forget(m.publicKey);
        this.#answers.forget(m.publicKey);
        this.#fetches.forget(m.publicKey);
        this.#shared.forget(m.publicKey);
        // Another leader learns it from the store; a node, from every leader that sees it go
        // (the one it uses may be the one that removed it, or another).
        if (m.role === "leader") continue;
        // Twice: this is their last word from the leader (no peer is left to ask again), and a
        // node that misses it would run on with no peers, not knowing why.
        const parts = fanout.goneParts(v);
        for (const part of [...parts, ...parts]) send(m.address, part);
        told = true;
      }
      shown = v;
      fanout.update(v);
      if (told || deferred !== null) {
        deferred = v;
        queueMicrotask(applyDeferred);
      } else applyView(v);
      // Bursts of changes (many joins) are pushed once, within the push budget.
      schedule.soon();
    }));
    // Allocations whose answer never arrived are released after the hold time.
    const release = setInterval(
      () => this.#releaseUnheard(),
      Math.min(this.#holdMs / 2, 30_000),
    );
    this.#stops.push(() => clearInterval(release));
    // Places of members that stopped fetching free up for those in line.
    const admit = setInterval(() => this.#fetches.admit(), 1000);
    this.#stops.push(() => clearInterval(admit));
    this.#channel.listen((msg, from) => this.#onMessage(msg, from));
    const underlay = this.#deps.underlay;
    if (underlay) {
      core.updateMember(me, { relay: true, tcpPort: underlay.tcpPort }).catch((e) =>
        this.#logger.error("saving the leader's TCP port failed", { error: String(e) })
      );
    }
  }

  /**
   * The members of `before` that `after` no longer holds. The change log says which keys changed
   * in between, so a change costs what it touched, not a pass over every member per member; only
   * when some are gone are their records looked up in `before`.
   */
  #gone(before: MembershipView, after: MembershipView): Member[] {
    const core = this.#core;
    const keys = core.view().version === after.version
      ? core.changedKeysSince(before.version)
      : null;
    if (keys === null) {
      // The log does not reach back (or the state moved on): the two lists compared once.
      const kept = new Set(after.members.map((m) => m.publicKey));
      return before.members.filter((m) => !kept.has(m.publicKey));
    }
    const removed = new Set([...keys].filter((k) => !core.memberByKey(k)));
    return removed.size ? before.members.filter((m) => removed.has(m.publicKey)) : [];
  }

  /** Labels that nodes claimed outside `node.weft/` (in a join or a hello), dropped. */
  get labelsDropped(): number {
    return this.#refused.labelsDropped + this.#core.labelsDropped;
  }

  /**
   * Creates a join token; nodes that join with it are granted its labels, the service names in
   * `services` and, with `relay`, relaying for others.
   */
  async createToken(opts: TokenOptions = {}): Promise<CreatedToken> {
    const core = this.#core;
    const t = await core.createToken(tokenRequest(opts));
    const token = tokenText(t, core.leader, core.leaders(), core.network, this.#deps.underlay);
    this.#logger.info("token created", {
      id: t.id,
      ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
      expiresAt: new Date(t.expiresAt).toISOString(),
    });
    return { id: t.id, token, expiresAt: t.expiresAt };
  }

  /**
   * Changes what a node was granted: relaying for others, labels (`weft node set`); the member
   * as it is now.
   */
  async setNodeGrants(nameOrAddress: string, change: GrantChange): Promise<Member> {
    const m = await this.#core.setGrants(nameOrAddress, change);
    this.#logger.info("node grants set", {
      name: m.name,
      address: m.address,
      relay: m.grants?.relay === true,
      labels: Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(","),
    });
    return m;
  }

  /**
   * Approves routes for a node or revokes approvals (`weft route approve|revoke`); the member as
   * it is now. Members start or stop routing through it with the change. An approval covering
   * nothing the node advertises is refused unless `preApprove`.
   */
  async setRouteApprovals(
    nameOrAddress: string,
    change: { approve?: string[]; revoke?: string[]; preApprove?: boolean },
  ): Promise<Member> {
    const m = await this.#core.setRouteApprovals(nameOrAddress, change);
    this.#logger.info(change.revoke?.length ? "routes revoked" : "routes approved", {
      name: m.name,
      address: m.address,
      approved: (m.grants?.routes ?? []).join(","),
      carries: (m.routes ?? []).join(","),
    });
    return m;
  }

  /** Every node's routes: advertised, approved, carried (`weft route list`). */
  routes(): NodeRoutes[] {
    return this.#core.routes();
  }

  /** Service offers left out of member records because no grant allowed them. */
  get servicesRefused(): number {
    return this.#core.servicesRefused;
  }

  /** What the leader refused of members' joins and hellos, by reason (for `/metrics`). */
  refusals(): Record<string, number> {
    return {
      label: this.labelsDropped,
      service: this.servicesRefused,
      hello: this.#helloRate.refused,
      fetch: this.#fetches.refused,
      bye: this.#byesRefused,
      store: this.#storeRefused,
    };
  }

  /** What the leader counted of shared views (for `/metrics`). */
  sharedViews(): LeaderSharedCounts & { holders: number } {
    const c = this.#shared.counts;
    return {
      manifests: c.manifests,
      sent: { ...c.sent },
      drops: { ...c.drops },
      holders: this.#shared.holders,
    };
  }

  /** What the carried pushes did (for `/metrics`). */
  carried(): PushCarryCounts {
    return this.#carry.counts();
  }

  /** What the pushes did: made, their datagrams, spaced to the budget (for `/metrics`). */
  pushes(): PushCounts & { gapMs: number } {
    const p = this.#pushes;
    return p ? { ...p.counts, gapMs: p.gapMs } : { pushes: 0, datagrams: 0, spaced: 0, gapMs: 0 };
  }

  /**
   * Calls `fn` once member `key`'s group was pushed a version that holds its record (now, when it
   * was): holders answer a joiner's handshake only once they have its record.
   */
  #behindPush(key: string, fn: () => void): void {
    const fanout = this.#fanout;
    const g = fanout?.scope.groupOf(key);
    if (!fanout || g === undefined || (this.#toldAt.get(g) ?? -1) >= fanout.changedAt(key)) {
      return fn();
    }
    // The next push holds it: the one its change set going (at most the burst's 50 ms away), not
    // one made for it, so joiners arriving together share one push to the group instead of
    // each sending every member a push of its own.
    this.#afterPush.push(fn);
    this.#pushSoon();
  }

  /**
   * Whether member `viewer` may know of member `seen` (by keys): views scoped by policy. Before
   * `start`, every member may.
   */
  sees(viewer: string, seen: string): boolean {
    return this.#fanout?.sees(viewer, seen) ?? true;
  }

  /**
   * The groups members are in by what they may see (scope.ts), for parts that tell members of
   * others (the lease table): null before `start`.
   */
  get scope(): Scope | null {
    return this.#fanout?.scope ?? null;
  }

  /** Whether the member with `publicKey` uses this leader (said hello lately). */
  serves(publicKey: string): boolean {
    return this.#users.serves(publicKey);
  }

  /** The hello interval this leader asks of its members now, ms (for the fleet's size: users.ts). */
  helloInterval(): number {
    return this.#users.helloInterval();
  }

  /**
   * A member's write failed: one the store refused (no quorum, unreachable) is dropped and
   * counted, logged once a minute; anything else is logged as an error.
   */
  #writeFailed(what: string, e: unknown): void {
    if (!(e instanceof StoreError)) {
      this.#logger.error(`${what} failed`, { error: String(e) });
      return;
    }
    this.#storeRefused++;
    if (this.#storeLog.allow("store")) {
      this.#logger.warn(`${what} dropped: the store refused the write`, {
        error: e.message,
        refused: this.#storeRefused,
      });
    }
  }

  /** Removes a node from the mesh. */
  async removeNode(nameOrAddress: string): Promise<Member> {
    const m = await this.#core.removeNode(nameOrAddress);
    this.#logger.info("node removed", { name: m.name, address: m.address });
    return m;
  }

  /** Frees a removed node's name before its grace period ends: another joiner may have it. */
  async freeName(name: string): Promise<void> {
    await this.#core.freeName(name);
    this.#logger.info("name freed", { name });
  }

  /**
   * Puts a policy in force once it is checked whole against the members (a `PolicyError` lists
   * every problem); the nodes hear of it. The warnings are logged too.
   */
  async setPolicy(text: string): Promise<PolicyApplied> {
    const { canonical, warnings } = compilePolicyText(text, { view: this.#core.view() });
    const version = await this.#core.setPolicy(canonical);
    if (warnings.length) this.#logger.warn("policy warnings", { version, warnings });
    return { version, warnings };
  }

  /**
   * Adds a segment to the policy in force (a new policy version, which the nodes hear of);
   * returns the version. Refusals as `addSegment`'s.
   */
  async createSegment(spec: SegmentSpec): Promise<number> {
    const version = await this.#core.createSegment(spec);
    this.#logger.info("segment created", { name: spec.name, vni: spec.vni, policy: version });
    return version;
  }

  /** Removes a segment from the policy in force; returns the new version (as createSegment). */
  async deleteSegment(name: string): Promise<number> {
    const version = await this.#core.deleteSegment(name);
    this.#logger.info("segment deleted", { name, policy: version });
    return version;
  }

  /** Replaces the leader's own LAN candidates; resolves once they are in its state. */
  async setLan(lan: string[]): Promise<void> {
    await this.#core.updateMember(this.#device.publicKey, { lan });
  }

  /** Replaces the leader's own services; resolves once they are in its state. */
  async setServices(services: ServiceSpec[]): Promise<void> {
    await this.#core.updateMember(this.#device.publicKey, { services });
  }

  /** Stops following changes, the notices and the releases. */
  close(): void {
    this.#pushNow = () => {};
    this.#pushSoon = () => {};
    for (const stop of this.#stops.splice(0)) stop();
    this.#answers.close();
    this.#helloRate.close();
    this.#fetches.clear();
    this.#shared.clear();
    this.#afterPush.length = 0;
    this.#leaving.clear();
    this.#byesUnpushed = 0;
    for (const t of this.#byeTimers) clearTimeout(t);
    this.#byeTimers.clear();
  }

  #releaseUnheard(): void {
    const device = this.#device;
    // A completed handshake means the node got its answer, hello or not.
    const heard = (key: string) => (device.peer(key)?.lastHandshakeUnixMs ?? 0) > 0;
    this.#core.releaseUnheard(Date.now(), heard).then((released) => {
      for (const m of released) {
        this.#logger.warn("join released: the node was never heard from", {
          name: m.name,
          address: m.address,
        });
      }
    }).catch((e) => this.#logger.error("releasing unheard joins failed", { error: String(e) }));
  }

  #onMessage(msg: ControlMessage, from: string): void {
    if (msg.t === "bye") return this.#onBye(msg.k, from);
    if (msg.t === "fetch") return this.#onFetch(msg, from);
    if (msg.t === "pget") {
      // Pieces of a shared view: a member's own group's only (shared_views.ts).
      const m = this.#core.member(from);
      if (m && m.role !== "leader") this.#shared.ask(m.publicKey, from, msg);
      return;
    }
    if (msg.t !== "hello") return;
    const member = this.#core.member(from);
    // Another leader's record is its own to write (from its store), never from a hello.
    if (!member || member.role === "leader") return;
    // It uses this leader now: changes are pushed to it (held to the members: bounded).
    this.#users.heard(member.publicKey);
    this.#deps.heard?.(
      member.publicKey,
      helloEveryOf(msg.hi) ?? DEFAULT_HELLO_MS,
      helloRttOf(msg.rtt),
    );
    // Over the rate, only the member's latest hello is kept, and taken when the rate allows.
    if (this.#helloRate.hello(member.publicKey, msg, from)) this.#onHello(msg, member, from);
  }

  /**
   * A member stopping on purpose: checked against the sender (the overlay address WireGuard
   * authenticated says which member sent it, and a member says bye only for itself) and held to
   * the hellos' rate (a bye and a hello in turns would each change the record), then marked
   * offline and its leases released, every member told at once (ahead of whole views), and
   * answered once they are, or once written when that push is late (`byeAnswerMs`).
   */
  #onBye(key: string, from: string): void {
    const member = this.#core.member(from);
    if (!member || member.role === "leader") return;
    if (key !== member.publicKey) {
      this.#byesRefused++;
      if (this.#byeLog.allow(member.publicKey)) {
        this.#logger.warn("a node said bye for another key: refused", {
          name: member.name,
          refused: this.#byesRefused,
        });
      }
      return;
    }
    // Within the rate (a hello held back, older than the bye, is dropped), or not answered: the
    // node asks again (a few times) or goes without the answer.
    if (!this.#helloRate.bye(member.publicKey)) return void this.#byesRefused++;
    // Its bye under way already: answered when that one is.
    if (this.#leaving.has(key)) return;
    this.#leaving.add(key);
    // It reached this machine before a busy leader read it: the node's wait runs from then.
    const arrived = this.#now() - Math.max(0, this.#deps.readWaitMs?.() ?? 0);
    const answer = () => {
      if (!this.#leaving.delete(key)) return;
      this.#channel.send(from, { t: "bye-ok" });
    };
    this.#core.leave(key).then((changed) => {
      if (changed) {
        this.#logger.info("node left: offline until it says hello again", {
          name: member.name,
          address: member.address,
        });
        this.#deps.memberLeft?.(key);
        // Answered once the push that tells every member is out (ahead of whole views while
        // it waits): a member without a session to it learns it only from the leader. But at
        // 10,000 members that push, behind the one under way, took seconds and the node gave up
        // waiting: past `byeAnswerMs` from its arrival, the written change is answer enough.
        this.#byesUnpushed++;
        const left = this.#byeAnswerMs(this.#core.size) - (this.#now() - arrived);
        const timer = setTimeout(() => {
          this.#byeTimers.delete(timer);
          answer();
        }, Math.max(0, left));
        this.#byeTimers.add(timer);
        this.#afterPush.push(() => {
          if (this.#byesUnpushed > 0) this.#byesUnpushed--;
          clearTimeout(timer);
          this.#byeTimers.delete(timer);
          answer();
        });
        // Its push skips the push budget's gap (a node waits for it, and byes are few): it goes
        // once the push under way is out, as before the budget.
        return this.#pushNow(true);
      }
      answer();
    }).catch((e) => {
      this.#leaving.delete(key);
      this.#writeFailed("recording a bye", e);
    });
  }

  /** A member's ask for a window of its snapshot: checked against the sender (snapshot_fetches.ts). */
  #onFetch(msg: Extract<ControlMessage, { t: "fetch" }>, from: string): void {
    const member = this.#core.member(from);
    if (!member || member.role === "leader" || !this.#fanout) return;
    this.#fetches.fetch(member.publicKey, from, msg);
  }

  #onHello(msg: Hello, member: Member, from: string): void {
    const core = this.#core;
    const peer = this.#device.peer(member.publicKey);
    const observed = peer?.endpoint ? observedEndpoint(peer.endpoint) : null;
    // A hello with malformed fields still counts as a hello; its fields are ignored.
    const { update, claimed } = helloUpdate(msg, observed);
    this.#refused.labels(member, claimed);
    const services = update.services;
    if (services) {
      const names = core.ungrantedServices(member.publicKey, services);
      this.#refused.services(member, names, core.servicesRefused);
    }
    core.heardFrom(member.publicKey).catch((e) => this.#writeFailed("recording a hello", e));
    if (msg.lk !== this.#lanKeyId) this.#channel.send(from, { t: "lankey", k: this.#lanKey });
    // A node that takes carried pushes and lacks this leader's key gets it (carried.ts).
    if (this.#carry.heard(member.publicKey, msg.ck)) {
      this.#channel.send(from, { t: "pushkey", k: this.#carry.signer.publicKey });
    }
    // Whether it holds its group's shared view's pieces, to be named to joiners (a node that no
    // longer says fs, an older weft started on its state, serves none).
    this.#shared.heard(member, msg.fs === true ? msg.hz : undefined);
    this.#users.pace(member, msg.hi, from);
    core.updateMember(member.publicKey, update).then(() => {
      const fanout = this.#fanout;
      if (!fanout) return;
      const policy = core.policy();
      if (policy && msg.pv !== policy.version) {
        for (const part of fanout.policyParts(policy)) this.#channel.sendEncoded(from, part);
      }
      // What it lacks: a delta, its whole scoped view, or the next window of its snapshot.
      this.#fetches.hello(member.publicKey, from, msg);
    }).catch((e) => this.#writeFailed("a member update", e));
  }
}
