/**
 * The members a leader may name as holders of their group's shared view (lib/mesh/sync/
 * manifest.ts): per group, a ring of the {@link RING_SIZE} members whose hellos said the newest
 * `hz` (the version of the view whose pieces they hold). A manifest names up to {@link NAMED} of
 * them, round robin, so the serving is spread. The leader sends the joiner itself every piece that
 * changed after the oldest version among those named, so the ring keeps the newest holders, not
 * the latest hellos: in a mesh of thousands the latest hellos come from members that assembled
 * their views when they joined, minutes and thousands of records ago, and the leader sent most of
 * each new view itself. A member leaves its ring when a hello stops saying `hz`, when it leaves
 * the mesh, when it says it from another group, when a holder of a newer or equal version takes its
 * place, or {@link HOLDER_IDLE_MS} after the last hello that said it. The caller checks each one named
 * against the view now (same group, online, holding a version of the group's layout): the ring
 * only remembers who said what.
 * @module
 */

import type { GroupId } from "./scope.ts";

/** Holders kept per group. */
export const RING_SIZE = 64;

/** Holders a manifest names, at most. */
export const NAMED = 4;

/** A holder not heard saying `hz` for this long is forgotten, ms (as long as members hold). */
export const HOLDER_IDLE_MS = 600_000;

/**
 * A holder not heard for this long is named no more and is the first to make way in a full ring,
 * ms: three hellos of a fleet of 10,000 (paced to 500 hellos a second), two at the longest paced
 * interval. Without it a member gone without a bye, holding the newest version, would keep its
 * place and be named for ten minutes.
 */
export const HOLDER_STALE_MS = 60_000;

/** A holder as a ring keeps it. */
export interface Holder {
  key: string;
  /** The version of the view whose pieces it holds. */
  hz: number;
  /** Monotonic ms of its latest hello that said so. */
  at: number;
}

/** The rings of holders by group. See the module docs. */
export class HolderRings {
  readonly #rings = new Map<GroupId, Holder[]>();
  readonly #groupOf = new Map<string, GroupId>();
  readonly #turn = new Map<GroupId, number>();
  readonly #now: () => number;

  /** No holder yet; `now`: monotonic ms (default `performance.now`). */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /**
   * Member `key` of group `g` said hello, holding the view at `hz` (undefined: holding none). A
   * full ring takes it in the place of the holder of the oldest version, if `hz` is no older.
   */
  heard(key: string, g: GroupId, hz: number | undefined): void {
    const was = this.#groupOf.get(key);
    if (was !== undefined && (was !== g || hz === undefined)) this.forget(key);
    if (hz === undefined) return;
    let ring = this.#rings.get(g);
    if (!ring) this.#rings.set(g, ring = []);
    const at = this.#now();
    const i = ring.findIndex((h) => h.key === key);
    if (i >= 0) {
      ring[i].hz = hz;
      ring[i].at = at;
      return;
    }
    if (ring.length < RING_SIZE) {
      ring.push({ key, hz, at });
      this.#groupOf.set(key, g);
      return;
    }
    // A holder not heard from lately makes way first; else the holder of the oldest version (of
    // those, the one heard from longest ago), if this one's is no older.
    let quiet = 0, oldest = 0;
    for (let j = 1; j < ring.length; j++) {
      const h = ring[j], o = ring[oldest];
      if (h.at < ring[quiet].at) quiet = j;
      if (h.hz < o.hz || (h.hz === o.hz && h.at < o.at)) oldest = j;
    }
    if (at - ring[quiet].at > HOLDER_STALE_MS) oldest = quiet;
    else if (ring[oldest].hz > hz) return;
    this.#groupOf.delete(ring[oldest].key);
    ring[oldest] = { key, hz, at };
    this.#groupOf.set(key, g);
  }

  /**
   * Up to {@link NAMED} holders of group `g` that `ok` accepts (the caller's checks), taking turns
   * round the ring, those `prefer` likes first (holders with a direct endpoint: one behind a NAT
   * needs a call-me first); `except` (the joiner) never.
   */
  name(
    g: GroupId,
    except: string,
    ok: (h: Holder) => boolean,
    prefer: (h: Holder) => boolean = () => true,
  ): Holder[] {
    const ring = this.#rings.get(g);
    if (!ring || ring.length === 0) return [];
    const t = this.#now();
    // The idle ones go first.
    for (let i = ring.length - 1; i >= 0; i--) {
      if (t - ring[i].at > HOLDER_IDLE_MS) this.#groupOf.delete(ring.splice(i, 1)[0].key);
    }
    const out: Holder[] = [];
    const others: Holder[] = [];
    const start = this.#turn.get(g) ?? 0;
    for (let k = 0; k < ring.length && out.length < NAMED; k++) {
      const h = ring[(start + k) % ring.length];
      if (h.key === except || t - h.at > HOLDER_STALE_MS || !ok(h)) continue;
      if (prefer(h)) out.push(h);
      else others.push(h);
    }
    this.#turn.set(g, (start + NAMED) % Math.max(1, ring.length));
    return [...out, ...others].slice(0, NAMED);
  }

  /** Member `key` holds nothing any more (it left, or its hello stopped saying so). */
  forget(key: string): void {
    const g = this.#groupOf.get(key);
    if (g === undefined) return;
    this.#groupOf.delete(key);
    const ring = this.#rings.get(g);
    const i = ring?.findIndex((h) => h.key === key) ?? -1;
    if (ring && i >= 0) ring.splice(i, 1);
  }

  /** Holders known, over every group. */
  get size(): number {
    return this.#groupOf.size;
  }

  /** Forgets every holder. */
  clear(): void {
    this.#rings.clear();
    this.#groupOf.clear();
    this.#turn.clear();
  }
}
