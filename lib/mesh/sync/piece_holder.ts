/**
 * A member's side of shared views as a holder (./manifest.ts): it keeps the pieces of the view it
 * last assembled from a manifest (the bytes as they came, by digest) and gives them to members
 * that ask for them by digest (`pget`), so that a joining member's view comes mostly from members
 * and not from the leader.
 *
 * Bounded: at most {@link HOLD_MAX_BYTES} of pieces, dropped {@link HOLD_MS} after they were
 * assembled or last served. Only members in this node's view are served (the sender's overlay
 * address, authenticated by WireGuard); each asker is held to {@link PIECE_ASKS} and all askers
 * together to {@link SERVE_PER_SECOND} pieces. What is dropped is counted by reason; digests not
 * held are answered with one `plack` so that the asker moves on at once.
 *
 * A node's shared views (./node_shared_views.ts) hold what it assembles; its hellos say `hz`.
 * @module
 */

import { RateLimiter, refilled } from "../../protocol/ratelimiter.ts";
import { digestText, type PieceChecker, pieceDigest } from "./manifest.ts";

/** How long pieces are held after they were assembled or last served, ms. */
export const HOLD_MS = 600_000;

/** The most bytes of pieces held (a whole view of some 60,000 records). */
export const HOLD_MAX_BYTES = 4 * 1024 * 1024;

/** The most digests one ask names. */
export const ASK_MAX = 32;

/** Asks one member may make: twenty a second (640 pieces), a burst of forty. */
export const PIECE_ASKS = { perSecond: 20, burst: 40 };

/** Pieces served a second to all askers together, at most (about 5 MB/s sealed). */
export const SERVE_PER_SECOND = 4000;

/** A member's ask for pieces by digest (`d`: digestText of each) of the view at `v`. */
export interface PieceAsk {
  t: "pget";
  v: number;
  d: string[];
}

/** The answer naming the digests asked for that are not held. */
export interface PieceLack {
  t: "plack";
  v: number;
  d: string[];
}

// A digest as text: 16 bytes in base64.
const DIGEST_TEXT = /^[A-Za-z0-9+/]{22}==$/;

/** A `pget` message's fields checked (a version, 1 to {@link ASK_MAX} digests); else null. */
export function parsePieceAsk(m: Record<string, unknown>): PieceAsk | null {
  if (m.t !== "pget" || !Number.isSafeInteger(m.v) || (m.v as number) < 0) return null;
  const d = m.d;
  if (!Array.isArray(d) || d.length === 0 || d.length > ASK_MAX) return null;
  if (!d.every((x) => typeof x === "string" && DIGEST_TEXT.test(x))) return null;
  return { t: "pget", v: m.v as number, d: d as string[] };
}

/** A `plack` message's fields checked (a version, 1 to {@link ASK_MAX} digests); else null. */
export function parsePieceLack(m: Record<string, unknown>): PieceLack | null {
  if (m.t !== "plack" || !Number.isSafeInteger(m.v) || (m.v as number) < 0) return null;
  const d = m.d;
  if (!Array.isArray(d) || d.length === 0 || d.length > ASK_MAX) return null;
  if (!d.every((x) => typeof x === "string" && DIGEST_TEXT.test(x))) return null;
  return { t: "plack", v: m.v as number, d: d as string[] };
}

/** Why an ask or a piece was dropped. */
export type HolderDrop = "rate" | "not-member" | "malformed" | "lack";

/** What a holder sends: a piece (as its datagram on the wire), or the digests it lacks. */
export type HolderAnswer = { t: "piece"; piece: Uint8Array } | PieceLack;

/** What the holder works with. */
export interface PieceHolderDeps {
  /** Sends an answer to a member's overlay address (on the control port). */
  send: (address: string, answer: HolderAnswer) => void;
  /** Whether `address` is a member's in this node's view (not a leader's only: any member's). */
  isMember: (address: string) => boolean;
  /** Monotonic ms (default `performance.now`). */
  now?: () => number;
}

