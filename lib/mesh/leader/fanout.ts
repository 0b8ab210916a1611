/**
 * What each member is told, encoded once: the leader's view as each member may see it (scoped
 * by policy, scope.ts), and the deltas between versions, as datagram bytes shared by every
 * member of a group (members with the same signature see the same members).
 *
 * The fan-out follows the leader's changes one version at a time: for each member record that
 * changed, every group that sees it now logs an upsert, every group that saw it before and not
 * now a removal (a member that loses sight of another is told to drop it). A delta from version
 * `from` is the merge of a group's log since `from`; a member whose group log does not reach back
 * that far (a policy change, a member that changed group, a long absence) gets its whole scoped
 * view. Answers are cached per (group, from) until the next version, so hellos from many members
 * at one version cost one encoding. Each member's own record is in its view even where its
 * group does not see itself (a part of its own, the only per-member encoding).
 *
 * Members that fetch views in windows (their hellos say `fw`) get whole views as shared,
 * versioned snapshots (group_snapshots.ts) fetched a window at a time at their own pace, then a
 * delta from the snapshot's version.
 *
 * Members whose hellos say they take packed parts (`fz`, lib/mesh/sync/packed.ts) get views and
 * deltas as records deflated once per group and version and cut into datagrams: a quarter to a
 * third of the datagrams of JSON parts, which is most of what telling a full mesh costs the
 * leader (each datagram sealed and written). Each encoding is made when first asked for.
 *
 * Groups that see themselves (every member of one sees the same members) also keep their view as
 * segments, followed change by change: the shared views that members carry for each other
 * (shared_segments.ts).
 * @module
 */

import type { Member, MembershipView } from "../../members/member.ts";
import { parsePolicy } from "../../policy/parse.ts";
import type { VersionedPolicy } from "../../policy/source.ts";
import {
  type ControlMessage,
  deltaParts,
  encodeMessage,
  policyParts,
  SNAPSHOT_WINDOW,
  viewParts,
} from "../sync/protocol.ts";
import { packBody, type PackedHead, packedParts } from "../sync/packed.ts";
import { GroupSnapshots, type Snapshot } from "./group_snapshots.ts";
import { type GroupId, Scope } from "./scope.ts";
import { SharedSegments } from "./shared_segments.ts";

/**
 * The largest delta pushed to a member (datagrams); a larger one, the `changed` notice (the
 * member asks with a hello). Pulling saves no bytes (every member asks for the same parts) and
 * costs a hello and its answer per member, so only what a burst of joins makes is pushed.
 */
export const PUSH_PARTS_MAX = 32;

/** Log entries kept per group; a member further behind gets its whole view. */
export const GROUP_LOG_MAX = 4096;

/** What the fan-out reads of the leader's state. */
export interface FanoutSource {
  /** The current view. */
  view(): MembershipView;
  /** What changed since `version` (null: the change log does not reach back that far). */
  changesSince(version: number): { upsert: Member[]; remove: string[] } | null;
  /** The policy in force. */
  policy(): VersionedPolicy | null;
}

interface GroupLog {
  /** Deltas from before this version do not exist: the whole view. */
  fullSince: number;
  /** Per version, in order: which keys to upsert (true) or remove (false). */
  entries: { version: number; keys: Map<string, boolean> }[];
}

/** An answer: bytes for the whole group, and whether the member's own record goes in a part of its own. */
interface Answer {
  parts: Uint8Array[];
  /**
   * A delta's parts without the member's own part, for members whose own record did not change
   * since the delta's version (most of them): no per-member encoding. Null for views.
   */
  bare: Uint8Array[] | null;
  /** The message of the member's own part (its `members` set per member), or null. */
  self: ControlMessage | null;
}

/** A change's records, before they are encoded. */
interface DeltaBody {
  upsert: Member[];
  remove: string[];
}

