/**
 * The fan-out's snapshots (fanout.ts), for members that fetch views in windows (their hellos say
 * `fw`): a group's whole view at one version, encoded once in each encoding asked for (JSON
 * parts, or packed ones: lib/mesh/sync/packed.ts) and kept ({@link SNAPSHOT_KEEP} a group) while
 * members fetch it a window at a time at their own pace. A snapshot is reused for
 * {@link SNAPSHOT_REUSE_MS} (a burst of joins, one version each, would otherwise encode the whole
 * view once per join); its last part is each member's own record (a member that joined after it
 * is in its view). A member that asks for a snapshot no longer kept starts over with the newest.
 * @module
 */

import type { Member, MembershipView } from "../../members/member.ts";
import { type ControlMessage, viewParts } from "../sync/protocol.ts";
import { packBody, type PackedHead, packedParts } from "../sync/packed.ts";
import type { GroupId } from "./scope.ts";

/**
 * Snapshots kept per group: the newest, and older ones while members fetched them in the last
 * {@link SNAPSHOT_IDLE_MS} (a member fetching one that is gone starts over with the newest). While
 * this many are in use, no new one is made: members starting a view share the newest.
 */
export const SNAPSHOT_KEEP = 8;

/** How long a snapshot nobody fetches is kept, ms. */
export const SNAPSHOT_IDLE_MS = 10_000;

/** How long a group's snapshot is given to members whose view is whole again, ms. */
export const SNAPSHOT_REUSE_MS = 1000;

/** A snapshot in one encoding: its shared parts, and the member's own part last. */
interface SnapshotForm {
  /** The shared parts (each says `parts` = these plus the member's own). */
  parts: Uint8Array[];
  /** The member's own part, its `members` set per member. */
  self: Extract<ControlMessage, { t: "view" }>;
}

/** A group's whole view at one version, encoded once in each encoding asked for. */
export interface Snapshot {
  /** The version it holds. */
  readonly version: number;
  /** Monotonic ms when it was made, and when a member last fetched it. */
  readonly at: number;
  used: number;
  /** The view it holds (its encodings are made from it when first asked for). */
  readonly view: MembershipView;
  plain: SnapshotForm | null;
  packed: SnapshotForm | null;
}

/** What the snapshots work with. */
export interface GroupSnapshotsDeps {
  /** Monotonic ms. */
  now: () => number;
  /** A snapshot's parts sent at once. */
  window: number;
  /** Encodes a message (the fan-out counts its encodings). */
  encode: (msg: ControlMessage) => Uint8Array;
  /** Counts `n` parts encoded here without {@link GroupSnapshotsDeps.encode} (packed ones). */
  encoded: (n: number) => void;
}

/** Each group's snapshots, oldest first. See the module docs. */
export class GroupSnapshots {
  readonly #d: GroupSnapshotsDeps;
  readonly #byGroup = new Map<GroupId, Snapshot[]>();

  /** None kept yet. */
  constructor(deps: GroupSnapshotsDeps) {
    this.#d = deps;
  }

  /** Group `g`'s snapshot at version `v`, if kept. */
  find(g: GroupId, v: number): Snapshot | undefined {
    return this.#byGroup.get(g)?.find((s) => s.version === v);
  }

  /** The version of group `g`'s newest snapshot, if any. */
  newest(g: GroupId): number | null {
    return this.#byGroup.get(g)?.at(-1)?.version ?? null;
  }

  /**
   * Group `g`'s newest snapshot when recent, or when every one kept is in use, and deltas from it
   * can still be made (`fullSince`: where the group's log starts; undefined: no log); else one
   * made now at `version` of `view()` (the oldest dropped past {@link SNAPSHOT_KEEP}).
   */
  current(
    g: GroupId,
    version: number,
    fullSince: number | undefined,
    view: () => MembershipView,
  ): Snapshot {
    let list = this.#byGroup.get(g);
    if (!list) this.#byGroup.set(g, list = []);
    const newest = list.at(-1);
    const t = this.#d.now();
    // A new snapshot while every kept one was fetched lately would drop one a member is still
    // fetching, and that member starts over: one slower than a snapshot's turnover (a burst of
    // joins on a loaded leader makes one a second) never finished. So then the newest is shared
    // for longer, and what changed since it comes as a delta after it.
    if (
      newest && (newest.version === version ||
        (fullSince !== undefined && newest.version >= fullSince &&
          (t - newest.at < SNAPSHOT_REUSE_MS ||
            list.filter((x) => t - x.used < SNAPSHOT_IDLE_MS).length >= SNAPSHOT_KEEP)))
    ) {
      newest.used = t;
      return newest;
    }
    const s: Snapshot = { version, at: t, used: t, view: view(), plain: null, packed: null };
    list.push(s);
    // The older ones nobody fetched lately go, and the oldest past the most kept.
    const kept = list.filter((x) => x === s || t - x.used < SNAPSHOT_IDLE_MS);
    kept.splice(0, Math.max(0, kept.length - SNAPSHOT_KEEP));
    this.#byGroup.set(g, kept);
    return s;
  }

  /**
   * The parts of `s` (`packed` or JSON) from `part` to the end of its window, the own part of
   * member `own` last; `last`: the window is the snapshot's last.
   */
  window(
    s: Snapshot,
    part: number,
    packed: boolean,
    own: Member | undefined,
  ): { parts: Uint8Array[]; last: boolean } {
    const form = this.#form(s, packed);
    const n = form.parts.length + 1;
    const first = Math.max(0, Math.min(part, n - 1));
    const w = this.#d.window;
    const end = Math.min(n, (Math.floor(first / w) + 1) * w);
    const parts = form.parts.slice(first, Math.min(end, n - 1));
    if (end === n) parts.push(this.#d.encode({ ...form.self, members: own ? [own] : [] }));
    return { parts, last: end === n };
  }

  /** Whether the window of `s` (`packed` or JSON) from `part` is its last. */
  lastWindow(s: Snapshot, part: number, packed: boolean): boolean {
    const n = this.#form(s, packed).parts.length + 1;
    const w = this.#d.window;
    return (Math.floor(Math.min(part, n - 1) / w) + 1) * w >= n;
  }

  /** Drops group `g`'s snapshots (the group is gone, or its log started over). */
  drop(g: GroupId): void {
    this.#byGroup.delete(g);
  }

  /** Drops every snapshot (the scope started over). */
  clear(): void {
    this.#byGroup.clear();
  }

  /** Snapshots kept, over every group (for tests and metrics). */
  get count(): number {
    let n = 0;
    for (const list of this.#byGroup.values()) n += list.length;
    return n;
  }

  /** Snapshot `s` in JSON parts or packed ones, encoded at the first ask. */
  #form(s: Snapshot, packed: boolean): SnapshotForm {
    if (packed) {
      if (s.packed) return s.packed;
      const chunks = packBody({ members: s.view.members, remove: [] });
      const n = chunks.length + 1;
      const { network, network6, version: v } = s.view;
      const head = { t: "view" as const, v, network, ...(network6 ? { network6 } : {}) };
      const parts = packedParts(head satisfies PackedHead, chunks, 1);
      this.#d.encoded(parts.length);
      return s.packed = { parts, self: { ...head, part: n - 1, parts: n, members: [] } };
    }
    if (s.plain) return s.plain;
    const msgs = viewParts(s.view) as Extract<ControlMessage, { t: "view" }>[];
    const n = msgs.length + 1;
    return s.plain = {
      parts: msgs.map((m) => this.#d.encode({ ...m, parts: n })),
      self: { ...msgs[0], part: n - 1, parts: n, members: [] },
    };
  }
}
