/**
 * Shared views' manifests and pieces: a group's whole view as pieces that members holding them
 * can serve to a joining member, each checked against the leader's manifest.
 *
 * A view is cut into segments (each deflated on its own by the leader) and a segment into
 * pieces of at most {@link MAX_PIECE} bytes. A piece's datagram is the byte {@link PIECE} and
 * the piece: no header, no version, so its bytes are the same at every version its segment did
 * not change, and the receiver tells which piece it is by its digest ({@link pieceDigest}). The
 * manifest comes from the leader over the leader's own WireGuard session (authenticated): the
 * view's version and network, and per piece its digest and two flags (the piece ends its
 * segment; the leader sends it itself). A joiner takes a piece from anyone only when its digest
 * is one the manifest lists ({@link PieceChecker}): a holder that sends anything else is counted.
 *
 * A manifest datagram (framed as ./framing.ts says): the byte {@link MANIFEST}, the header's
 * length (2 bytes, big-endian), the header (JSON: `t: "manifest"`, `v`, `network`, `network6`,
 * `n` pieces, `i` this datagram of `k`, `f` its first entry), then its entries,
 * {@link ENTRY_BYTES} each (the digest, the flags), {@link ENTRIES_PER_DATAGRAM} a datagram.
 * @module
 */

import { hash } from "../../crypto/blake2s.ts";
import { encodeBase64 } from "../../crypto/base64.ts";
import { framed, unframed } from "./framing.ts";

/** The first byte of a piece's datagram (a packed part's is 0x01, a JSON message's `{`). */
export const PIECE = 0x02;

/** The first byte of a manifest datagram. */
export const MANIFEST = 0x03;

/** The most bytes a piece holds: with its marker, one datagram under the MTU. */
export const MAX_PIECE = 1200;

/** Bytes of a piece's digest (BLAKE2s-256 cut to 128 bits). */
export const DIGEST_BYTES = 16;

/** Bytes of a manifest entry: the digest and a byte of flags. */
export const ENTRY_BYTES = DIGEST_BYTES + 1;

/** Manifest entries a datagram, at most (70 x 17 = 1,190 bytes and the header). */
export const ENTRIES_PER_DATAGRAM = 70;

/**
 * The most pieces a manifest lists (some 1,000,000 records); more: malformed. It bounds what a
 * manifest's first datagram makes the joiner allocate.
 */
export const MAX_PIECES = 65_536;

/**
 * A hello this soon after the leader sent a manifest crossed it: the leader answers it with no
 * other manifest, ms (so a node that needs a new one says hello no sooner).
 */
export const MANIFEST_CROSSED_MS = 1000;

/** An entry's flag: the piece is its segment's last. */
export const ENDS_SEGMENT = 1;

/** An entry's flag: the leader sends the piece itself (no holder has it). */
export const FROM_LEADER = 2;

const FLAGS = ENDS_SEGMENT | FROM_LEADER;
const enc = new TextEncoder();
// The digest is of this and the piece: no other hash in weft is of the same bytes.
const DOMAIN = enc.encode("weft view piece 1");

/** The digest of a piece: the first {@link DIGEST_BYTES} bytes of BLAKE2s-256 of it. */
export function pieceDigest(piece: Uint8Array): Uint8Array {
  return hash(DOMAIN, piece).subarray(0, DIGEST_BYTES);
}

/** A digest as text (base64): a map key, and how a request names a piece. */
export function digestText(digest: Uint8Array): string {
  return encodeBase64(digest);
}

/** A piece's digest as text (hashed). */
export function pieceDigestText(piece: Uint8Array): string {
  return digestText(pieceDigest(piece));
}

/** A piece's datagram. */
export function pieceDatagram(piece: Uint8Array): Uint8Array {
  if (piece.length === 0 || piece.length > MAX_PIECE) {
    throw new RangeError(`a piece holds 1 to ${MAX_PIECE} bytes, not ${piece.length}`);
  }
  const out = new Uint8Array(1 + piece.length);
  out[0] = PIECE;
  out.set(piece, 1);
  return out;
}

/**
 * The piece a datagram carries (a copy: the datagram's buffer may be reused); null when it is no
 * piece's datagram (another marker, empty, or longer than {@link MAX_PIECE}).
 */
export function unpackPiece(data: Uint8Array): Uint8Array | null {
  if (data.length < 2 || data.length > 1 + MAX_PIECE || data[0] !== PIECE) return null;
  return data.slice(1);
}

