/**
 * A joining member's fetch of a shared view (./manifest.ts): the leader's manifest says which
 * pieces make the view and which the leader sends itself; the others are asked of the holders it
 * named, {@link ASK_PIECES} digests an ask and {@link ASKS_IN_FLIGHT} asks a holder at once,
 * each piece checked against the manifest as it comes. A holder that sends a piece the manifest
 * does not list, or does not answer an ask within {@link PIECE_WAIT_MS}, is asked no more; what
 * it was asked goes to the other holders, and what no holder gives, to the leader. A leader that
 * no longer has a piece (`plack`) or does not answer {@link LEADER_TRIES} asks fails the fetch:
 * the node asks again with a hello and gets a new manifest, keeping the pieces both share. The
 * leader is asked again later each time (the wait doubles): a leader behind by a second or more
 * has the asks before in its queue, and each one asked again had it send the same pieces again,
 * which put it further behind.
 *
 * A node's shared views (./node_shared_views.ts) run one per manifest from the leader in use.
 * @module
 */

import type { PieceChecker, PieceFate } from "./manifest.ts";
import type { PieceAsk } from "./piece_holder.ts";

/** Digests an ask names, at most (a holder takes up to 32). */
export const ASK_PIECES = 32;

/** Asks under way to one holder at once. */
export const ASKS_IN_FLIGHT = 2;

/** How long an ask waits for all its pieces before they are asked elsewhere, ms. */
export const PIECE_WAIT_MS = 1000;

/** Asks of the leader for one batch of pieces before the fetch fails. */
export const LEADER_TRIES = 3;

/**
 * How long ask `tries` (0: the first) waits for its pieces, ms: {@link PIECE_WAIT_MS} for a
 * holder's; the leader's again asks wait twice as long as the one before.
 */
export function askWaitMs(leader: boolean, tries: number): number {
  return leader ? PIECE_WAIT_MS * 2 ** Math.max(0, tries - 1) : PIECE_WAIT_MS;
}

// What #take gives when nothing is queued (made once).
const NONE: readonly number[] = Object.freeze([]);

/** What the fetch works with. */
export interface SharedFetchDeps {
  /** The manifest's checker (fed pieces carried from an older fetch already). */
  checker: PieceChecker;
  /** The holders the leader named (overlay addresses). */
  holders: string[];
  /** The leader's overlay address. */
  leader: string;
  /** Sends an ask. */
  send: (address: string, ask: PieceAsk) => void;
  /** Calls `fn` after `ms`; returns what cancels it. */
  timer: (fn: () => void, ms: number) => () => void;
}

/** How a fetch ended, or that it goes on. */
export type FetchState = "fetching" | "done" | "failed";

interface Ask {
  to: string;
  left: Set<number>;
  cancel: () => void;
  tries: number;
}

/** One shared view's fetch. See the module docs. */
export class SharedFetch {
  readonly #d: SharedFetchDeps;
  // Holders still asked, and the asks under way (to holders and to the leader).
  readonly #live: Set<string>;
  readonly #asks = new Set<Ask>();
  // Pieces not asked of anyone now, in order; each piece's holders that failed it.
  #queue: number[] = [];
  readonly #failed = new Map<number, Set<string>>();
  #state: FetchState = "fetching";
  /** Pieces taken from holders, and from the leader. */
  fromHolders = 0;
  fromLeader = 0;
  /** Pieces from anyone but the leader and the holders named: not looked at. */
  ignored = 0;
  /** Holders dropped: a mismatch, or an ask not answered in time. */
  readonly liars = new Set<string>();
  readonly silent = new Set<string>();

  /** A fetch over `deps`; {@link start} asks. */
  constructor(deps: SharedFetchDeps) {
    this.#d = deps;
    this.#live = new Set(deps.holders.filter((h) => h !== deps.leader));
  }

  /** The manifest's checker (its pieces, whole or not). */
  get checker(): PieceChecker {
    return this.#d.checker;
  }

  /** The leader asked for what no holder gives. */
  get leader(): string {
    return this.#d.leader;
  }

  /** The version of the view fetched. */
  get version(): number {
    return this.#d.checker.manifest.v;
  }

  /** Where the fetch stands. */
  get state(): FetchState {
    return this.#state;
  }

