/**
 * A node's side of shared views (./manifest.ts): as a joiner, the manifest from the leader in use
 * and the holders it names start a fetch (./shared_fetch.ts) that takes a piece only when its
 * digest is in the manifest, from a holder named or the leader, and asks the leader for what the
 * holders do not give; once whole, the view goes to the node's sync to apply as a whole view
 * does. As a holder, it keeps the pieces of the view it fetched and serves them to the members
 * that ask (./piece_holder.ts; the version held is the hellos' `hz`). A fetch that fails is asked
 * again with a hello (held until {@link MANIFEST_CROSSED_MS} after the manifest: a hello sooner
 * the leader takes for one that crossed it); the pieces the new manifest shares with the old are
 * kept.
 *
 * The node's sync (./node_sync.ts) makes one, hands it the shared views' messages (it checks
 * that a manifest and holders come from the leader in use), and reads what its hellos say.
 * @module
 */

import { timeout } from "../../io/cancelable.ts";
import type { Logger } from "../../log/logger.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import type { ControlPort } from "./control_channel.ts";
import {
  MANIFEST_CROSSED_MS,
  ManifestAssembler,
  type ManifestDatagram,
  PieceChecker,
} from "./manifest.ts";
import { type HolderDrop, PieceHolder } from "./piece_holder.ts";
import { SharedFetch } from "./shared_fetch.ts";
import { unpackSegments } from "./packed.ts";

/** Pieces from the leader in use kept while its manifest is not whole yet, at most. */
const EARLY_PIECES = 1024;

/** A hello held past the leader's {@link MANIFEST_CROSSED_MS} goes this much later, ms. */
const CROSSED_MARGIN_MS = 50;

/** What a node counted of shared views (`/metrics`). */
export interface SharedViewCounts {
  /** Pieces taken, by who gave them. */
  pieces: { holder: number; leader: number };
  /**
   * Pieces refused: `mismatch` (not in the manifest), `not-named` (from a member the leader did
   * not name), `duplicate` (held already), `malformed` (a whole view that did not unpack).
   */
  refused: { mismatch: number; "not-named": number; duplicate: number; malformed: number };
  /** Pieces served as a holder, and asks dropped by reason. */
  served: number;
  drops: Readonly<Record<HolderDrop, number>>;
  /**
   * Fetches failed (or views that did not unpack), by when the hello asking again went: `now`,
   * or `held` until the leader would take it ({@link MANIFEST_CROSSED_MS} after the manifest).
   */
  failed: { now: number; held: number };
}

/** What a node's shared views work with. */
export interface NodeSharedViewsDeps {
  /** The control channel: asks to holders and the leader, answers to askers. */
  channel: Pick<ControlPort, "send">;
  /** The logger. */
  logger: Logger;
  /** This node's public key (never a holder for itself) and overlay address (never served). */
  publicKey: string;
  address: string;
  /** The view held. */
  view: () => MembershipView;
  /** Applies a view to this node (the holders named become peers before the whole view). */
  applyView: (v: MembershipView) => void;
  /** The overlay address of the leader in use (its pieces are kept before its manifest). */
  leader: () => string;
  /** Whether the sync runs (not closed, not removed): no fetch starts otherwise. */
  live: () => boolean;
  /** A whole view fetched, newer than the one held: the sync applies it. */
  whole: (v: MembershipView) => void;
  /**
   * A fetch failed, or its view did not unpack: the sync says hello (the leader answers anew),
   * no sooner than {@link MANIFEST_CROSSED_MS} after the manifest.
   */
  again: () => void;
  /** Monotonic ms (default `performance.now`). */
  now?: () => number;
  /**
   * Calls `fn` after `ms`; returns what cancels it (default a referenced `setTimeout`, as the
   * sync's own timers are: stop() cancels them all).
   */
  timer?: (fn: () => void, ms: number) => () => void;
}