/** Holds the pieces of one view and serves them. See the module docs. */
export class PieceHolder {
  readonly #deps: PieceHolderDeps;
  readonly #now: () => number;
  readonly #asks: RateLimiter;
  #pieces = new Map<string, Uint8Array>();
  #v: number | null = null;
  #bytes = 0;
  #until = 0;
  // All askers' budget of pieces: tokens, and when last refilled.
  #tokens = SERVE_PER_SECOND;
  #at: number;
  /** Pieces served. */
  served = 0;
  /** What was dropped, by reason (`lack`: digests answered with `plack`). */
  readonly drops: Record<HolderDrop, number> = {
    rate: 0,
    "not-member": 0,
    malformed: 0,
    lack: 0,
  };

  /** Holds nothing yet. */
  constructor(deps: PieceHolderDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? (() => performance.now());
    this.#at = this.#now();
    this.#asks = new RateLimiter({
      ...PIECE_ASKS,
      maxEntries: 4096,
      ...(deps.now ? { now: deps.now } : {}),
    });
  }

  /**
   * Holds `pieces`, the view at version `v` as assembled (they replace any held), up to
   * {@link HOLD_MAX_BYTES}: a subset serves as well, as pieces are asked for by digest.
   */
  hold(v: number, pieces: Iterable<Uint8Array>): void {
    this.#hold(
      v,
      (function* () {
        for (const p of pieces) yield [digestText(pieceDigest(p)), p] as [string, Uint8Array];
      })(),
    );
  }

  /**
   * As {@link hold}, the pieces `checker` holds: each was checked against its manifest's digest
   * when it came, and is held by that digest without hashing it again (a checker takes no piece
   * it did not hash, so nothing unchecked is ever served).
   */
  holdChecked(v: number, checker: PieceChecker): void {
    this.#hold(v, checker.verified());
  }

  #hold(v: number, pieces: Iterable<[string, Uint8Array]>): void {
    this.#pieces = new Map();
    this.#bytes = 0;
    for (const [d, p] of pieces) {
      if (this.#bytes + p.length > HOLD_MAX_BYTES) break;
      if (this.#pieces.has(d)) continue;
      this.#pieces.set(d, p);
      this.#bytes += p.length;
    }
    this.#v = this.#pieces.size > 0 ? v : null;
    this.#until = this.#now() + HOLD_MS;
  }

  /** The version of the view whose pieces are held (what hellos say as `hz`); null: none. */
  get holding(): number | null {
    this.#expire();
    return this.#v;
  }

  /** Bytes of pieces held. */
  get bytes(): number {
    this.#expire();
    return this.#bytes;
  }

  /**
   * Answers member `from`'s ask (a parsed message, or anything: it is checked): each piece held
   * as its datagram while the budgets last, and one `plack` for the digests not held.
   */
  ask(from: string, msg: Record<string, unknown>): void {
    if (!this.#deps.isMember(from)) return void this.drops["not-member"]++;
    const a = parsePieceAsk(msg);
    if (!a) return void this.drops.malformed++;
    if (!this.#asks.allow(from)) return void this.drops.rate++;
    this.#expire();
    const t = this.#now();
    this.#tokens = refilled(this.#tokens, t - this.#at, SERVE_PER_SECOND / 1000, SERVE_PER_SECOND);
    this.#at = t;
    const lack: string[] = [];
    let sent = 0;
    for (const d of a.d) {
      const p = this.#pieces.get(d);
      if (!p) {
        lack.push(d);
        continue;
      }
      if (this.#tokens < 1) {
        this.drops.rate++;
        continue;
      }
      this.#tokens--;
      this.#deps.send(from, { t: "piece", piece: p });
      sent++;
    }
    this.served += sent;
    if (sent > 0) this.#until = t + HOLD_MS;
    if (lack.length > 0) {
      this.drops.lack += lack.length;
      this.#deps.send(from, { t: "plack", v: a.v, d: lack });
    }
  }

  /** Drops every piece held (the node left the mesh, or its view started over). */
  clear(): void {
    this.#pieces = new Map();
    this.#bytes = 0;
    this.#v = null;
  }

  #expire(): void {
    if (this.#v !== null && this.#now() > this.#until) this.clear();
  }
}
