/**
 * The leader's side of shared views (lib/mesh/sync/manifest.ts): a member whose hellos say `fs`
 * and that needs a whole view, in a group that sees itself, is answered with the names of up to
 * four holders (members of its group whose hellos said `hz`: holder_rings.ts), the manifest of
 * its group's view now, and the pieces no holder has (segments changed after the oldest version
 * the holders named hold; every piece when none is named). It fetches the rest from the holders,
 * checks each piece against the manifest, and asks the leader (`pget`) for what they do not give:
 * those asks are held to the fetches' rate ({@link FETCH_RATE}) and given from the asker's own
 * group's segments only.
 *
 * Who is named: members of the joiner's own group (they see exactly the members it sees, and see
 * it: their session is allowed), online, no leader, holding a version of the group's current
 * layout. The answer waits for the push that tells the group the joiner's record (`behindPush`):
 * a holder answers a handshake only from a peer it knows.
 * @module
 */

import { RateLimiter } from "../../protocol/ratelimiter.ts";
import { encodeMessage } from "../sync/protocol.ts";
import { MANIFEST_CROSSED_MS } from "../sync/manifest.ts";
import { parsePieceAsk } from "../sync/piece_holder.ts";
import type { Member } from "../../members/member.ts";
import type { AnswerPacer } from "./answers.ts";
import type { Fanout } from "./fanout.ts";
import { HolderRings } from "./holder_rings.ts";
import { FETCH_RATE } from "./snapshot_fetches.ts";

/** A manifest sent to a member is not sent again while its hellos say it fetches it, this long, ms. */
export const MANIFEST_FETCH_MS = 10_000;

/**
 * Views of fewer pieces (some 250 members) are sent whole by the leader, no holder named: a
 * holder costs the joiner a handshake and a round trip, more than the leader's few datagrams.
 */
export const HOLDERS_FROM_PIECES = 16;

/** What the leader counted of shared views (`/metrics`). */
export interface LeaderSharedCounts {
  /** Manifests sent (each a whole view answered so). */
  manifests: number;
  /** Datagrams sent by kind: holders' names, manifest datagrams, pieces unasked, pieces asked. */
  sent: { holders: number; manifest: number; piece: number; asked: number };
  /** Asks dropped: over the rate, malformed; digests answered with `plack`. */
  drops: { rate: number; malformed: number; lack: number };
}

/** What the shared views work with. */
export interface SharedViewsDeps {
  /** The fan-out, once the service started (null before). */
  fanout: () => Fanout | null;
  /** A member's record now, by key (holders named are checked against it). */
  memberByKey: (key: string) => Member | undefined;
  /** Sends the answers, paced. */
  answers: AnswerPacer;
  /** Calls `fn` once the push that tells member `key`'s group its record is out. */
  behindPush: (key: string, fn: () => void) => void;
  /** Monotonic ms (default `performance.now`). */
  now?: () => number;
  /** Views of fewer pieces name no holder (default {@link HOLDERS_FROM_PIECES}). */
  holdersFrom?: number;
}

/** Answers members that take shared views. See the module docs. */
export class SharedViews {
  readonly #d: SharedViewsDeps;
  readonly #now: () => number;
  readonly #rings: HolderRings;
  readonly #limit: RateLimiter;
  readonly #holdersFrom: number;
  // The manifest each member was sent last: its version, and when.
  readonly #sent = new Map<string, { v: number; at: number }>();
  // Members whose answer waits for a push.
  readonly #waiting = new Set<string>();
  readonly counts: LeaderSharedCounts = {
    manifests: 0,
    sent: { holders: 0, manifest: 0, piece: 0, asked: 0 },
    drops: { rate: 0, malformed: 0, lack: 0 },
  };