  /**
   * Asks the holders for their pieces, and waits {@link PIECE_WAIT_MS} for the leader's own
   * (then asks the leader for those that did not come).
   */
  start(): void {
    const c = this.#d.checker;
    this.#queue = c.lacking(false);
    const own = new Set(c.lacking(true));
    if (own.size > 0) {
      // The leader sends these unasked: an ask to it, sent only once the wait is over.
      const ask: Ask = { to: this.#d.leader, left: own, cancel: () => {}, tries: 0 };
      this.#asks.add(ask);
      ask.cancel = this.#d.timer(() => this.#late(ask), PIECE_WAIT_MS);
    }
    this.#fill();
    this.#check();
  }

  /** A piece's datagram's piece from `from`. */
  piece(from: string, piece: Uint8Array): PieceFate | "ignored" {
    if (this.#state !== "fetching") return "ignored";
    const leader = from === this.#d.leader;
    if (!leader && !this.#d.holders.includes(from)) {
      this.ignored++;
      return "ignored";
    }
    const { fate, at } = this.#d.checker.offerAt(piece, from);
    if (fate === "mismatch" && !leader) this.#drop(from, this.liars);
    if (fate === "taken") {
      if (leader) this.fromLeader++;
      else this.fromHolders++;
      // (An ask done is deleted from the set while it is walked: a Set allows that.)
      for (const a of this.#asks) {
        for (const i of at) a.left.delete(i);
        if (a.left.size === 0) this.#done(a);
      }
      if (at.some((i) => this.#queue.includes(i))) {
        this.#queue = this.#queue.filter((i) => !at.includes(i));
      }
      this.#fill();
    }
    this.#check();
    return fate;
  }

  /** `from` lacks the pieces of digests `d` (its `plack`). */
  lack(from: string, d: string[]): void {
    if (this.#state !== "fetching") return;
    if (from === this.#d.leader) return this.#fail();
    if (!this.#live.has(from)) return;
    const named = new Set(d);
    const c = this.#d.checker;
    for (const a of [...this.#asks]) {
      if (a.to !== from) continue;
      for (const i of [...a.left]) {
        if (!named.has(c.digestTextAt(i))) continue;
        a.left.delete(i);
        this.#giveBack(i, from);
      }
      if (a.left.size === 0) this.#done(a);
    }
    this.#fill();
  }

  /** Stops every timer (the fetch is given up, or the node stops). */
  stop(): void {
    for (const a of this.#asks) a.cancel();
    this.#asks.clear();
    if (this.#state === "fetching") this.#state = "failed";
  }

  /** Asks each live holder for what it may give while it has room, and the leader for the rest. */
  #fill(): void {
    if (this.#state !== "fetching") return;
    for (const h of this.#live) {
      while (this.#inFlight(h) < ASKS_IN_FLIGHT) {
        const take = this.#take((i) => !this.#failed.get(i)?.has(h));
        if (take.length === 0) break;
        this.#ask(h, take, 0);
      }
    }
    // What no live holder may give goes to the leader. While holders are live and none failed a
    // piece, there is none: the queue is not walked (each piece that comes fills again, and a
    // view of 10,000 has some 600 pieces).
    if (this.#queue.length === 0 || (this.#live.size > 0 && this.#failed.size === 0)) return;
    const live = [...this.#live];
    const orphans = this.#take((i) => {
      const f = this.#failed.get(i);
      return live.every((h) => f?.has(h));
    }, Infinity);
    for (let k = 0; k < orphans.length; k += ASK_PIECES) {
      this.#ask(this.#d.leader, orphans.slice(k, k + ASK_PIECES), 0);
    }
  }

  /** Takes up to `n` pieces from the queue that `ok` accepts. */
  #take(ok: (i: number) => boolean, n = ASK_PIECES): readonly number[] {
    // Each piece that comes fills again: nothing is made when nothing is queued.
    if (this.#queue.length === 0) return NONE;
    const out: number[] = [];
    this.#queue = this.#queue.filter((i) => {
      if (out.length >= n || !ok(i)) return true;
      out.push(i);
      return false;
    });
    return out;
  }

  #inFlight(h: string): number {
    let n = 0;
    for (const a of this.#asks) if (a.to === h) n++;
    return n;
  }

  #ask(to: string, pieces: readonly number[], tries: number): void {
    const c = this.#d.checker;
    const ask: Ask = { to, left: new Set(pieces), cancel: () => {}, tries };
    this.#asks.add(ask);
    this.#d.send(to, {
      t: "pget",
      v: c.manifest.v,
      d: pieces.map((i) => c.digestTextAt(i)),
    });
    ask.cancel = this.#d.timer(() => this.#late(ask), askWaitMs(to === this.#d.leader, tries));
  }

  /** An ask's wait is over with pieces lacking. */
  #late(ask: Ask): void {
    if (!this.#asks.has(ask) || this.#state !== "fetching") return;
    // A holder's pieces go elsewhere with the rest it was asked (#drop).
    if (ask.to !== this.#d.leader) return this.#drop(ask.to, this.silent);
    this.#asks.delete(ask);
    if (ask.tries + 1 > LEADER_TRIES) return this.#fail();
    this.#ask(this.#d.leader, [...ask.left], ask.tries + 1);
  }

  /** Holder `h` is asked no more: what it was asked goes elsewhere. */
  #drop(h: string, why: Set<string>): void {
    if (!this.#live.delete(h)) return;
    why.add(h);
    for (const a of [...this.#asks]) {
      if (a.to !== h) continue;
      a.cancel();
      this.#asks.delete(a);
      for (const i of a.left) this.#giveBack(i, h);
    }
    this.#fill();
  }

  #giveBack(i: number, h: string): void {
    let f = this.#failed.get(i);
    if (!f) this.#failed.set(i, f = new Set());
    f.add(h);
    this.#queue.push(i);
    this.#queue.sort((a, b) => a - b);
  }

  #done(a: Ask): void {
    a.cancel();
    this.#asks.delete(a);
  }

  #fail(): void {
    this.stop();
    this.#state = "failed";
  }

  #check(): void {
    if (this.#state !== "fetching" || !this.#d.checker.complete) return;
    for (const a of this.#asks) a.cancel();
    this.#asks.clear();
    this.#state = "done";
  }
}