/** Keeps the members' scoped views and encodes what they are told. See the module docs. */
export class Fanout {
  readonly #src: FanoutSource;
  readonly #scope = new Scope();
  readonly #members = new Map<string, Member>();
  readonly #logs = new Map<GroupId, GroupLog>();
  // When each member last changed, and last changed group (its view: whole again).
  readonly #changedAt = new Map<string, number>();
  readonly #movedAt = new Map<string, number>();
  // Members that changed group since the last push. Each holds a view of its old group, and its
  // new group may have nothing to tell (a group new at that version starts with whole views, and
  // one that does not see its own members logs nothing of them): the push tells it anyway, or it
  // would hear of its move only at its next hello, minutes apart in a large fleet.
  readonly #moved = new Set<string>();
  #version = 0;
  // The version the scope last started over at (-1: only at the start, when every member is
  // taken to hold the leader's version).
  #reset = -1;
  #network = "";
  #network6: string | undefined;
  #policyVersion = -1;
  // Encoded answers for this version, by "group|from".
  #cache = new Map<string, Answer>();
  #policyCache: { version: number; parts: Uint8Array[] } | null = null;
  // Members answered since the last push, with the version their answer brought them to: the
  // push tells them what changed since that one (their group's delta since the version it was
  // last told would not apply to what they hold, and they would pull it again at their next
  // hello, a few seconds of changes each).
  readonly #held = new Map<string, number>();
  /** Encodings made (messages turned into bytes), for tests and metrics. */
  encodings = 0;
  // Whole views fetched in windows, per group.
  readonly #snapshots: GroupSnapshots;
  // The members that take packed parts (their latest hello said so).
  readonly #packs = new Set<string>();
  // Shared views' segments, of groups that see themselves.
  readonly #shared: SharedSegments;

  readonly #logMax: number;
  readonly #now: () => number;

