/**
 * One version of a group's shared-view manifest (lib/mesh/sync/manifest.ts), built once and
 * reused by every joiner answered at that version: its datagrams are encoded once with no piece
 * marked as the leader's, and a joiner's copy marks the pieces of segments changed after its
 * holders' version (`floor`) in copies of the datagrams that hold them, the others shared. A
 * joiner costs the pieces it is sent, not a pass over the whole view: the entries are kept
 * newest change first, so a floor reads only those after it.
 * @module
 */

import {
  DIGEST_BYTES,
  ENDS_SEGMENT,
  ENTRIES_PER_DATAGRAM,
  ENTRY_BYTES,
  FROM_LEADER,
  type Manifest,
  manifestDatagrams,
} from "../sync/manifest.ts";

/** The view a manifest is of. */
export interface ViewHead {
  version: number;
  network: string;
  network6?: string;
}

/** One entry of a built manifest: a piece, its digest, and when its segment last changed. */
export interface BuiltEntry {
  piece: Uint8Array;
  digest: Uint8Array;
  /** The piece is its segment's last. */
  ends: boolean;
  /** The version its segment last changed at. */
  changed: number;
}

/** What a joiner is sent: the manifest's datagrams, and the pieces the leader sends itself. */
export interface ManifestForFloor {
  datagrams: Uint8Array[];
  /** The pieces marked the leader's, in the manifest's order. */
  fromLeader: Uint8Array[];
}

/** A manifest of one version, encoded once. See the module docs. */
export class BuiltManifest {
  /** The view's version and network. */
  readonly head: ViewHead;
  readonly #entries: readonly BuiltEntry[];
  // The datagrams with no piece marked the leader's; each one's first entry's byte offset.
  readonly #base: Uint8Array[];
  readonly #bodyAt: number[];
  // Entry indices, newest change first.
  readonly #newest: Int32Array;
  // Every piece the leader's (no holder named): made at the first such joiner.
  #all: ManifestForFloor | null = null;

  /** `entries` in the manifest's order (one at least; the last ends a segment). */
  constructor(head: ViewHead, entries: readonly BuiltEntry[]) {
    this.head = head;
    this.#entries = entries;
    this.#base = manifestDatagrams(this.manifest(Infinity));
    this.#bodyAt = this.#base.map((d, i) =>
      d.length - Math.min(ENTRIES_PER_DATAGRAM, entries.length - i * ENTRIES_PER_DATAGRAM) *
        ENTRY_BYTES
    );
    const order = Int32Array.from(entries, (_, i) => i);
    this.#newest = order.sort((a, b) => entries[b].changed - entries[a].changed || a - b);
  }

  /** Pieces the manifest lists. */
  get size(): number {
    return this.#entries.length;
  }

  /**
   * The datagrams and the leader's pieces for a joiner whose holders hold version `floor` (null:
   * no holder, every piece the leader's). Datagrams without a piece to mark, and everything
   * given for floor null, are shared by every joiner: the caller sends them and does not write
   * to them.
   */
  forFloor(floor: number | null): ManifestForFloor {
    if (floor === null) return this.#all ??= this.#forFloor(-Infinity);
    return this.#forFloor(floor);
  }

  #forFloor(floor: number): ManifestForFloor {
    const entries = this.#entries;
    const marked: number[] = [];
    for (const i of this.#newest) {
      if (entries[i].changed <= floor) break;
      marked.push(i);
    }
    if (marked.length === 0) return { datagrams: this.#base, fromLeader: [] };
    marked.sort((a, b) => a - b);
    const datagrams = this.#base.slice();
    const fromLeader: Uint8Array[] = [];
    let copied = -1;
    for (const i of marked) {
      const d = Math.floor(i / ENTRIES_PER_DATAGRAM);
      if (copied !== d) datagrams[d] = this.#base[d].slice();
      copied = d;
      datagrams[d][this.#bodyAt[d] + (i % ENTRIES_PER_DATAGRAM) * ENTRY_BYTES + DIGEST_BYTES] =
        (entries[i].ends ? ENDS_SEGMENT : 0) | FROM_LEADER;
      fromLeader.push(entries[i].piece);
    }
    return { datagrams, fromLeader };
  }

  /** The manifest as a joiner whose holders hold version `floor` reads it (null: no holder). */
  manifest(floor: number | null): Manifest {
    const { version, network, network6 } = this.head;
    return {
      v: version,
      network,
      ...(network6 ? { network6 } : {}),
      entries: this.#entries.map((e) => ({
        digest: e.digest,
        ends: e.ends,
        fromLeader: floor === null || e.changed > floor,
      })),
    };
  }
}
