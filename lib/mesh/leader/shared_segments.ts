/**
 * The fan-out's shared views (lib/mesh/sync/manifest.ts): groups that see themselves (every
 * member of one sees the same members) keep their view as segments (view_segments.ts), made at
 * the first manifest asked for and followed change by change after; a member's manifest and the
 * pieces it may be given come from its own group's. A new scope (policy, rebuild) or a sparse
 * layout starts them over.
 *
 * The fan-out (fanout.ts) makes one over its scope and records, tells it each change, and answers
 * with it what shared_views.ts asks.
 * @module
 */

import type { Member } from "../../members/member.ts";
import { pieceDatagram } from "../sync/manifest.ts";
import type { GroupId, Scope } from "./scope.ts";
import { type ViewHead, ViewSegments } from "./view_segments.ts";

/** What the shared segments read of the fan-out (its own, kept up to date by it). */
export interface SharedSegmentsDeps {
  /** The groups of members by what they see. */
  scope: Scope;
  /** The records, by key. */
  members: ReadonlyMap<string, Member>;
  /** The view a manifest is of now (its version and networks). */
  head: () => ViewHead;
  /** Monotonic ms. */
  now: () => number;
}

/**
 * A member's shared view: its manifest's datagrams (shared with other joiners: not written to),
 * the datagrams of the leader's own pieces, its layout.
 */
export interface SharedManifest {
  /** The view's version. */
  v: number;
  /** Pieces the manifest lists. */
  pieces: number;
  /** The manifest's datagrams. */
  datagrams: Uint8Array[];
  fromLeader: Uint8Array[];
  laidOut: number;
}

/** The segments of each group that sees itself. See the module docs. */
export class SharedSegments {
  readonly #d: SharedSegmentsDeps;
  // Each group's segments (made at its first manifest), and each piece's datagram, made once
  // (every joiner's answer shares it; gone with the piece).
  readonly #segments = new Map<GroupId, ViewSegments>();
  readonly #datagrams = new WeakMap<Uint8Array, Uint8Array>();

  /** No group's segments yet. */
  constructor(deps: SharedSegmentsDeps) {
    this.#d = deps;
  }

  /**
   * Member `key`'s group when it may take a shared view: its group sees itself (so every member of
   * it sees the same members, and may be named a holder for the others); else null.
   */
  sharedGroup(key: string): GroupId | null {
    const g = this.#d.scope.groupOf(key);
    return g !== undefined && this.#d.scope.seesOwn(g) ? g : null;
  }

  /** The version group `g`'s segments were laid out at (null: none made yet). */
  laidOut(g: GroupId): number | null {
    return this.#segments.get(g)?.laidOut ?? null;
  }

  /**
   * The manifest of member `key`'s shared view now, and the datagrams of the pieces the leader
   * sends itself (those of segments changed after `floor`, the oldest version its holders hold;
   * null: every piece). Null when the member takes no shared view (sharedGroup) or its view is
   * empty. The manifest is built once a version (built_manifest.ts): a joiner costs what it is
   * sent, not a pass over its group.
   */
  manifestFor(key: string, floor: number | null): SharedManifest | null {
    const g = this.sharedGroup(key);
    if (g === null) return null;
    const head = this.#d.head();
    let segs = this.#segments.get(g);
    if (!segs) {
      const { scope, members, now } = this.#d;
      const seen = [...members.values()].filter((m) => {
        const mg = scope.groupOf(m.publicKey);
        return mg !== undefined && scope.sees(g, mg);
      });
      this.#segments.set(g, segs = new ViewSegments(seen, head.version, { now }));
    }
    // A layout newer than the holders' versions: they hold none of it.
    const f = floor !== null && floor >= segs.laidOut ? floor : null;
    const built = segs.built(head);
    if (!built) return null;
    const { datagrams, fromLeader } = built.forFloor(f);
    return {
      v: built.head.version,
      pieces: built.size,
      datagrams,
      fromLeader: fromLeader.map((p) => this.#datagram(p)),
      laidOut: segs.laidOut,
    };
  }

  /**
   * The datagram of the piece with digest `digest` (base64) of member `key`'s own group's shared
   * view (current, or replaced lately): a member is given pieces of its own view only.
   */
  pieceFor(key: string, digest: string): Uint8Array | null {
    const g = this.sharedGroup(key);
    const p = g === null ? undefined : this.#segments.get(g)?.piece(digest);
    return p ? this.#datagram(p) : null;
  }

  /**
   * Follows a change at version `v`: each touched member (its group now, none: removed) set or
   * removed in the segments of every group (of `groups`, those now) that sees itself; the others'
   * go, and a layout left sparse is made again at the next manifest.
   */
  follow(
    groups: readonly GroupId[],
    touched: readonly { key: string; after: GroupId | undefined }[],
    v: number,
  ): void {
    const { scope, members } = this.#d;
    for (const [g, segs] of this.#segments) {
      if (!groups.includes(g) || !scope.seesOwn(g)) {
        this.#segments.delete(g);
        continue;
      }
      for (const t of touched) {
        const m = members.get(t.key);
        if (m && t.after !== undefined && scope.sees(g, t.after)) segs.set(m, v);
        else segs.remove(t.key, v);
      }
      // Too many holes: laid out again at the next manifest (every digest changes).
      if (segs.sparse) this.#segments.delete(g);
    }
  }

  /** Forgets every group's segments (the scope started over). */
  clear(): void {
    this.#segments.clear();
  }

  /** Piece `p`'s datagram, made once. */
  #datagram(p: Uint8Array): Uint8Array {
    let d = this.#datagrams.get(p);
    if (!d) this.#datagrams.set(p, d = pieceDatagram(p));
    return d;
  }
}
