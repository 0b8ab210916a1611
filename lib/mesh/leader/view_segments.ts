/**
 * One group's view as segments for shared views (lib/mesh/sync/manifest.ts): each member gets a
 * slot when it comes (after the last), a segment is {@link SEGMENT_RECORDS} slots, deflated on
 * its own and cut into pieces, so a join changes the tail segment only and a record change or a
 * removal the one segment it is in; every other piece keeps its bytes and its digest, and members
 * that fetched an older version hold it. A segment is encoded when a manifest first needs it
 * after a change. Pieces replaced are kept {@link PIECES_KEPT_MS} by digest for joiners that
 * ask the leader for a piece a holder did not give.
 *
 * The fan-out's shared segments (shared_segments.ts) keep one per group that sees itself, made
 * at its first manifest.
 * @module
 */

import type { Member } from "../../members/member.ts";
import { digestText, type Manifest, pieceDigest } from "../sync/manifest.ts";
import { packSegment } from "../sync/packed.ts";
import { type BuiltEntry, BuiltManifest, type ViewHead } from "./built_manifest.ts";

/** Records a segment: deflated on its own, about one piece (64 bytes a record measured). */
export const SEGMENT_RECORDS = 16;

/** How long a piece replaced (its segment changed) is still given by digest, ms. */
export const PIECES_KEPT_MS = 30_000;

/** Slots empty past this share of them: {@link ViewSegments.sparse} says lay them out again. */
export const SPARSE_SHARE = 0.25;

interface Segment {
  /** The version its records last changed at. */
  changed: number;
  /** Its pieces and their digests, once encoded (null: to encode). */
  pieces: Uint8Array[] | null;
  digests: Uint8Array[] | null;
}

/** The view a manifest is of (its version and networks). */
export type { ViewHead } from "./built_manifest.ts";

/** A group's view in segments. See the module docs. */
export class ViewSegments {
  readonly #per: number;
  readonly #now: () => number;
  readonly #slot = new Map<string, number>();
  readonly #records = new Map<string, Member>();
  #keys: (string | undefined)[] = [];
  #segments: Segment[] = [];
  #empty = 0;
  #laidOut = 0;
  // Pieces by digest: the current ones (gone: Infinity) and those replaced (gone: when).
  readonly #kept = new Map<string, { piece: Uint8Array; gone: number }>();
  // Each segment's current pieces, by digest text.
  readonly #current = new Map<number, string[]>();
  #pruned = 0;
  // The manifest of the view now, built at the first joiner of a version (null: to build).
  #built: BuiltManifest | null = null;
  /** Segments encoded (deflated), for tests and metrics. */
  encodings = 0;

  /**
   * `members` laid out in order at `version`; `records`: a segment's slots (default
   * {@link SEGMENT_RECORDS}); `now`: monotonic ms (default `performance.now`).
   */
  constructor(
    members: Iterable<Member>,
    version: number,
    opts: { records?: number; now?: () => number } = {},
  ) {
    this.#per = opts.records ?? SEGMENT_RECORDS;
    this.#now = opts.now ?? (() => performance.now());
    this.layout(members, version);
  }

  /** The version the layout started at: pieces of an older layout are not in its manifests. */
  get laidOut(): number {
    return this.#laidOut;
  }

  /** Records held. */
  get size(): number {
    return this.#records.size;
  }

  /** Whether so many slots are empty that a layout again is worth its cost (every digest changes). */
  get sparse(): boolean {
    return this.#keys.length > 0 && this.#empty / this.#keys.length > SPARSE_SHARE;
  }