  /**
   * A fan-out over `src`, holding its current view; `logMax`: entries kept per group; `now`:
   * monotonic ms (default `performance.now`); `window`: a snapshot's parts sent at once (default
   * the protocol's {@link SNAPSHOT_WINDOW}, which nodes expect).
   */
  constructor(
    src: FanoutSource,
    opts: { logMax?: number; now?: () => number; window?: number } = {},
  ) {
    this.#src = src;
    this.#logMax = opts.logMax ?? GROUP_LOG_MAX;
    this.#now = opts.now ?? (() => performance.now());
    this.#snapshots = new GroupSnapshots({
      now: this.#now,
      window: opts.window ?? SNAPSHOT_WINDOW,
      encode: (msg) => this.#encode(msg),
      encoded: (n) => this.encodings += n,
    });
    this.#shared = new SharedSegments({
      scope: this.#scope,
      members: this.#members,
      head: () => ({ version: this.#version, network: this.#network, network6: this.#network6 }),
      now: this.#now,
    });
    this.#rebuild(src.view());
    this.#reset = -1;
  }

  /** The version the fan-out holds. */
  get version(): number {
    return this.#version;
  }

  /** The version of the policy the scope follows (0: none). */
  get policyVersion(): number {
    return this.#policyVersion;
  }

  /** The scope (groups of members by what they see). */
  get scope(): Scope {
    return this.#scope;
  }

  /** The shared views' segments of the groups that see themselves: manifests and pieces. */
  get shared(): SharedSegments {
    return this.#shared;
  }

  /**
   * Whether member `key` takes packed parts (its latest hello said `fz`): its views and deltas
   * are sent so from now on. The caller checked it is a member (its record may not be here
   * yet: its first hello can come before the change that adds it); it goes when removed.
   */
  packs(key: string, yes: boolean): void {
    if (yes) this.#packs.add(key);
    else this.#packs.delete(key);
  }

  /** Takes the leader's view after a change (the store's, or a member's). */
  update(view: MembershipView): void {
    if (view.version === this.#version) return;
    const p = this.#src.policy();
    const changes = view.version > this.#version ? this.#src.changesSince(this.#version) : null;
    if (!changes) return this.#rebuild(view);
    if ((p?.version ?? 0) !== this.#policyVersion) return this.#transition(view, changes, p);
    this.#cache = new Map();
    const v = view.version;
    this.#version = v;
    this.#network = view.network;
    this.#network6 = view.network6;
    const groupsBefore = new Set(this.#scope.groups());
    // Each touched member: which groups saw it (read before it moves or goes: a group it empties
    // goes with it) and its group now (none: removed).
    const touched: { key: string; saw: Set<GroupId>; after: GroupId | undefined }[] = [];
    for (const key of changes.remove) {
      if (!this.#members.has(key)) continue;
      touched.push({ key, saw: this.#seers(this.#scope.groupOf(key)), after: undefined });
      this.#scope.drop(key);
      this.#members.delete(key);
      this.#movedAt.delete(key);
      this.#moved.delete(key);
      this.#changedAt.delete(key);
      this.#packs.delete(key);
    }
    for (const m of changes.upsert) {
      const saw = this.#seers(this.#scope.groupOf(m.publicKey));
      const { group, was } = this.#scope.place(m);
      this.#members.set(m.publicKey, m);
      this.#changedAt.set(m.publicKey, v);
      if (was !== undefined && was !== group) {
        this.#movedAt.set(m.publicKey, v);
        this.#moved.add(m.publicKey);
      }
      touched.push({ key: m.publicKey, saw, after: group });
    }
    const groups = this.#scope.groups();
    for (const g of groups) {
      if (!groupsBefore.has(g)) this.#logs.set(g, { fullSince: v, entries: [] });
    }
    for (const g of groupsBefore) {
      if (!this.#logs.has(g) || !groups.includes(g)) {
        this.#logs.delete(g);
        this.#snapshots.drop(g);
      }
    }
    const entries = new Map<GroupId, Map<string, boolean>>();
    for (const t of touched) {
      for (const g of groups) {
        const log = this.#logs.get(g)!;
        // A group new at this version starts with whole views: nothing to log.
        if (log.fullSince === v) continue;
        const up = t.after !== undefined && this.#scope.sees(g, t.after);
        if (!up && !t.saw.has(g)) continue;
        let e = entries.get(g);
        if (!e) entries.set(g, e = new Map());
        e.set(t.key, up);
      }
    }
    for (const [g, keys] of entries) {
      const log = this.#logs.get(g)!;
      log.entries.push({ version: v, keys });
      if (log.entries.length > this.#logMax) {
        const gone = log.entries.splice(0, log.entries.length - this.#logMax);
        log.fullSince = gone.at(-1)!.version;
      }
    }
    this.#shared.follow(groups, touched, v);
  }

  /** The groups that see members of group `g` now (none when `g` is undefined). */
  #seers(g: GroupId | undefined): Set<GroupId> {
    const out = new Set<GroupId>();
    if (g === undefined) return out;
    for (const o of this.#scope.groups()) if (this.#scope.sees(o, g)) out.add(o);
    return out;
  }

  /**
   * A new policy with the change log intact: the scope is placed again, and each new group's
   * log starts with one entry that takes its members from what they saw to what they see now
   * (upserts of the members some of them did not see, removals of those some of them saw and it
   * does not), so a policy that scopes nobody differently costs each member an empty delta, not
   * its whole view. The members' old groups are read before the scope changes.
   */
  #transition(
    view: MembershipView,
    changes: { upsert: Member[]; remove: string[] },
    p: VersionedPolicy | null,
  ): void {
    const scope = this.#scope;
    const oldGroup = new Map<string, GroupId>();
    for (const k of this.#members.keys()) {
      const g = scope.groupOf(k);
      if (g !== undefined) oldGroup.set(k, g);
    }
    const oldGroups = scope.groups();
    const oldSees = new Map<GroupId, Set<GroupId>>();
    for (const a of oldGroups) {
      oldSees.set(a, new Set(oldGroups.filter((b) => scope.sees(a, b))));
    }
    let doc = null;
    try {
      doc = p ? parsePolicy(p.text) : null;
    } catch {
      doc = null; // as in #rebuild
    }
    const before = this.#version;
    const v = view.version;
    this.#policyVersion = p?.version ?? 0;
    this.#version = v;
    this.#network = view.network;
    this.#network6 = view.network6;
    this.#cache = new Map();
    const changed = new Set<string>(changes.remove);
    for (const k of changes.remove) {
      this.#members.delete(k);
      this.#movedAt.delete(k);
      this.#changedAt.delete(k);
      this.#packs.delete(k);
    }
    for (const m of changes.upsert) {
      this.#members.set(m.publicKey, m);
      this.#changedAt.set(m.publicKey, v);
      changed.add(m.publicKey);
    }
    scope.reset(doc, this.#members.values());
    // The old groups of each new group's members (a member new at this version has none).
    const was = new Map<GroupId, Set<GroupId>>();
    for (const [k] of this.#members) {
      const g = scope.groupOf(k)!;
      let set = was.get(g);
      if (!set) was.set(g, set = new Set());
      const o = oldGroup.get(k);
      if (o !== undefined) set.add(o);
    }
    // A group that does not see itself logs its members' removal (the others saw them): each
    // member's own record goes again in its part of its own, which follows the removal.
    for (const k of this.#members.keys()) {
      if (!scope.seesOwn(scope.groupOf(k)!)) this.#changedAt.set(k, v);
    }
    this.#logs.clear();
    this.#snapshots.clear();
    this.#shared.clear();
    for (const g of scope.groups()) {
      const olds = [...(was.get(g) ?? [])];
      if (olds.length === 0) {
        this.#logs.set(g, { fullSince: v, entries: [] });
        continue;
      }
      const keys = new Map<string, boolean>();
      const seenBefore = (k: string, o: GroupId) => {
        const og = oldGroup.get(k);
        return og !== undefined && oldSees.get(o)!.has(og);
      };
      // A member removed is told only to groups that saw it: a key is something to learn.
      for (const k of changes.remove) {
        if (olds.some((o) => seenBefore(k, o))) keys.set(k, false);
      }
      for (const [k] of this.#members) {
        const now = scope.sees(g, scope.groupOf(k)!);
        if (now && (changed.has(k) || !olds.every((o) => seenBefore(k, o)))) keys.set(k, true);
        else if (!now && olds.some((o) => seenBefore(k, o))) keys.set(k, false);
      }
      // Nothing to tell: the policy's own notice brings the members' hellos, answered with an
      // empty delta to the new version.
      this.#logs.set(g, { fullSince: before, entries: keys.size ? [{ version: v, keys }] : [] });
    }
  }

  /** Starts over from `view`: every member's next answer is its whole (scoped) view. */
  #rebuild(view: MembershipView): void {
    const p = this.#src.policy();
    this.#policyVersion = p?.version ?? 0;
    this.#version = view.version;
    this.#reset = view.version;
    this.#network = view.network;
    this.#network6 = view.network6;
    this.#cache = new Map();
    this.#members.clear();
    this.#movedAt.clear();
    this.#moved.clear();
    this.#changedAt.clear();
    for (const m of view.members) this.#members.set(m.publicKey, m);
    for (const k of this.#packs) if (!this.#members.has(k)) this.#packs.delete(k);
    let doc = null;
    try {
      doc = p ? parsePolicy(p.text) : null;
    } catch {
      // The store holds canonical text the leader validated; a text that no longer parses
      // scopes nothing rather than hiding every member.
      doc = null;
    }
    this.#scope.reset(doc, view.members);
    this.#logs.clear();
    this.#snapshots.clear();
    this.#shared.clear();
    for (const g of this.#scope.groups()) {
      this.#logs.set(g, { fullSince: view.version, entries: [] });
    }
  }

  /** Whether member `key` (in group `g`) sees member `m`: itself always. */
  #visible(g: GroupId, key: string, m: Member): boolean {
    if (m.publicKey === key) return true;
    const mg = this.#scope.groupOf(m.publicKey);
    return mg !== undefined && this.#scope.sees(g, mg);
  }

  /** Whether member `viewer` (by key) may know of member `seen` (by key) now. */
  sees(viewer: string, seen: string): boolean {
    if (viewer === seen) return true;
    const a = this.#scope.groupOf(viewer);
    const b = this.#scope.groupOf(seen);
    return a !== undefined && b !== undefined && this.#scope.sees(a, b);
  }

  /** The members member `key` may know of now (its scoped view's members). */
  membersFor(key: string): Member[] {
    const g = this.#scope.groupOf(key);
    if (g === undefined) return [];
    return [...this.#members.values()].filter((m) => this.#visible(g, key, m));
  }

  /**
   * The bytes that bring member `key`, holding version `from`, to the current version: a delta,
   * or its whole scoped view; empty when it holds the current version or a later one (or is no
   * member).
   */
  answer(key: string, from: number): Uint8Array[] {
    // A node ahead of this leader (another leader's change, not here yet) waits for it.
    if (from >= this.#version) return [];
    const g = this.#scope.groupOf(key);
    if (g === undefined) return [];
    const delta = this.#deltaAnswer(g, key, from, this.#packs.has(key));
    const parts = this.#finish(delta ?? this.#viewAnswer(g), key, from);
    this.#held.set(key, this.#version);
    return parts;
  }

  /**
   * What a member that fetches views in windows is sent: holding version `held`, and assembling
   * snapshot `snap` (its version, the first part it lacks) if any. The window of that snapshot
   * from that part while it is kept; else a delta from `held`, or the first window of the group's
   * newest snapshot (made now if none is recent). Empty when it holds the current version.
   */
  fetch(key: string, held: number, snap: { v: number; part: number } | null = null): Uint8Array[] {
    const g = this.#scope.groupOf(key);
    if (g === undefined) return [];
    const kept = snap ? this.#snapshots.find(g, snap.v) : undefined;
    if (kept && snap) {
      kept.used = this.#now();
      return this.#window(kept, key, snap.part);
    }
    if (held >= this.#version) return [];
    const delta = this.#deltaAnswer(g, key, held, this.#packs.has(key));
    if (delta) {
      this.#held.set(key, this.#version);
      return this.#finish(delta, key, held);
    }
    const s = this.#snapshots.current(
      g,
      this.#version,
      this.#logs.get(g)?.fullSince,
      () => this.#viewNow(this.#seenBy(g)),
    );
    return this.#window(s, key, 0);
  }

  /**
   * Whether member `key`, holding version `held`, needs a whole view (a snapshot): no delta
   * brings it to the current version.
   */
  needsView(key: string, held: number): boolean {
    const g = this.#scope.groupOf(key);
    if (g === undefined || held >= this.#version) return false;
    const log = this.#logs.get(g);
    return !log || held < log.fullSince || (this.#movedAt.get(key) ?? 0) > held;
  }

  /** The version member `key`'s record last changed at (0: unknown). */
  changedAt(key: string): number {
    return this.#changedAt.get(key) ?? 0;
  }

  /** The version of the newest snapshot of member `key`'s group, if any. */
  newestSnapshot(key: string): number | null {
    const g = this.#scope.groupOf(key);
    return g === undefined ? null : this.#snapshots.newest(g);
  }

  /** Whether the window of snapshot `v` from `part` is its last (or the snapshot is gone). */
  lastWindow(key: string, v: number, part: number): boolean {
    const g = this.#scope.groupOf(key);
    const s = g === undefined ? undefined : this.#snapshots.find(g, v);
    return s ? this.#snapshots.lastWindow(s, part, this.#packs.has(key)) : true;
  }

  /** Whether the snapshot at version `v` of member `key`'s group is kept (a fetch goes on). */
  keeps(key: string, v: number): boolean {
    const g = this.#scope.groupOf(key);
    return g !== undefined && this.#snapshots.find(g, v) !== undefined;
  }

  /** The parts of `s` from `part` to the end of its window, the member's own part last. */
  #window(s: Snapshot, key: string, part: number): Uint8Array[] {
    const w = this.#snapshots.window(s, part, this.#packs.has(key), this.#members.get(key));
    // An older snapshot (shared by a burst of joins): the notice after it has the member ask for
    // what changed since.
    if (w.last && s.version < this.#version) w.parts.push(this.#notice());
    return w.parts;
  }

  /** Snapshots kept, over every group (for tests and metrics). */
  get snapshots(): number {
    return this.#snapshots.count;
  }

  /**
   * The bytes that tell each of `members` (those this leader serves) what changed since they
   * were last told, sent through `send`; groups that saw no change are not told. A change too
   * large for a few datagrams, or a group whose log restarted, gets the `changed` notice: its
   * members ask with a hello and get their answers from the cache.
   */
  push(
    members: Iterable<Member>,
    told: Map<GroupId, number>,
    send: Sender,
    carrier?: PushCarrier,
  ): number {
    const byGroup = new Map<GroupId, Member[]>();
    // The served members that moved since the last push and are not told below yet.
    const moved = new Map<string, Member>();
    for (const m of members) {
      const g = this.#scope.groupOf(m.publicKey);
      if (g === undefined) continue;
      let list = byGroup.get(g);
      if (!list) byGroup.set(g, list = []);
      list.push(m);
      if (this.#moved.has(m.publicKey)) moved.set(m.publicKey, m);
    }
    for (const g of told.keys()) if (!this.#logs.has(g)) told.delete(g);
    let sent = 0;
    // Whether pushes may be carried (./push_carry.ts), worked out once a push.
    let allSee: boolean | undefined;
    for (const [g, list] of byGroup) {
      const log = this.#logs.get(g)!;
      // A group not told yet holds the version its log starts at (its members joined or moved
      // into it then, and ask for their whole views), unless the scope started over: then its
      // members hold older views, and hear at least the notice.
      const from = told.get(g) ??
        (log.fullSince === this.#reset ? log.fullSince - 1 : log.fullSince);
      if (from >= this.#version) continue;
      if (from >= log.fullSince && !log.entries.some((e) => e.version > from)) continue;
      told.set(g, this.#version);
      // The group's delta in each encoding, made when a member first needs it.
      const deltas = new Map<boolean, Answer | null>();
      const groupDelta = (packed: boolean): Answer | null => {
        if (!deltas.has(packed)) {
          deltas.set(
            packed,
            from >= log.fullSince ? this.#deltaAnswer(g, null, from, packed) : null,
          );
        }
        return deltas.get(packed)!;
      };
      // Where every member sees every member, the members that take carried pushes and would
      // be sent the group's packed delta as it is: told through carriers (push_carry.ts).
      const carried: Member[] = [];
      const carries = carrier !== undefined && carrier.min > 0 && (allSee ??= this.#allSee());
      for (const m of list) {
        // A member answered since holds a later version than its group was told.
        const held = this.#held.get(m.publicKey) ?? -1;
        const mine = held > from ? held : from;
        moved.delete(m.publicKey);
        if (mine >= this.#version) continue;
        const packed = this.#packs.has(m.publicKey);
        const a = mine === from ? groupDelta(packed) : this.#deltaAnswer(g, null, mine, packed);
        // A member that changed group asks for its own (whole) view.
        const own = a === null || (this.#movedAt.get(m.publicKey) ?? 0) > mine;
        const bytes = own || a.parts.length > PUSH_PARTS_MAX
          ? [this.#notice()]
          : this.#finish(a, m.publicKey, mine);
        sent++;
        if (carries && packed && mine === from && bytes === a?.parts && carrier.able(m.publicKey)) {
          carried.push(m);
          continue;
        }
        for (const b of bytes) send(m.address, b);
      }
      if (carried.length === 0) continue;
      const parts = groupDelta(true)!.parts;
      const direct = carried.length >= carrier!.min
        ? carrier!.carry(parts, carried, this.#policyVersion, from, this.#version)
        : carried;
      for (const m of direct) for (const b of parts) send(m.address, b);
    }
    // A moved member its new group had nothing for: the notice (it asks for its whole view),
    // unless answered at this version since.
    for (const [key, m] of moved) {
      if ((this.#held.get(key) ?? -1) >= this.#version) continue;
      send(m.address, this.#notice());
      sent++;
    }
    this.#moved.clear();
    // Every member served now holds (or was told of) this version.
    this.#held.clear();
    return sent;
  }

  /**
   * Whether every group sees every group (no policy scopes a view: leaders and relays are groups
   * of their own): then pushes may be carried by members, as a carried delta, wherever it is
   * passed, tells no member of records it may not see, and members pass it on to members they see.
   */
  #allSee(): boolean {
    const groups = this.#scope.groups();
    return groups.every((a) => groups.every((b) => this.#scope.sees(a, b)));
  }

  /** The `changed` notice for this version, encoded (once per version). */
  #notice(): Uint8Array {
    const key = "notice";
    let a = this.#cache.get(key);
    if (!a) {
      const pv = this.#src.policy()?.version;
      a = { parts: [this.#encode({ t: "changed", v: this.#version, pv })], bare: null, self: null };
      this.#cache.set(key, a);
    }
    return a.parts[0];
  }

  /** The notice of a new policy (members ask for it with a hello), encoded once. */
  policyNotice(p: VersionedPolicy): Uint8Array {
    return this.#encode({ t: "changed", v: this.#version, pv: p.version });
  }

  /** The policy's parts, encoded once per policy version. */
  policyParts(p: VersionedPolicy): Uint8Array[] {
    if (this.#policyCache?.version !== p.version) {
      const parts = policyParts(p).map((m) => this.#encode(m));
      this.#policyCache = { version: p.version, parts };
    }
    return this.#policyCache.parts;
  }

  /**
   * What a member removed from the mesh is told (twice, by the caller): a view that no longer
   * holds it, with the leaders only (it learns nothing of the members it may not see).
   */
  goneParts(view: MembershipView): Uint8Array[] {
    const leaders = view.members.filter((m) => m.role === "leader");
    return viewParts({ ...view, members: leaders }).map((m) => this.#encode(m));
  }

  #encode(msg: ControlMessage): Uint8Array {
    this.encodings++;
    return encodeMessage(msg);
  }

  /**
   * The group's delta from `from` (packed or in JSON parts), cached; null when its log does not
   * reach back that far.
   */
  #deltaAnswer(g: GroupId, key: string | null, from: number, packed = false): Answer | null {
    const log = this.#logs.get(g);
    if (!log || from < log.fullSince || from > this.#version) return null;
    if (key !== null && (this.#movedAt.get(key) ?? 0) > from) return null;
    const id = `${g}|${from}${packed ? "|z" : ""}`;
    const hit = this.#cache.get(id);
    if (hit) return hit;
    const body = this.#deltaBody(log, from);
    const answer = packed ? this.#packedDelta(g, from, body) : this.#withSelf(
      g,
      deltaParts(from, this.#viewNow([]), body),
      true,
    );
    this.#cache.set(id, answer);
    return answer;
  }

  /** The records and removals of the group's log since `from`, merged. */
  #deltaBody(log: GroupLog, from: number): DeltaBody {
    const merged = new Map<string, boolean>();
    for (const e of log.entries) {
      if (e.version <= from) continue;
      for (const [k, up] of e.keys) merged.set(k, up);
    }
    const upsert: Member[] = [];
    const remove: string[] = [];
    for (const [k, up] of merged) {
      const m = this.#members.get(k);
      if (up && m) upsert.push(m);
      else if (!up) remove.push(k);
    }
    return { upsert, remove };
  }

  /**
   * A group's delta as packed parts, deflated once; where the group does not see itself, each
   * member's own record goes in one more part (plain JSON, filled per member), and `bare` are
   * the parts without it.
   */
  #packedDelta(g: GroupId, from: number, body: DeltaBody): Answer {
    const head: PackedHead = { t: "delta", v: this.#version, from, network: this.#network };
    const chunks = packBody({ members: body.upsert, remove: body.remove });
    const n = chunks.length;
    if (this.#scope.seesOwn(g)) {
      this.encodings += n;
      return { parts: packedParts(head, chunks), bare: null, self: null };
    }
    this.encodings += 2 * n;
    return {
      parts: packedParts(head, chunks, 1),
      bare: packedParts(head, chunks),
      self: { ...head, part: n, parts: n + 1, members: [], remove: [] } as ControlMessage,
    };
  }

  /** The group's whole view (without same-group members it may not see), cached. */
  #viewAnswer(g: GroupId): Answer {
    const id = `${g}|view`;
    const hit = this.#cache.get(id);
    if (hit) return hit;
    const answer = this.#withSelf(g, viewParts(this.#viewNow(this.#seenBy(g))), false);
    this.#cache.set(id, answer);
    return answer;
  }

  /**
   * Encodes a group's parts; where the group does not see itself, each member's own record goes
   * in one more part (counted in `parts`, filled per member).
   */
  #withSelf(g: GroupId, msgs: ControlMessage[], delta: boolean): Answer {
    if (this.#scope.seesOwn(g)) {
      return { parts: msgs.map((m) => this.#encode(m)), bare: null, self: null };
    }
    const n = msgs.length + 1;
    const fixed = msgs.map((m) => ({ ...m, parts: n }) as ControlMessage);
    const last = fixed.at(-1) as Extract<ControlMessage, { t: "view" | "delta" }>;
    const self = last.t === "delta"
      ? { ...last, part: n - 1, members: [], remove: [] }
      : { ...last, part: n - 1, members: [] };
    const bare = delta ? msgs.map((m) => this.#encode(m)) : null;
    return { parts: fixed.map((m) => this.#encode(m)), bare, self };
  }

  /** The answer's bytes for member `key`: its own part added where the group needs one. */
  #finish(a: Answer, key: string, from: number): Uint8Array[] {
    if (a.self === null) return a.parts;
    if (a.bare !== null && (this.#changedAt.get(key) ?? 0) <= from) return a.bare;
    const own = this.#members.get(key);
    const self = { ...a.self, members: own ? [own] : [] } as ControlMessage;
    return [...a.parts, this.#encode(self)];
  }

  /** The members group `g` sees (a group that does not see itself: without its own). */
  #seenBy(g: GroupId): Member[] {
    return [...this.#members.values()].filter((m) => {
      const mg = this.#scope.groupOf(m.publicKey);
      return mg !== undefined && this.#scope.sees(g, mg);
    });
  }

  #viewNow(members: Member[]): MembershipView {
    return {
      network: this.#network,
      ...(this.#network6 ? { network6: this.#network6 } : {}),
      version: this.#version,
      members,
    };
  }
}

/** Where a push's parts go through carriers (push_carry.ts). */
export interface PushCarrier {
  /** Members of a group that take carried pushes from which its pushes are carried (0: never). */
  readonly min: number;
  /** Whether member `key` takes carried pushes. */
  able(key: string): boolean;
  /**
   * Carries `parts` (the delta from `from` to `v`, under policy version `pv`) to `members`;
   * returns those no carrier reaches (sent the parts directly).
   */
  carry(parts: Uint8Array[], members: Member[], pv: number, from: number, v: number): Member[];
}

/** Sends bytes encoded once to a member's overlay address. */
export type Sender = (address: string, bytes: Uint8Array) => void;