  /** No holder known yet. */
  constructor(deps: SharedViewsDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => performance.now());
    this.#rings = new HolderRings(this.#now);
    this.#holdersFrom = deps.holdersFrom ?? HOLDERS_FROM_PIECES;
    this.#limit = new RateLimiter({
      ...FETCH_RATE,
      maxEntries: 16_384,
      ...(deps.now ? { now: deps.now } : {}),
    });
  }

  /** Holders known, over every group. */
  get holders(): number {
    return this.#rings.size;
  }

  /** Member `m`'s hello: whether it holds a view's pieces (`hz`) keeps it in its group's ring. */
  heard(m: Member, hz: unknown): void {
    const fanout = this.#d.fanout();
    const g = fanout?.shared.sharedGroup(m.publicKey) ?? null;
    // A version not made yet is held by no one: the ring keeps the newest holders, and one that
    // said so would keep its place for good and never be named.
    const holds = Number.isSafeInteger(hz) && (hz as number) >= 0 &&
        (hz as number) <= (fanout?.version ?? -1)
      ? hz as number
      : undefined;
    if (g === null || m.role === "leader") return this.#rings.forget(m.publicKey);
    this.#rings.heard(m.publicKey, g, holds);
  }

  /**
   * Answers member `key` (at `from`), which needs its whole view and said `fs`, with a shared
   * view; false when its group takes none (the caller answers as before). `fetching`: the
   * version its hello says it fetches (`sv`): a manifest of it sent lately is not sent again.
   */
  answer(key: string, from: string, fetching: number | undefined): boolean {
    const fanout = this.#d.fanout();
    if (!fanout || fanout.shared.sharedGroup(key) === null) return false;
    const last = this.#sent.get(key);
    const since = last ? this.#now() - last.at : Infinity;
    // A hello that crossed the manifest (the push before it brought news), or one that says the
    // node fetches it: not sent again.
    if (since < MANIFEST_CROSSED_MS || (last?.v === fetching && since < MANIFEST_FETCH_MS)) {
      return true;
    }
    if (this.#waiting.has(key)) return true;
    this.#waiting.add(key);
    this.#d.behindPush(key, () => {
      if (!this.#waiting.delete(key)) return;
      this.#send(key, from);
    });
    return true;
  }

  #send(key: string, from: string): void {
    const fanout = this.#d.fanout();
    const g = fanout?.shared.sharedGroup(key) ?? null;
    if (!fanout || g === null || !this.#d.memberByKey(key)) return;
    const laidOut = fanout.shared.laidOut(g);
    const named = this.#rings.name(g, key, (h) => {
      const m = this.#d.memberByKey(h.key);
      return m !== undefined && !m.offline && m.role !== "leader" &&
        fanout.shared.sharedGroup(h.key) === g && (laidOut === null || h.hz >= laidOut) &&
        h.hz <= fanout.version;
    }, (h) => (this.#d.memberByKey(h.key)?.endpoints.length ?? 0) > 0);
    const floor = named.length > 0 ? Math.min(...named.map((h) => h.hz)) : null;
    let shared = fanout.shared.manifestFor(key, floor);
    if (!shared) return;
    // A small view is the leader's to send: holders would cost the joiner a handshake each.
    if (floor !== null && shared.pieces < this.#holdersFrom) {
      shared = fanout.shared.manifestFor(key, null)!;
      named.length = 0;
    }
    const laid = shared.laidOut;
    // Named only when they hold the layout the manifest is of (made just now, perhaps).
    const holders = named.filter((h) => h.hz >= laid).map((h) => this.#d.memberByKey(h.key)!);
    const manifest = shared.datagrams;
    const names = encodeMessage({ t: "holders", v: shared.v, members: holders });
    this.#d.answers.answer(key, from, [names, ...manifest, ...shared.fromLeader]);
    this.#sent.set(key, { v: shared.v, at: this.#now() });
    this.counts.manifests++;
    this.counts.sent.holders++;
    this.counts.sent.manifest += manifest.length;
    this.counts.sent.piece += shared.fromLeader.length;
  }

  /**
   * Member `key`'s ask (from `from`, the sender checked by the caller) for pieces by digest:
   * given from its own group's shared view only, held to {@link FETCH_RATE}, what is not held
   * named in one `plack`.
   */
  ask(key: string, from: string, msg: Record<string, unknown>): void {
    const fanout = this.#d.fanout();
    if (!fanout) return;
    const a = parsePieceAsk(msg);
    if (!a) return void this.counts.drops.malformed++;
    if (!this.#limit.allow(key)) return void this.counts.drops.rate++;
    const parts: Uint8Array[] = [];
    const lack: string[] = [];
    for (const d of a.d) {
      const p = fanout.shared.pieceFor(key, d);
      if (p) parts.push(p);
      else lack.push(d);
    }
    if (lack.length > 0) {
      parts.push(encodeMessage({ t: "plack", v: a.v, d: lack }));
      this.counts.drops.lack += lack.length;
    }
    this.counts.sent.asked += parts.length - (lack.length > 0 ? 1 : 0);
    this.#d.answers.more(key, from, parts);
  }

  /** Member `key` is gone. */
  forget(key: string): void {
    this.#rings.forget(key);
    this.#sent.delete(key);
    this.#waiting.delete(key);
  }

  /** Forgets every holder and member. */
  clear(): void {
    this.#rings.clear();
    this.#sent.clear();
    this.#waiting.clear();
  }
}