  /** Lays `members` out again from slot 0, at `version` (the scope started over, or sparse). */
  layout(members: Iterable<Member>, version: number): void {
    const t = this.#now();
    for (const k of this.#kept.values()) if (k.gone === Infinity) k.gone = t;
    this.#current.clear();
    this.#slot.clear();
    this.#records.clear();
    this.#keys = [];
    this.#segments = [];
    this.#empty = 0;
    this.#laidOut = version;
    this.#built = null;
    for (const m of members) this.set(m, version);
  }

  /** Takes member `m`'s record, new or changed, at `version`. */
  set(m: Member, version: number): void {
    let slot = this.#slot.get(m.publicKey);
    if (slot === undefined) {
      slot = this.#keys.length;
      this.#slot.set(m.publicKey, slot);
      this.#keys.push(m.publicKey);
    }
    this.#records.set(m.publicKey, m);
    this.#touch(slot, version);
  }

  /** Drops member `key` at `version` (its slot stays empty until a layout again). */
  remove(key: string, version: number): void {
    const slot = this.#slot.get(key);
    if (slot === undefined) return;
    this.#slot.delete(key);
    this.#records.delete(key);
    this.#keys[slot] = undefined;
    this.#empty++;
    this.#touch(slot, version);
  }

  #touch(slot: number, version: number): void {
    this.#built = null;
    const s = Math.floor(slot / this.#per);
    const seg = this.#segments[s];
    if (!seg) this.#segments[s] = { changed: version, pieces: null, digests: null };
    else {
      seg.changed = version;
      seg.pieces = seg.digests = null;
    }
  }

  /**
   * The manifest of the view now (`head`: its version and network), and the pieces the leader
   * sends itself: those of segments changed after `floor` (the oldest version the holders named
   * with it hold; null: no holder, every piece). A segment of only empty slots has no piece, so
   * a view without records has none: the caller answers it as before (a manifest lists one at
   * least).
   */
  manifest(head: ViewHead, floor: number | null): { manifest: Manifest; fromLeader: Uint8Array[] } {
    const b = this.built(head);
    if (!b) {
      const { version: v, network, network6 } = head;
      return {
        manifest: { v, network, ...(network6 ? { network6 } : {}), entries: [] },
        fromLeader: [],
      };
    }
    // A copy: with no holder the array is the built manifest's, shared by every later joiner.
    return { manifest: b.manifest(floor), fromLeader: b.forFloor(floor).fromLeader.slice() };
  }

  /**
   * The manifest of the view now (`head`), built once until the view or the head changes: every
   * joiner of a version shares it. Null when the view has no piece (no records).
   */
  built(head: ViewHead): BuiltManifest | null {
    const b = this.#built;
    if (
      b && b.head.version === head.version && b.head.network === head.network &&
      b.head.network6 === head.network6
    ) {
      return b;
    }
    const entries: BuiltEntry[] = [];
    this.#segments.forEach((seg, s) => {
      if (!seg.pieces) this.#encode(seg, s);
      const last = seg.pieces!.length - 1;
      seg.pieces!.forEach((piece, i) => {
        entries.push({ piece, digest: seg.digests![i], ends: i === last, changed: seg.changed });
      });
    });
    if (entries.length === 0) return null;
    const { version, network, network6 } = head;
    return this.#built = new BuiltManifest({ version, network, network6 }, entries);
  }

  /** The piece with digest `digest` (as digestText gives it), current or replaced lately. */
  piece(digest: string): Uint8Array | undefined {
    const k = this.#kept.get(digest);
    return k && this.#now() - k.gone <= PIECES_KEPT_MS ? k.piece : undefined;
  }

  /** Pieces kept by digest, current and replaced (for tests and metrics). */
  get kept(): number {
    return this.#kept.size;
  }

  #encode(seg: Segment, s: number): void {
    const members: Member[] = [];
    for (let i = s * this.#per; i < Math.min(this.#keys.length, (s + 1) * this.#per); i++) {
      const k = this.#keys[i];
      if (k !== undefined) members.push(this.#records.get(k)!);
    }
    const t = this.#now();
    // The pieces this segment had are replaced (the same bytes again stay current).
    const was = this.#current.get(s);
    if (was) { for (const d of was) this.#kept.get(d)!.gone = t; }
    this.encodings++;
    seg.pieces = members.length ? packSegment(members) : [];
    seg.digests = seg.pieces.map(pieceDigest);
    const now = seg.digests.map(digestText);
    now.forEach((d, i) => this.#kept.set(d, { piece: seg.pieces![i], gone: Infinity }));
    this.#current.set(s, now);
    this.#prune(t);
  }

  /** Forgets the pieces replaced longer ago than {@link PIECES_KEPT_MS} (once a second at most). */
  #prune(t: number): void {
    if (t - this.#pruned < 1000) return;
    this.#pruned = t;
    for (const [d, k] of this.#kept) if (t - k.gone > PIECES_KEPT_MS) this.#kept.delete(d);
  }
}
