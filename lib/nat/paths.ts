/**
 * Which of a peer's endpoints to use, decided from path probes: which to ping when, what their
 * pongs say (round-trip time, misses), and when to move to another path. Pure: no I/O, no
 * clock of its own (every call takes `now`, in milliseconds), so the schedule can be tested by
 * simulating time.
 *
 * The schedule, after Tailscale's disco: with no confirmed path, or when asked to punch, every
 * candidate is pinged every 250 ms for 5 s (both ends doing so opens the NAT mappings that let
 * the other's pings in), then every 2 s until a minute has passed, then every 30 s. With a
 * path, it is pinged every 10 s and the others every 30 s, so that a better one is noticed.
 * A candidate never pinged is due at once.
 *
 * Choosing: LAN-class paths (the peer's interface addresses, or where its LAN announcements
 * came from) before public ones (observed, advertised, seen-from); within a class the lowest
 * smoothed RTT, but a chosen path gives way to one of its class only when that one is at least
 * 30 % faster and the chosen one has been held 10 s, so two similar paths do not flap.
 * Once a LAN-class path is confirmed, an active phase pings the public-class candidates only at
 * the slow pace (every 30 s): a peer on our LAN behind our own NAT is not reached through the
 * NAT's public address (no hairpin), and a better path can still be found later.
 *
 * Following the device: WireGuard moves a peer's endpoint to wherever an authenticated packet
 * came from (roaming, e.g. after the peer's NAT gave it a new public port). {@link
 * PeerPaths.roamed} adopts that endpoint as the chosen path at once, with the reason `roamed`,
 * when the session works and the endpoint is not worse by the rules above: when nothing is
 * chosen, the chosen path is not confirmed, or the endpoint's class is at least as good as the
 * chosen one's (same class: the RTT rule is not applied, since the peer's packets come from
 * there and the device would only move back). A roam from a confirmed LAN-class path to a
 * public-class one is not adopted (the LAN path stays chosen; the device is not moved back
 * either, which would fight its roaming; when the peer also moves to the LAN path its packets
 * come from there again). While the session works, the RTT rule does not move away from an
 * endpoint the device roamed to, for the same reason: the device would roam straight back and
 * the two would flap.
 * @module
 */

/** Where a peer's candidate endpoint comes from. */
export type PeerCandidateKind =
  /** The peer's own interface address (its candidate list). */
  | "lan"
  /** The peer's `--advertise` endpoint. */
  | "advertised"
  /** The peer's reflexive address, as the leader or another peer saw it. */
  | "observed"
  /** Where a verified LAN announcement of the peer came from. */
  | "lan-announce"
  /** Where we saw the peer's datagrams come from. */
  | "peer-observed";

/** The two classes of path: a LAN one always wins over a public one. */
export type PathClass = "lan" | "public";

/** Why the chosen path changed. */
export type PathReason =
  /** The first path (none before). */
  | "punched"
  /** Moved to a LAN-class path. */
  | "lan"
  /** Moved to a clearly faster path of the same class. */
  | "rtt"
  /** The chosen path stopped answering (or was withdrawn): the next best, or none. */
  | "failed"
  /** The device roamed to where the peer's packets now come from (see {@link PeerPaths.roamed}). */
  | "roamed";

/** A change of the chosen path. */
export interface PathChange {
  /** The endpoint used before, or null. */
  from: string | null;
  /** The endpoint to use now, or null when there is no direct path. */
  to: string | null;
  /** Why. */
  reason: PathReason;
  /** When (the `now` of the call that decided it). */
  at: number;
}

/** The timing of the schedule and of the choice, in milliseconds. */
export interface PathTiming {
  /** Interval of the active phase (punching). */
  activeIntervalMs: number;
  /** Length of the active phase. */
  activeForMs: number;
  /** Interval after the active phase while there is no path... */
  backoffIntervalMs: number;
  /** ...until this long after the phase started. */
  backoffUntilMs: number;
  /** Interval with no path after that. */
  idleIntervalMs: number;
  /** Interval of the chosen path. */
  keepIntervalMs: number;
  /** Interval of the other candidates while a path is chosen. */
  exploreIntervalMs: number;
  /** A ping unanswered this long is missed. */
  pongTimeoutMs: number;
  /** Misses in a row that fail a path. */
  missesToFail: number;
  /** Weight of a new RTT sample in the moving average. */
  rttAlpha: number;
  /** A same-class path must have at most this fraction of the chosen one's RTT... */
  rttSwitchRatio: number;
  /** ...and the chosen one must have been held this long. */
  holdMs: number;
}