/** A manifest's entry: a piece. */
export interface ManifestEntry {
  /** The piece's digest ({@link pieceDigest}). */
  digest: Uint8Array;
  /** Whether the piece is its segment's last. */
  ends: boolean;
  /** Whether the leader sends it itself. */
  fromLeader: boolean;
}

/** A shared view's manifest: what view, and its pieces in order. */
export interface Manifest {
  /** The view's version. */
  v: number;
  network: string;
  network6?: string;
  /** The pieces, segments in order and each segment's pieces in order; the last ends one. */
  entries: ManifestEntry[];
}

/**
 * The datagrams of manifest `m`, {@link ENTRIES_PER_DATAGRAM} entries each. Throws on a
 * manifest that no receiver would take (no entries, more than {@link MAX_PIECES}, a digest not
 * {@link DIGEST_BYTES} bytes, the last entry not ending a segment).
 */
export function manifestDatagrams(m: Manifest): Uint8Array[] {
  const n = m.entries.length;
  if (n === 0 || n > MAX_PIECES) throw new RangeError(`a manifest lists 1 to ${MAX_PIECES} pieces`);
  if (!m.entries[n - 1].ends) throw new RangeError("a manifest's last piece ends a segment");
  const k = Math.ceil(n / ENTRIES_PER_DATAGRAM);
  const out: Uint8Array[] = [];
  for (let i = 0; i < k; i++) {
    const f = i * ENTRIES_PER_DATAGRAM;
    const entries = m.entries.slice(f, f + ENTRIES_PER_DATAGRAM);
    const head = {
      t: "manifest",
      v: m.v,
      network: m.network,
      ...(m.network6 ? { network6: m.network6 } : {}),
      n,
      i,
      k,
      f,
    };
    const d = framed(MANIFEST, head, entries.length * ENTRY_BYTES);
    let at = d.length - entries.length * ENTRY_BYTES;
    for (const e of entries) {
      if (e.digest.length !== DIGEST_BYTES) throw new RangeError("a digest is 16 bytes");
      d.set(e.digest, at);
      d[at + DIGEST_BYTES] = (e.ends ? ENDS_SEGMENT : 0) | (e.fromLeader ? FROM_LEADER : 0);
      at += ENTRY_BYTES;
    }
    out.push(d);
  }
  return out;
}

/** One manifest datagram, parsed and checked on its own. */
export interface ManifestDatagram {
  v: number;
  network: string;
  network6?: string;
  /** Pieces in the whole manifest. */
  n: number;
  /** This datagram, of `k`. */
  i: number;
  k: number;
  /** Its entries (the first is the manifest's entry `i` x {@link ENTRIES_PER_DATAGRAM}). */
  entries: ManifestEntry[];
}

const count = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/**
 * A manifest datagram, checked: its marker, header (counts that agree with each other: `k`
 * datagrams for `n` pieces, `f` where datagram `i` starts) and exactly its share of entries,
 * flags known; the last datagram's last entry ends a segment. Null for anything else.
 */
export function parseManifestDatagram(data: Uint8Array): ManifestDatagram | null {
  const frame = unframed(data, MANIFEST);
  if (!frame) return null;
  const o = frame.head;
  const { v, n, i, k, f } = o;
  if (o.t !== "manifest" || !count(v) || !count(n) || !count(i) || !count(k) || !count(f)) {
    return null;
  }
  if (typeof o.network !== "string") return null;
  if (o.network6 !== undefined && typeof o.network6 !== "string") return null;
  if (n < 1 || n > MAX_PIECES || k !== Math.ceil(n / ENTRIES_PER_DATAGRAM) || i >= k) return null;
  if (f !== i * ENTRIES_PER_DATAGRAM) return null;
  const want = Math.min(ENTRIES_PER_DATAGRAM, n - f);
  const body = frame.body;
  if (body.length !== want * ENTRY_BYTES) return null;
  const entries: ManifestEntry[] = [];
  for (let at = 0; at < body.length; at += ENTRY_BYTES) {
    const flags = body[at + DIGEST_BYTES];
    if ((flags & ~FLAGS) !== 0) return null;
    entries.push({
      digest: body.slice(at, at + DIGEST_BYTES),
      ends: (flags & ENDS_SEGMENT) !== 0,
      fromLeader: (flags & FROM_LEADER) !== 0,
    });
  }
  if (i === k - 1 && !entries[entries.length - 1].ends) return null;
  return {
    v,
    network: o.network,
    ...(typeof o.network6 === "string" ? { network6: o.network6 } : {}),
    n,
    i,
    k,
    entries,
  };
}

