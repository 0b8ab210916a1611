/**
 * The leader's store of link reports: the latest report of each member (lib/mesh/sync/links.ts),
 * its own included, for the mesh view (`/status`'s `mesh`, the dashboard). A report is taken
 * only from a member, as its WireGuard identity says (the source overlay address, which only
 * that member's session may use), and only about other members: anything else is dropped and
 * counted by reason. One report (and one being reassembled) per member; a removed member's go
 * with it; a report older than the stale time is marked stale, since its node stopped sending.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { Member, MembershipView, ViewChange } from "../../members/member.ts";
import { RateLimiter } from "../../protocol/ratelimiter.ts";
import { ReasonCounter } from "../../metrics/reasons.ts";
import type { LinksMessage, WireLink } from "../sync/links.ts";
import { MAX_LINK_PARTS } from "../sync/links.ts";

/** Why a report, a part or a link of one was dropped. */
export const LINK_DROP_REASONS = [
  /** The sender is not a member. */
  "not-member",
  /** A link about a key that is not a member (or about the sender itself). */
  "bad-peer",
  /** Parts over the sender's rate. */
  "rate",
] as const;

/** Why a report, a part or a link of one was dropped. */
export type LinkDropReason = typeof LINK_DROP_REASONS[number];

/** A member's latest report, as the store hands it out. */
export interface LinkReport {
  /** The reporting member's public key. */
  publicKey: string;
  /** Ms since the report came in. */
  ageMs: number;
  /** True when it is older than the stale time: the node stopped reporting. */
  stale: boolean;
  /** Its links, one per peer. */
  links: WireLink[];
}

/** What the store works with. */
export interface LinkStoreDeps {
  /** The leader's own public key (its report comes from `setOwn`, never from the wire). */
  self: string;
  /** The member with this overlay address (the sender of a control message). */
  memberAt: (address: string) => Member | undefined;
  /** True when `key` is a member now. */
  isMember: (key: string) => boolean;
  /** Monotonic ms (default `performance.now`). */
  now?: () => number;
  /** A report older than this is stale, ms (default 15000: three missed reports). */
  staleMs?: number;
  /** Logs drops (one line per member a minute). */
  logger?: Logger;
}

/** Parts a member may send per second (one report of the largest size) and in a burst. */
export const LINK_PART_RATE = { perSecond: MAX_LINK_PARTS, burst: 2 * MAX_LINK_PARTS };

interface Pending {
  n: number;
  parts: (WireLink[] | undefined)[];
}

/** The latest link report of each member. See the module docs. */
export class LinkStore {
  readonly #deps: LinkStoreDeps;
  readonly #now: () => number;
  readonly #staleMs: number;
  readonly #reports = new Map<string, { at: number; links: WireLink[] }>();
  readonly #pending = new Map<string, Pending>();
  readonly #drops = new ReasonCounter(LINK_DROP_REASONS);
  readonly #limit: RateLimiter;
  readonly #log = new RateLimiter({ perSecond: 1 / 60, burst: 1, maxEntries: 4096 });

  /** An empty store. */
  constructor(deps: LinkStoreDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? (() => performance.now());
    this.#staleMs = deps.staleMs ?? 15_000;
    this.#limit = new RateLimiter({ ...LINK_PART_RATE, maxEntries: 16_384, now: this.#now });
  }

  /** What was dropped so far, by reason. */
  drops(): Record<LinkDropReason, number> {
    return this.#drops.snapshot();
  }

  /** Members with a report held (the leader's own included). */
  get size(): number {
    return this.#reports.size;
  }

  /** Members with a report being reassembled. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Takes one part of a report from overlay address `from`; true when it completed a report
   * that is now the sender's latest.
   */
  accept(msg: LinksMessage, from: string): boolean {
    const member = this.#deps.memberAt(from);
    if (!member || member.publicKey === this.#deps.self) {
      this.#drop("not-member", from);
      return false;
    }
    const key = member.publicKey;
    if (!this.#limit.allow(key)) {
      this.#drop("rate", member.name);
      return false;
    }
    let p = this.#pending.get(key);
    // A part of another report starts that one over: a report is never mixed from two.
    if (!p || p.n !== msg.n || p.parts.length !== msg.parts) {
      p = { n: msg.n, parts: new Array(msg.parts).fill(undefined) };
      this.#pending.set(key, p);
    }
    p.parts[msg.part] = msg.l;
    if (p.parts.some((x) => x === undefined)) return false;
    this.#pending.delete(key);
    this.#put(key, (p.parts as WireLink[][]).flat(), member.name);
    return true;
  }

  /** Puts the leader's own report. */
  setOwn(links: WireLink[]): void {
    this.#put(this.#deps.self, links, "");
  }

  /**
   * Drops the reports (held and in reassembly) of members no longer in the view (with
   * `change`: those it removes).
   */
  viewChanged(view: MembershipView, change: ViewChange | null = null): void {
    if (change) {
      for (const k of change.remove) {
        this.#reports.delete(k);
        this.#pending.delete(k);
      }
      return;
    }
    const keys = new Set(view.members.map((m) => m.publicKey));
    for (const k of this.#reports.keys()) if (!keys.has(k)) this.#reports.delete(k);
    for (const k of this.#pending.keys()) if (!keys.has(k)) this.#pending.delete(k);
  }

  /** The latest report of `key`, if any. */
  report(key: string): LinkReport | undefined {
    const r = this.#reports.get(key);
    if (!r) return undefined;
    const ageMs = Math.max(0, this.#now() - r.at);
    // The leader's own report is made where it is read: never stale while the leader runs.
    const stale = key !== this.#deps.self && ageMs > this.#staleMs;
    return { publicKey: key, ageMs, stale, links: r.links };
  }

  /** Every report held. */
  reports(): LinkReport[] {
    return [...this.#reports.keys()].map((k) => this.report(k)!);
  }

  #put(key: string, links: WireLink[], name: string): void {
    // One link per peer, each about another member.
    const byPeer = new Map<string, WireLink>();
    let bad = 0;
    for (const l of links) {
      if (l.k === key || !this.#deps.isMember(l.k)) bad++;
      else byPeer.set(l.k, l);
    }
    if (bad > 0) this.#drop("bad-peer", name || "leader", bad);
    this.#reports.set(key, { at: this.#now(), links: [...byPeer.values()] });
  }

  #drop(reason: LinkDropReason, who: string, n = 1): void {
    this.#drops.add(reason, n);
    if (this.#deps.logger && this.#log.allow(`${reason}|${who}`)) {
      this.#deps.logger.warn("link report dropped", { reason, from: who, dropped: n });
    }
  }
}