/** The timing described in the module comment. */
export const DEFAULT_PATH_TIMING: Readonly<PathTiming> = Object.freeze({
  activeIntervalMs: 250,
  activeForMs: 5_000,
  backoffIntervalMs: 2_000,
  backoffUntilMs: 60_000,
  idleIntervalMs: 30_000,
  keepIntervalMs: 10_000,
  exploreIntervalMs: 30_000,
  pongTimeoutMs: 3_000,
  missesToFail: 3,
  rttAlpha: 0.1,
  rttSwitchRatio: 0.7,
  holdMs: 10_000,
});

/** At most this many endpoints from the peer's own list are kept. */
export const MAX_ANNOUNCED = 16;
/** At most this many discovered endpoints (LAN announcements, seen-from) are kept. */
export const MAX_DISCOVERED = 8;
/** At most this many pings wait for a pong; past it the oldest counts as missed. */
export const MAX_PENDING = 256;

const ANNOUNCED_KINDS: ReadonlySet<PeerCandidateKind> = new Set(["lan", "advertised", "observed"]);
/** The kinds as stats list them: the LAN ones first, then the most telling public one. */
const KIND_ORDER: readonly PeerCandidateKind[] = [
  "lan",
  "lan-announce",
  "observed",
  "peer-observed",
  "advertised",
];

/** The class of a candidate kind. */
export function classOf(kind: PeerCandidateKind): PathClass {
  return kind === "lan" || kind === "lan-announce" ? "lan" : "public";
}

/** What is known of one endpoint of the peer. */
export interface PathStats {
  /** The endpoint, `host:port`. */
  readonly endpoint: string;
  /** Where it was learnt, LAN kinds first. */
  readonly kinds: readonly PeerCandidateKind[];
  /** Its class (LAN if any of its kinds is). */
  readonly pathClass: PathClass;
  /** Answered recently enough to be chosen (as of the last call that gave a time). */
  readonly confirmed: boolean;
  /** Smoothed round-trip time, or NaN before the first pong. */
  readonly rttMs: number;
  /** Pings missed in a row. */
  readonly misses: number;
  /** When the last pong came, or -Infinity. */
  readonly lastPongAt: number;
  /** When the last ping went, or -Infinity. */
  readonly lastPingAt: number;
}

interface Stat {
  endpoint: string;
  kinds: Set<PeerCandidateKind>;
  addedAt: number;
  lastPingAt: number;
  lastPongAt: number;
  /**
   * When the newest ping answered so far was sent: one sent before it and never answered is
   * not missed "in a row" (the pings sent while a peer restarted time out after its first pong).
   */
  answeredPingAt: number;
  rtt: number;
  misses: number;
}

const lanRank = (s: Stat): number => (isLan(s) ? 0 : 1);
const isLan = (s: Stat): boolean => s.kinds.has("lan") || s.kinds.has("lan-announce");

/** The paths to one peer: its candidates, the pings in flight, the chosen endpoint. */
export class PeerPaths {
  /** Pongs ignored: unknown txid, answered already (a replay), or past their timeout. */
  ignoredPongs = 0;
  /** Pongs that did not come from the endpoint pinged (ignored; the ping stays in flight). */
  misdirectedPongs = 0;

  readonly #t: PathTiming;
  readonly #stats = new Map<string, Stat>();
  /** txid → the ping: in the order sent, so the oldest come first. */
  readonly #pending = new Map<string, { endpoint: string; at: number }>();
  #chosen: Stat | null = null;
  #chosenSince = -Infinity;
  /** The chosen path when the device roamed to it (the peer's packets come from there). */
  #roamedTo: Stat | null = null;
  #reason: PathReason | null = null;
  #phaseStart = -Infinity;
  #sessionWorks = false;
  #lastNow = -Infinity;

  /** An empty peer; `timing` overrides parts of {@link DEFAULT_PATH_TIMING}. */
  constructor(timing: Partial<PathTiming> = {}) {
    this.#t = { ...DEFAULT_PATH_TIMING, ...timing };
  }

  /** The endpoint to send to, or null. */
  get chosen(): string | null {
    return this.#chosen?.endpoint ?? null;
  }

  /** `direct` when a path is chosen, else `none`. */
  get state(): "direct" | "none" {
    return this.#chosen === null ? "none" : "direct";
  }

  /** Why the chosen path last changed, or null if it never did. */
  get reason(): PathReason | null {
    return this.#reason;
  }

  /** Whether an active phase (fast pings to every candidate) is under way at `now`. */
  punching(now: number): boolean {
    return now - this.#phaseStart < this.#t.activeForMs;
  }