/**
 * Reassembles a manifest from its datagrams (from the leader in use: the caller checks the
 * sender). A datagram of another manifest (version, size or network) starts over; one that does
 * not parse is counted in {@link malformed} and changes nothing.
 */
export class ManifestAssembler {
  #key = "";
  #parts: (ManifestEntry[] | undefined)[] = [];
  #left = 0;
  /** Datagrams that did not parse. */
  malformed = 0;

  /** Adds a datagram; the whole manifest once every datagram of one came, else null. */
  add(data: Uint8Array): Manifest | null {
    const d = parseManifestDatagram(data);
    if (!d) {
      this.malformed++;
      return null;
    }
    return this.addParsed(d);
  }

  /** As {@link add}, with a datagram parsed already ({@link parseManifestDatagram}). */
  addParsed(d: ManifestDatagram): Manifest | null {
    const key = JSON.stringify([d.v, d.n, d.network, d.network6 ?? null]);
    if (key !== this.#key) {
      this.#key = key;
      this.#parts = new Array(d.k).fill(undefined);
      this.#left = d.k;
    }
    if (this.#parts[d.i] === undefined) this.#left--;
    this.#parts[d.i] = d.entries;
    if (this.#left > 0) return null;
    const entries = (this.#parts as ManifestEntry[][]).flat();
    this.#key = "";
    this.#parts = [];
    return {
      v: d.v,
      network: d.network,
      ...(d.network6 ? { network6: d.network6 } : {}),
      entries,
    };
  }

  /** Forgets the datagrams held. */
  reset(): void {
    this.#key = "";
    this.#parts = [];
  }
}

/** What became of a piece offered to a {@link PieceChecker}. */
export type PieceFate = "taken" | "duplicate" | "mismatch";

/** The most senders whose mismatches are counted apart; the others' go to one count. */
export const MISMATCH_SENDERS = 64;

/**
 * A manifest's entries' digests as text and their indexes by digest: what a checker of it looks
 * pieces up in, never changed, so checkers of the same entries may share one.
 */
export class ManifestIndex {
  /** Each entry's digest as text (asks name pieces by it, holders serve by it). */
  readonly texts: readonly string[];
  /** The entries' indexes by digest (a digest listed twice fills both). */
  readonly at: ReadonlyMap<string, readonly number[]>;
  readonly #digests: readonly Uint8Array[];

  /** `manifest`'s index (`textOf`: a digest as text, default encoded). */
  constructor(manifest: Manifest, textOf: (digest: Uint8Array) => string = digestText) {
    const texts = manifest.entries.map((e) => textOf(e.digest));
    const at = new Map<string, number[]>();
    texts.forEach((k, i) => {
      const list = at.get(k);
      if (list) list.push(i);
      else at.set(k, [i]);
    });
    this.texts = texts;
    this.at = at;
    this.#digests = manifest.entries.map((e) => e.digest);
  }

  /** Whether `manifest` lists the same digests in the same order (what sharing this needs). */
  indexes(manifest: Manifest): boolean {
    const d = this.#digests;
    if (manifest.entries.length !== d.length) return false;
    for (let i = 0; i < d.length; i++) {
      const a = d[i], b = manifest.entries[i].digest;
      if (a === b) continue;
      if (a.length !== b.length) return false;
      for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return false;
    }
    return true;
  }
}

/**
 * The pieces of one manifest as they come, each taken only when its digest is one the manifest
 * lists; a piece that is not is a mismatch, counted against its sender. Once every piece came,
 * the segments (each its pieces in order) are ready to inflate.
 */
export class PieceChecker {
  readonly manifest: Manifest;
  // The entries' indexes by digest, and each entry's digest as text.
  readonly #at: ReadonlyMap<string, readonly number[]>;
  readonly #texts: readonly string[];
  readonly #pieces: (Uint8Array | undefined)[];
  #left: number;
  readonly #mismatches = new Map<string, number>();
  #otherMismatches = 0;
  /** Pieces that came again. */
  duplicates = 0;

  // How a piece's digest is had (as text): hashed, unless the caller knows it already.
  readonly #digestOf: (piece: Uint8Array) => string;

  /**
   * A checker of `manifest`'s pieces, none held. `digestOf` gives a piece's digest as text
   * (default: hashed each time), `index` is the manifest's (default: made here; one made of
   * another manifest with the same entries serves as well). The fleet bench's simulator, whose
   * pieces and manifests are one object for every member that receives them, hashes each piece
   * once and shares the index.
   */
  constructor(
    manifest: Manifest,
    digestOf: (piece: Uint8Array) => string = pieceDigestText,
    index: ManifestIndex = new ManifestIndex(manifest),
  ) {
    if (!index.indexes(manifest)) throw new RangeError("a manifest index of other entries");
    this.manifest = manifest;
    this.#digestOf = digestOf;
    this.#texts = index.texts;
    this.#at = index.at;
    this.#pieces = new Array(manifest.entries.length).fill(undefined);
    this.#left = manifest.entries.length;
  }

  /** Takes `piece` (sent by `from`) when the manifest lists its digest and it is not held. */
  offer(piece: Uint8Array, from: string): PieceFate {
    return this.offerAt(piece, from).fate;
  }

  /** As {@link offer}, with the entries the piece filled (none unless taken). */
  offerAt(piece: Uint8Array, from: string): { fate: PieceFate; at: readonly number[] } {
    const at = this.#at.get(this.#digestOf(piece));
    if (!at) {
      if (this.#mismatches.has(from) || this.#mismatches.size < MISMATCH_SENDERS) {
        this.#mismatches.set(from, (this.#mismatches.get(from) ?? 0) + 1);
      } else this.#otherMismatches++;
      return { fate: "mismatch", at: [] };
    }
    if (this.#pieces[at[0]] !== undefined) {
      this.duplicates++;
      return { fate: "duplicate", at: [] };
    }
    for (const i of at) this.#pieces[i] = piece;
    this.#left -= at.length;
    return { fate: "taken", at };
  }

  /** Mismatches sent by `from` (senders past {@link MISMATCH_SENDERS}: by none of them). */
  mismatches(from: string): number {
    return this.#mismatches.get(from) ?? 0;
  }

  /** Mismatches in all. */
  get mismatched(): number {
    let n = this.#otherMismatches;
    for (const c of this.#mismatches.values()) n += c;
    return n;
  }

  /** Whether every piece came. */
  get complete(): boolean {
    return this.#left === 0;
  }

  /** The indexes of the pieces still lacking, in order (`fromLeader`: only those, or none of them). */
  lacking(fromLeader?: boolean): number[] {
    const out: number[] = [];
    this.#pieces.forEach((p, i) => {
      if (p !== undefined) return;
      if (fromLeader === undefined || this.manifest.entries[i].fromLeader === fromLeader) {
        out.push(i);
      }
    });
    return out;
  }

  /**
   * Takes every piece `older` (another manifest's checker: a view asked for again) holds whose
   * digest this manifest lists; returns how many entries it filled.
   */
  adopt(older: PieceChecker): number {
    let n = 0;
    // A piece `older` holds at entry i was checked against that entry's digest when it came:
    // it is not hashed again.
    older.#pieces.forEach((p, i) => {
      if (p === undefined) return;
      const at = this.#at.get(older.#texts[i]);
      if (!at || this.#pieces[at[0]] !== undefined) return;
      for (const i of at) this.#pieces[i] = p;
      this.#left -= at.length;
      n += at.length;
    });
    return n;
  }

  /** Whether the manifest lists `piece` (hashed to tell). */
  lists(piece: Uint8Array): boolean {
    return this.#at.has(this.#digestOf(piece));
  }

  /** Entry `i`'s digest as text (how an ask names its piece). */
  digestTextAt(i: number): string {
    return this.#texts[i];
  }

  /**
   * The pieces held by their digests as text, each once: every one was checked against its
   * entry's digest when it came ({@link offer}, {@link adopt}), so none is hashed again here.
   */
  verified(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    this.#pieces.forEach((p, i) => {
      if (p !== undefined && !out.has(this.#texts[i])) out.set(this.#texts[i], p);
    });
    return out;
  }

  /** The pieces held, each once (what a holder serves once the view is whole). */
  pieces(): Uint8Array[] {
    return [...new Set(this.#pieces.filter((p): p is Uint8Array => p !== undefined))];
  }

  /**
   * The segments' bytes, each its pieces in order (ready to inflate), once every piece came;
   * null before.
   */
  segments(): Uint8Array[] | null {
    if (this.#left > 0) return null;
    const out: Uint8Array[] = [];
    let run: Uint8Array[] = [];
    this.manifest.entries.forEach((e, i) => {
      run.push(this.#pieces[i]!);
      if (!e.ends) return;
      out.push(concat(run));
      run = [];
    });
    return out;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
