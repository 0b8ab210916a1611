/**
 * A member's link reports: every few seconds, and soon after a peer's health changes (at most
 * once a second), it takes its links to the other members (health, RTT, path, and throughput
 * from the device's per-peer byte counters) and hands them on: a node sends them to the leader
 * (lib/mesh/sync/links.ts), the leader keeps its own in its store.
 *
 * A report costs a sample of every active peer, and a leader is active with every member: at
 * 10,000 members its health changes every second of a join burst, and its own report took all
 * 10,000 each second (a seventh of what it allocated in the joins, `scripts/bench/fleet.ts
 * --profile`). So a report of many links holds the next one back further: reports take at most
 * {@link MAX_LINKS_PER_SECOND} links a second, as the leader's pacing holds its members' hellos
 * (and with them their reports) to a bounded rate.
 * @module
 */

import type { HealthState } from "../../health/state.ts";
import type { LinkPath, WireLink } from "./links.ts";

/** One peer as the reporter reads it (a `/status` peer has these fields). */
export interface LinkSample {
  /** The peer's public key. */
  publicKey: string;
  /** Its health state. */
  health: HealthState;
  /** Median probe RTT over the health window, ms. */
  rttMs: number | null;
  /** `direct`, `relay`, `none`; absent where the node does not say. */
  path?: string;
  /** `udp` or `tcp`. */
  transport?: string | null;
  /** Underlay bytes received from it so far. */
  rxBytes: number;
  /** Underlay bytes sent to it so far. */
  txBytes: number;
}

/** What the reporter works with. */
export interface LinkReporterDeps {
  /** The peers now. */
  samples: () => LinkSample[];
  /** Hands a report on (report number, links). */
  deliver: (n: number, links: WireLink[]) => void;
  /** Subscribes to health transitions (the next report then comes soon); returns unsubscribe. */
  onChange?: (fn: () => void) => () => void;
  /** Monotonic ms (default `performance.now`). */
  now?: () => number;
}

/** How often reports go out. */
export interface LinkReportTiming {
  /** A report at least this often, ms (default 5000). */
  intervalMs: number;
  /** Reports at most this often, ms, however often health changes (default 1000). */
  minGapMs: number;
  /** The most links the reports take a second (default {@link MAX_LINKS_PER_SECOND}). */
  linksPerSecond: number;
}

/** The most links the reports take a second, on average over a report and the gap after it. */
export const MAX_LINKS_PER_SECOND = 1000;

/** The default timing: every 5 s, at most once a second after changes, 1,000 links a second. */
export const DEFAULT_LINK_REPORT_TIMING: Readonly<LinkReportTiming> = {
  intervalMs: 5000,
  minGapMs: 1000,
  linksPerSecond: MAX_LINKS_PER_SECOND,
};

/**
 * The least time after a report of `links` links before the next, ms: `ms` (the timing's gap
 * or interval), or longer when the report was large (`perSecond` links a second at most).
 */
export function reportGapMs(ms: number, links: number, perSecond = MAX_LINKS_PER_SECOND): number {
  return Math.max(ms, Math.ceil(links * 1000 / perSecond));
}

/** The path a peer's status fields say, as a report names it. */
export function linkPath(s: Pick<LinkSample, "path" | "transport">): LinkPath {
  if (s.path === "relay" || s.path === "none") return s.path;
  if (s.path === "idle") return ""; // no session asked for: no path to report
  if (s.path === "direct") return s.transport === "tcp" ? "tcp" : "direct";
  return s.transport === "tcp" ? "tcp" : "";
}

/** Sends this node's link reports. See the module docs. */
export class LinkReporter {
  readonly #deps: LinkReporterDeps;
  readonly #timing: LinkReportTiming;
  // The interval in use: the timing's, or longer when the leader paces its members.
  #intervalMs: number;
  readonly #now: () => number;
  // The byte counters at the last report, per peer: the next report's rates come from them.
  readonly #last = new Map<string, { rx: number; tx: number; at: number }>();
  #n = 0;
  #sentAt = -Infinity;
  // Links in the last report: a large one holds the next back (reportGapMs).
  #sentLinks = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #soon: ReturnType<typeof setTimeout> | undefined;
  #unsubscribe: (() => void) | undefined;
  #running = false;

  /** A stopped reporter; `start` begins it. */
  constructor(deps: LinkReporterDeps, timing: Partial<LinkReportTiming> = {}) {
    this.#deps = deps;
    this.#timing = { ...DEFAULT_LINK_REPORT_TIMING, ...timing };
    this.#intervalMs = this.#timing.intervalMs;
    this.#now = deps.now ?? (() => performance.now());
  }

  /** Reports now and then every interval, and soon after each change. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#unsubscribe = this.#deps.onChange?.(() => this.soon());
    this.report();
  }

  /** Asks for a report soon: now if the last is old enough, else once it is. */
  soon(): void {
    if (!this.#running || this.#soon !== undefined) return;
    const gap = reportGapMs(this.#timing.minGapMs, this.#sentLinks, this.#timing.linksPerSecond);
    const wait = Math.max(0, this.#sentAt + gap - this.#now());
    this.#soon = setTimeout(() => {
      this.#soon = undefined;
      this.report();
    }, wait);
  }

  /** Takes the links now and hands the report on; the next one follows after the interval. */
  report(): WireLink[] {
    clearTimeout(this.#timer);
    const links = this.links();
    this.#sentAt = this.#now();
    this.#sentLinks = links.length;
    this.#deps.deliver(++this.#n, links);
    if (this.#running) {
      const next = reportGapMs(this.#intervalMs, links.length, this.#timing.linksPerSecond);
      this.#timer = setTimeout(() => this.report(), next);
    }
    return links;
  }

  /**
   * The regular reports come no more often than `ms` (the hello interval the leader paces its
   * members to: a large fleet), and never more often than the timing's interval; from the next
   * report on. Reports after changes keep their own gap.
   */
  atMostEvery(ms: number): void {
    this.#intervalMs = Math.max(this.#timing.intervalMs, ms);
  }

  /** The links as they are now (each call moves the throughput's window on). */
  links(): WireLink[] {
    const now = this.#now();
    const seen = new Set<string>();
    const links = this.#deps.samples().map((s): WireLink => {
      seen.add(s.publicKey);
      const last = this.#last.get(s.publicKey);
      const dt = last ? (now - last.at) / 1000 : 0;
      // The first report of a peer has no window yet: no throughput rather than a guess.
      const rate = (bytes: number, before: number | undefined) =>
        dt > 0 && before !== undefined ? Math.max(0, Math.round((bytes - before) / dt)) : 0;
      this.#last.set(s.publicKey, { rx: s.rxBytes, tx: s.txBytes, at: now });
      return {
        k: s.publicKey,
        s: s.health,
        r: typeof s.rttMs === "number" && Number.isFinite(s.rttMs)
          ? Math.round(s.rttMs * 1000) / 1000
          : null,
        p: linkPath(s),
        i: rate(s.rxBytes, last?.rx),
        o: rate(s.txBytes, last?.tx),
      };
    });
    for (const k of this.#last.keys()) if (!seen.has(k)) this.#last.delete(k);
    return links;
  }

  /** Stops the reports. */
  close(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#soon);
    this.#timer = this.#soon = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }
}