  /** What is known of each candidate; `confirmed` as of `now` (default: the last time given). */
  stats(now: number = this.#lastNow): PathStats[] {
    return [...this.#stats.values()].map((s) => ({
      endpoint: s.endpoint,
      kinds: KIND_ORDER.filter((k) => s.kinds.has(k)),
      pathClass: isLan(s) ? "lan" : "public",
      confirmed: this.#confirmed(s, now),
      rttMs: s.rtt,
      misses: s.misses,
      lastPongAt: s.lastPongAt,
      lastPingAt: s.lastPingAt,
    }));
  }

  /**
   * Replaces the peer's own candidate list (its lan, advertised and observed endpoints); what
   * was discovered otherwise stays, and so do the stats of endpoints that remain. With no path
   * and a new endpoint, punching starts.
   */
  setCandidates(
    list: { endpoint: string; kind: PeerCandidateKind }[],
    now: number,
  ): PathChange | null {
    const incoming = list.filter((c) => ANNOUNCED_KINDS.has(c.kind)).slice(0, MAX_ANNOUNCED);
    for (const s of this.#stats.values()) for (const k of ANNOUNCED_KINDS) s.kinds.delete(k);
    let added = false;
    for (const c of incoming) added = this.#add(c.endpoint, c.kind, now) || added;
    for (const [e, s] of this.#stats) if (s.kinds.size === 0) this.#stats.delete(e);
    if (added && this.#chosen === null) this.punch(now);
    return this.#evaluate(now);
  }

  /**
   * Adds an endpoint learnt otherwise (a LAN announcement, where the peer's datagrams came
   * from). True when it is new. With no path, punching starts.
   */
  addCandidate(endpoint: string, kind: "lan-announce" | "peer-observed", now: number): boolean {
    const added = this.#add(endpoint, kind, now);
    if (!added) return false;
    const discovered = [...this.#stats.values()].filter((s) => !hasAnnounced(s));
    if (discovered.length > MAX_DISCOVERED) {
      const old = discovered.filter((s) => s !== this.#chosen).sort((a, b) =>
        a.addedAt - b.addedAt
      );
      this.#stats.delete(old[0].endpoint);
    }
    if (this.#chosen === null) this.punch(now);
    return true;
  }

  /** Starts an active phase (fast pings to every candidate), unless one is under way. */
  punch(now: number): void {
    if (now - this.#phaseStart < this.#t.activeForMs) return;
    this.#phaseStart = now;
  }

  /** Makes every candidate due for a ping now, once (then the schedule goes on as before). */
  probeSoon(): void {
    for (const s of this.#stats.values()) s.lastPingAt = -Infinity;
  }

  /**
   * Tells whether the WireGuard session to this peer works. While it does, the chosen path is
   * not failed for missing pongs; when it stops, punching starts.
   */
  session(works: boolean, now: number): PathChange | null {
    this.#sessionWorks = works;
    if (!works) this.punch(now);
    return this.#evaluate(now);
  }

  /**
   * Tells that the device moved the peer's endpoint to `endpoint` (an authenticated packet came
   * from there). The endpoint becomes a `peer-observed` candidate if it is not one, and the
   * chosen path at once (reason `roamed`) when the session works, no confirmed path is of a
   * better class, and it is not worse than the chosen path: nothing chosen, the chosen path not
   * confirmed, or its class at least as good.
   * Returns the change, or null (nothing to do, or a worse endpoint: the chosen path stays).
   */
  roamed(endpoint: string, now: number): PathChange | null {
    this.#lastNow = now;
    this.addCandidate(endpoint, "peer-observed", now);
    const s = this.#stats.get(endpoint);
    if (s === undefined) return this.#evaluate(now);
    const cur = this.#chosen;
    if (s === cur) {
      this.#roamedTo = s;
      return this.#evaluate(now);
    }
    // Never past a confirmed path of a better class (a LAN one while roaming to a public one).
    const best = this.#best(now, null);
    if (
      this.#sessionWorks && (best === null || lanRank(best) >= lanRank(s)) &&
      (cur === null || !this.#confirmed(cur, now) || lanRank(s) <= lanRank(cur))
    ) {
      const change = this.#change(s, "roamed", now);
      this.#roamedTo = s;
      return change;
    }
    return this.#evaluate(now);
  }

  /** The endpoints to ping now; call {@link sent} for each ping sent. */
  due(now: number): string[] {
    const out: string[] = [];
    for (const s of this.#stats.values()) {
      if (now - s.lastPingAt >= this.#interval(s, now)) out.push(s.endpoint);
    }
    return out;
  }

  /** When something is next due (a ping, or a pong's timeout): when to call again. */
  nextDue(now: number): number {
    let next = Infinity;
    for (const s of this.#stats.values()) {
      next = Math.min(next, Math.max(now, s.lastPingAt + this.#interval(s, now)));
    }
    for (const p of this.#pending.values()) {
      next = Math.min(next, Math.max(now, p.at + this.#t.pongTimeoutMs));
      break; // the oldest times out first
    }
    return next;
  }

  /** Records a ping sent to `endpoint` with `txid`; false when the endpoint is not a candidate. */
  sent(endpoint: string, txid: string, now: number): boolean {
    const s = this.#stats.get(endpoint);
    if (s === undefined) return false;
    s.lastPingAt = now;
    this.#pending.set(txid, { endpoint, at: now });
    if (this.#pending.size > MAX_PENDING) {
      const [oldest, p] = this.#pending.entries().next().value!;
      this.#pending.delete(oldest);
      this.#miss(p.endpoint, p.at);
    }
    return true;
  }

  /**
   * Records the pong answering `txid`. A txid not waiting (unknown, answered before, timed
   * out) changes nothing, nor does a pong that `from` (when given) says did not come from the
   * endpoint pinged. Returns the change of path it caused, if any.
   */
  pong(
    txid: string,
    now: number,
    from?: (endpoint: string) => boolean,
  ): PathChange | null {
    this.#expire(now);
    const p = this.#pending.get(txid);
    const s = p === undefined ? undefined : this.#stats.get(p.endpoint);
    if (p === undefined || s === undefined) {
      this.ignoredPongs++;
      return null;
    }
    // A pong counts for the endpoint pinged only when it comes from there: one passed on from
    // elsewhere (a member relaying the peer's answers) would credit a path that is not the peer.
    if (from !== undefined && !from(p.endpoint)) {
      this.misdirectedPongs++;
      return null;
    }
    this.#pending.delete(txid);
    const rtt = Math.max(0, now - p.at);
    s.rtt = Number.isNaN(s.rtt) ? rtt : s.rtt + this.#t.rttAlpha * (rtt - s.rtt);
    s.misses = 0;
    s.lastPongAt = now;
    s.answeredPingAt = Math.max(s.answeredPingAt, p.at);
    return this.#evaluate(now);
  }

  /** Counts pings past their timeout as missed, and fails the chosen path if it must. */
  expire(now: number): PathChange | null {
    this.#expire(now);
    return this.#evaluate(now);
  }

  #add(endpoint: string, kind: PeerCandidateKind, now: number): boolean {
    const s = this.#stats.get(endpoint);
    if (s !== undefined) {
      s.kinds.add(kind);
      return false;
    }
    this.#stats.set(endpoint, {
      endpoint,
      kinds: new Set([kind]),
      addedAt: now,
      lastPingAt: -Infinity,
      lastPongAt: -Infinity,
      answeredPingAt: -Infinity,
      rtt: NaN,
      misses: 0,
    });
    return true;
  }

  #expire(now: number): void {
    for (const [txid, p] of this.#pending) {
      if (now - p.at < this.#t.pongTimeoutMs) continue;
      this.#pending.delete(txid);
      this.#miss(p.endpoint, p.at);
    }
  }

  /** A ping to `endpoint` sent at `at` went unanswered: missed, unless a later one was answered. */
  #miss(endpoint: string, at: number): void {
    const s = this.#stats.get(endpoint);
    if (s !== undefined && at > s.answeredPingAt) s.misses++;
  }

  #interval(s: Stat, now: number): number {
    const t = this.#t;
    const since = now - this.#phaseStart;
    if (since < t.activeForMs) {
      // A confirmed LAN path: the public ones (our own NAT's address, for a peer behind it) wait.
      return !isLan(s) && this.#lanConfirmed(now) ? t.exploreIntervalMs : t.activeIntervalMs;
    }
    if (this.#chosen !== null) return s === this.#chosen ? t.keepIntervalMs : t.exploreIntervalMs;
    return since < t.backoffUntilMs ? t.backoffIntervalMs : t.idleIntervalMs;
  }

  /**
   * Answered, not missed 3 times in a row since, and not silent for 3 of its intervals (a
   * path just chosen gets them from when it was chosen: it was pinged less often before).
   */
  #confirmed(s: Stat, now: number): boolean {
    if (s.lastPongAt === -Infinity || s.misses >= this.#t.missesToFail) return false;
    const chosen = s === this.#chosen;
    const interval = chosen ? this.#t.keepIntervalMs : this.#t.exploreIntervalMs;
    const since = chosen ? Math.max(s.lastPongAt, this.#chosenSince) : s.lastPongAt;
    return now - since <= this.#t.missesToFail * interval + this.#t.pongTimeoutMs;
  }

  #lanConfirmed(now: number): boolean {
    for (const s of this.#stats.values()) if (isLan(s) && this.#confirmed(s, now)) return true;
    return false;
  }

  #best(now: number, except: Stat | null): Stat | null {
    let best: Stat | null = null;
    for (const s of this.#stats.values()) {
      if (s === except || !this.#confirmed(s, now)) continue;
      if (
        best === null || lanRank(s) < lanRank(best) ||
        (lanRank(s) === lanRank(best) && s.rtt < best.rtt)
      ) best = s;
    }
    return best;
  }

  #evaluate(now: number): PathChange | null {
    this.#lastNow = now;
    const cur = this.#chosen;
    if (cur !== null) {
      const withdrawn = this.#stats.get(cur.endpoint) !== cur;
      if (withdrawn || (!this.#sessionWorks && !this.#confirmed(cur, now))) {
        // Failed until it answers again, even though as a spare it would be judged more gently.
        cur.misses = Math.max(cur.misses, this.#t.missesToFail);
        const next = this.#best(now, cur);
        if (next === null) this.punch(now); // lost the path: look hard for another
        return this.#change(next, "failed", now);
      }
    }
    const best = this.#best(now, null);
    if (best === null || best === cur) return null;
    if (cur === null) return this.#change(best, "punched", now);
    if (lanRank(best) < lanRank(cur)) return this.#change(best, "lan", now);
    // The device would roam straight back to where the peer's packets come from.
    if (cur === this.#roamedTo && this.#sessionWorks) return null;
    if (
      lanRank(best) === lanRank(cur) && now - this.#chosenSince >= this.#t.holdMs &&
      best.rtt <= cur.rtt * this.#t.rttSwitchRatio
    ) return this.#change(best, "rtt", now);
    return null;
  }

  #change(to: Stat | null, reason: PathReason, now: number): PathChange {
    const from = this.#chosen?.endpoint ?? null;
    this.#chosen = to;
    this.#chosenSince = now;
    this.#roamedTo = null;
    this.#reason = reason;
    return { from, to: to?.endpoint ?? null, reason, at: now };
  }
}

function hasAnnounced(s: Stat): boolean {
  for (const k of s.kinds) if (ANNOUNCED_KINDS.has(k)) return true;
  return false;
}

/** The paths to every peer, by key: one call per timer tick for all of them. */
export class PathTable {
  readonly #timing: Partial<PathTiming>;
  readonly #peers = new Map<string, PeerPaths>();

  /** An empty table; `timing` is passed to every peer. */
  constructor(timing: Partial<PathTiming> = {}) {
    this.#timing = timing;
  }

  /** The peer's paths, made empty on first use. */
  peer(key: string): PeerPaths {
    let p = this.#peers.get(key);
    if (p === undefined) {
      p = new PeerPaths(this.#timing);
      this.#peers.set(key, p);
    }
    return p;
  }

  /** The peer's paths if it has any. */
  get(key: string): PeerPaths | undefined {
    return this.#peers.get(key);
  }

  /** Forgets a peer (it left the mesh). */
  remove(key: string): void {
    this.#peers.delete(key);
  }

  /** The peers' keys. */
  keys(): IterableIterator<string> {
    return this.#peers.keys();
  }

  /**
   * Records a pong from `key`; a pong from a peer with no paths changes nothing. `from`, when
   * given, says whether the pong came from the endpoint (candidate text) that was pinged.
   */
  pong(
    key: string,
    txid: string,
    now: number,
    from?: (endpoint: string) => boolean,
  ): PathChange | null {
    return this.#peers.get(key)?.pong(txid, now, from) ?? null;
  }

  /** Expires pings and lists what to ping, for every peer. */
  tick(now: number): {
    changes: { peer: string; change: PathChange }[];
    pings: { peer: string; endpoint: string }[];
  } {
    const changes: { peer: string; change: PathChange }[] = [];
    const pings: { peer: string; endpoint: string }[] = [];
    for (const [peer, p] of this.#peers) {
      const change = p.expire(now);
      if (change !== null) changes.push({ peer, change });
      for (const endpoint of p.due(now)) pings.push({ peer, endpoint });
    }
    return { changes, pings };
  }

  /** When the next tick is useful. */
  nextDue(now: number): number {
    let next = Infinity;
    for (const p of this.#peers.values()) next = Math.min(next, p.nextDue(now));
    return next;
  }
}