/** A node's shared views, as a joiner and as a holder. See the module docs. */
export class NodeSharedViews {
  readonly #d: NodeSharedViewsDeps;
  // The manifest coming from the leader in use, the holders it named (for one version), the
  // pieces it sent before its manifest was whole, the fetch under way, and the checker of the
  // last view fetched (its pieces kept for the next manifest).
  readonly #manifests = new ManifestAssembler();
  #named: { v: number; members: Member[] } | null = null;
  #early: Uint8Array[] = [];
  #shared: SharedFetch | null = null;
  #lastChecker: PieceChecker | null = null;
  // The checker the fetch under way took over from (a view fetched, or a fetch replaced): the
  // leader's pieces of it still on their way are late copies, not mismatches.
  #replaced: PieceChecker | null = null;
  readonly #holder: PieceHolder;
  // The overlay addresses of the view held (the members a holder serves), and its version.
  #addresses: { v: number; set: Set<string> } = { v: -1, set: new Set() };
  readonly #counts: SharedViewCounts["pieces"] = { holder: 0, leader: 0 };
  readonly #failed: SharedViewCounts["failed"] = { now: 0, held: 0 };
  // When the last manifest came whole, and the hello held until the leader takes it, if any.
  #manifestAt = -Infinity;
  #againCancel: (() => void) | null = null;
  readonly #refused: SharedViewCounts["refused"] = {
    mismatch: 0,
    "not-named": 0,
    duplicate: 0,
    malformed: 0,
  };

  /** Nothing fetched or held yet. */
  constructor(deps: NodeSharedViewsDeps) {
    this.#d = deps;
    this.#holder = new PieceHolder({
      send: (to, answer) => deps.channel.send(to, answer),
      isMember: (address) => address !== deps.address && this.#memberAddresses().has(address),
    });
  }

  /** The version of the view whose fetch is under way (null: none). */
  get fetching(): number | null {
    return this.#shared?.version ?? null;
  }

  /** The version of the shared view whose pieces this node holds and serves (null: none). */
  get holding(): number | null {
    return this.#holder.holding;
  }

  /** What this node counted of shared views, as a joiner and as a holder (`/metrics`). */
  counts(): SharedViewCounts {
    return {
      pieces: { ...this.#counts },
      refused: { ...this.#refused },
      served: this.#holder.served,
      drops: { ...this.#holder.drops },
      failed: { ...this.#failed },
    };
  }

  /** A member's ask for pieces held (`pget`, from `from`). */
  ask(from: string, msg: Record<string, unknown>): void {
    this.#holder.ask(from, msg);
  }

  /** A holder's or the leader's word that it lacks pieces asked for (`plack`). */
  lack(from: string, digests: string[]): void {
    const fetch = this.#shared;
    if (!fetch) return;
    fetch.lack(from, digests);
    this.#sharedOn(fetch);
  }

  /** The holders the leader in use named for version `v`. */
  holders(v: number, members: Member[]): void {
    this.#named = { v, members };
  }

  /**
   * A manifest datagram from the leader in use: once whole and of a version past the one held,
   * the fetch starts (one under way is replaced, its pieces kept), with the holders named for it.
   */
  manifest(dg: ManifestDatagram): void {
    const d = this.#d;
    const m = this.#manifests.addParsed(dg);
    if (!m || m.v <= d.view().version || !d.live()) return;
    const checker = new PieceChecker(m);
    const older = this.#shared?.checker ?? this.#lastChecker;
    if (older) checker.adopt(older);
    this.#replaced = older;
    this.#shared?.stop();
    this.#cancelAgain();
    this.#manifestAt = this.#now();
    const named = this.#named?.v === m.v
      ? this.#named.members.filter((h) => h.publicKey !== d.publicKey)
      : [];
    this.#named = null;
    // The holders become peers now (the view held with them, same version: nothing announced),
    // so that the asks to them start sessions; the whole view replaces it.
    const view = d.view();
    const known = new Set(view.members.map((x) => x.publicKey));
    const fresh = named.filter((h) => !known.has(h.publicKey));
    if (fresh.length > 0) d.applyView({ ...view, members: [...view.members, ...fresh] });
    const leader = d.leader();
    const fetch = this.#shared = new SharedFetch({
      checker,
      holders: named.map((h) => h.address),
      leader,
      send: (to, ask) => d.channel.send(to, ask),
      // A fetch's timers may end it (the leader silent): each step is followed.
      timer: (fn, ms) =>
        this.#timer(() => {
          fn();
          if (this.#shared === fetch) this.#sharedOn(fetch);
        }, ms),
    });
    fetch.start();
    for (const p of this.#early.splice(0)) this.piece(p, leader);
    if (this.#shared === fetch) this.#sharedOn(fetch);
  }

  /** A piece: to the fetch under way, or kept a while when the leader's manifest is not whole. */
  piece(piece: Uint8Array, from: string): void {
    const fetch = this.#shared;
    const leader = from === this.#d.leader();
    if (!fetch) {
      // A copy of a piece of the view last fetched whole (an answer that came after the fetch
      // ended) is held already and no piece ahead of the next manifest: not kept, where it would
      // be a mismatch of the leader's once the next manifest lists other pieces.
      const last = this.#lastChecker;
      if (leader && last?.complete && last.lists(piece)) this.#refused.duplicate++;
      else if (leader && this.#early.length < EARLY_PIECES) this.#early.push(piece);
      else this.#refused["not-named"]++;
      return;
    }
    const fate = fetch.piece(from, piece);
    if (fate === "taken") this.#counts[from === fetch.leader ? "leader" : "holder"]++;
    else if (fate === "ignored") this.#refused["not-named"]++;
    else if (fate === "mismatch" && leader && this.#replaced?.lists(piece)) {
      // The leader's piece of the manifest this fetch replaced, sent before the new one: late.
      this.#refused.duplicate++;
    } else this.#refused[fate]++;
    this.#sharedOn(fetch);
  }

  /** Stops the fetch under way, if any (the sync stops). */
  stop(): void {
    this.#shared?.stop();
    this.#shared = null;
    this.#cancelAgain();
  }

  #timer(fn: () => void, ms: number): () => void {
    return (this.#d.timer ?? timeout)(fn, ms);
  }

  #now(): number {
    return this.#d.now?.() ?? performance.now();
  }

  /**
   * Asks for a new manifest with a hello: at once, or, within {@link MANIFEST_CROSSED_MS} of the
   * last (the leader takes a hello that soon for one that crossed it and sends none), once that
   * time is over: one hello held at most, the next manifest or a stop cancels it.
   */
  #askAgain(): void {
    const wait = this.#manifestAt + MANIFEST_CROSSED_MS + CROSSED_MARGIN_MS - this.#now();
    if (wait <= 0) {
      this.#failed.now++;
      return this.#d.again();
    }
    this.#failed.held++;
    if (this.#againCancel) return;
    this.#againCancel = this.#timer(() => {
      this.#againCancel = null;
      if (this.#d.live()) this.#d.again();
    }, wait);
  }

  #cancelAgain(): void {
    this.#againCancel?.();
    this.#againCancel = null;
  }

  /** The overlay addresses of the view held (rebuilt once a version). */
  #memberAddresses(): Set<string> {
    const v = this.#d.view();
    if (this.#addresses.v !== v.version) {
      this.#addresses = { v: v.version, set: new Set(v.members.map((m) => m.address)) };
    }
    return this.#addresses.set;
  }

  /** After a step of `fetch`: the view handed over once whole; asked again when it failed. */
  #sharedOn(fetch: SharedFetch): void {
    if (fetch.state === "fetching") return;
    this.#shared = null;
    this.#early = [];
    this.#lastChecker = fetch.checker;
    const d = this.#d;
    if (fetch.state === "failed") return this.#askAgain();
    const m = fetch.checker.manifest;
    const members = unpackSegments(fetch.checker.segments()!);
    // The digests are the leader's: a view that does not unpack is its fault or the path's, and
    // one without this node is no removal (the leader says that in a view of its own).
    if (!members || !members.some((x) => x.publicKey === d.publicKey)) {
      this.#refused.malformed++;
      this.#lastChecker = null;
      d.logger.warn("a shared view from the leader did not unpack: dropped", { version: m.v });
      return this.#askAgain();
    }
    this.#holder.holdChecked(m.v, fetch.checker);
    if (m.v <= d.view().version) return;
    d.whole({
      network: m.network,
      ...(m.network6 ? { network6: m.network6 } : {}),
      version: m.v,
      members,
    });
  }
}
