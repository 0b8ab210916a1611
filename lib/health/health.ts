/**
 * Per-peer health: the age of the last handshake and active probes through the tunnel decide
 * whether a peer is `up`, `degraded` or `down`. Thresholds have separate enter and exit levels,
 * and a move needs several evaluations in a row that agree, so a link on the edge does not flap.
 * Transitions go to subscribers, as callbacks or as an async iterator.
 * @module
 */

import type { HealthState } from "./state.ts";
import { Histogram, type HistogramSnapshot, PROBE_RTT_BUCKETS } from "./histogram.ts";

export type { HealthState } from "./state.ts";

/** Thresholds and timing of the health tracker; every field has a default. */
export interface HealthOptions {
  /** How often peers are probed, ms (default 5000). Also the idle evaluation period of `tick`. */
  probeIntervalMs?: number;
  /** Probes kept per peer for loss and RTT (default 10). */
  window?: number;
  /** Probes needed in the window before loss is judged (default 5). */
  minLossSamples?: number;
  /** Answered probes needed in the window before RTT is judged (default 3). */
  minRttSamples?: number;
  /** Loss above which a peer becomes degraded, 0..1 (default 0.2). */
  degradedLoss?: number;
  /** Loss at or below which a degraded peer may recover, 0..1 (default 0.1). */
  recoverLoss?: number;
  /** RTT (ms) above which a peer becomes degraded (default 250). */
  degradedRttMs?: number;
  /** RTT (ms) at or below which a degraded peer may recover (default 200). */
  recoverRttMs?: number;
  /** Which RTT figure the thresholds apply to (default `median`: one slow probe is no trend). */
  rttStatistic?: "median" | "mean";
  /** A peer with no handshake for this long is down, ms (default 180000; 0 turns it off). */
  handshakeTimeoutMs?: number;
  /** This many probes lost in a row make a peer down (default 3). */
  downAfterLost?: number;
  /** Evaluations in a row that must agree before a move, except into `down` (default 2). */
  confirmations?: number;
  /** Evaluations in a row that must agree before a move into `down` (default 1). */
  downConfirmations?: number;
  /** Wall clock, unix ms (default `Date.now`). */
  now?: () => number;
  /** Reads a peer's last handshake (unix ms, 0 = never); overrides `setHandshake` when given. */
  handshakeOf?: (peer: string) => number;
  /** Histogram bounds for probe RTTs, seconds (default `PROBE_RTT_BUCKETS`). */
  rttBuckets?: readonly number[];
  /** Events an async iterator holds for a slow reader before dropping the oldest (default 1000). */
  maxQueued?: number;
  /**
   * Told about every exception a subscriber throws (the tracker and the other subscribers go
   * on); `first` is true for the first one of that subscriber. Default: none (counted only).
   */
  onListenerError?: (err: unknown, first: boolean) => void;
  /**
   * Whether this node is behind reading its own socket (lib/device/lag.ts): a probe lost or a
   * message missed meanwhile is no evidence against the peer (its answer may wait in our own
   * queue), so it is not taken. Default: never.
   */
  lagging?: () => boolean;
}

/** A health transition of one peer. */
export interface HealthEvent {
  /** The peer's key (whatever the caller named it by: the base64 public key in weft). */
  peer: string;
  /** State before. */
  from: HealthState;
  /** State after. */
  to: HealthState;
  /** Unix ms of the transition. */
  at: number;
  /** Why, in words (`3 probes lost in a row`, `loss 30% > 20%`). */
  reason: string;
  /** Mean probe RTT over the window, ms; null without answered probes. */
  rttMs: number | null;
  /** Probe loss over the window, 0..1; null without probes. */
  loss: number | null;
}

/** One peer's health at one moment. */
export interface PeerHealth {
  /** The peer's key. */
  peer: string;
  /** Current state. */
  state: HealthState;
  /** Unix ms the peer entered this state (or was added). */
  since: number;
  /** Why the peer is in this state. */
  reason: string;
  /** Probe RTTs in ms over the window: the last answered, the mean and the median. */
  rttMs: { last: number | null; avg: number | null; median: number | null };
  /** Probe loss over the window, 0..1; null without probes. */
  loss: number | null;
  /** Probes in the window. */
  samples: number;
  /** Probes lost in a row, now. */
  lostInARow: number;
  /** Probes sent and lost since the peer was added. */
  probesSent: number;
  /** Probes lost since the peer was added. */
  probesLost: number;
  /** Last handshake, unix ms; 0 when none. */
  lastHandshakeMs: number;
  /** Answered probe RTTs since the peer was added, in seconds. */
  rttHistogram: HistogramSnapshot;
}

/**
 * The health of a peer this node does not follow (sessions on demand: no traffic with it, so no
 * session, keepalive or probe): `idle`, with no figures.
 */
export function idleHealth(peer: string, lastHandshakeMs: number = 0): PeerHealth {
  return {
    peer,
    state: "idle",
    since: 0,
    reason: "no traffic: no session kept",
    rttMs: { last: null, avg: null, median: null },
    loss: null,
    samples: 0,
    lostInARow: 0,
    probesSent: 0,
    probesLost: 0,
    lastHandshakeMs,
    rttHistogram: { buckets: [], counts: [], sum: 0, count: 0 },
  };
}

/** A transition listener. */
export type HealthListener = (e: HealthEvent) => void;

interface Entry {
  peer: string;
  state: HealthState;
  since: number;
  reason: string;
  addedAt: number;
  lastHandshake: number;
  // RTT in ms, NaN for a peer heard from (no RTT), or null for a lost probe; oldest first.
  samples: (number | null)[];
  lastRtt: number | null;
  lostRun: number;
  // Its samples are messages heard or missed (recordHeard), not probes: said so in reasons.
  passive: boolean;
  sent: number;
  lost: number;
  pending: HealthState | null;
  pendingCount: number;
  lastEval: number;
  lastProbe: number;
  histogram: Histogram;
}

interface Judgement {
  state: HealthState;
  reason: string;
}

type Resolved = Required<Omit<HealthOptions, "handshakeOf" | "onListenerError" | "lagging">>;

function resolve(o: HealthOptions): Resolved {
  const r: Resolved = {
    probeIntervalMs: o.probeIntervalMs ?? 5000,
    window: o.window ?? 10,
    minLossSamples: o.minLossSamples ?? 5,
    minRttSamples: o.minRttSamples ?? 3,
    degradedLoss: o.degradedLoss ?? 0.2,
    recoverLoss: o.recoverLoss ?? 0.1,
    degradedRttMs: o.degradedRttMs ?? 250,
    recoverRttMs: o.recoverRttMs ?? 200,
    rttStatistic: o.rttStatistic ?? "median",
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? 180_000,
    downAfterLost: o.downAfterLost ?? 3,
    confirmations: o.confirmations ?? 2,
    downConfirmations: o.downConfirmations ?? 1,
    now: o.now ?? Date.now,
    rttBuckets: o.rttBuckets ?? PROBE_RTT_BUCKETS,
    maxQueued: o.maxQueued ?? 1000,
  };
  if (!(r.probeIntervalMs > 0)) throw new Error("probeIntervalMs must be positive");
  if (!Number.isInteger(r.window) || r.window < 1) throw new Error("window must be >= 1");
  if (!(r.recoverLoss <= r.degradedLoss)) throw new Error("recoverLoss must be <= degradedLoss");
  if (!(r.recoverRttMs <= r.degradedRttMs)) {
    throw new Error("recoverRttMs must be <= degradedRttMs");
  }
  if (!(r.downAfterLost >= 1)) throw new Error("downAfterLost must be >= 1");
  if (!(r.confirmations >= 1 && r.downConfirmations >= 1)) {
    throw new Error("confirmations must be >= 1");
  }
  return r;
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10}%`;
}

function ms(x: number): string {
  return `${Math.round(x * 10) / 10} ms`;
}

/** Whether a reported RTT is a measurement (finite, not negative). */
function validRtt(rttMs: number | null): rttMs is number {
  return rttMs !== null && Number.isFinite(rttMs) && rttMs >= 0;
}

function median(sorted: number[]): number {
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

/** Tracks the health of every peer. See the module docs. */
export class HealthTracker implements AsyncIterable<HealthEvent> {
  readonly #o: Resolved;
  readonly #handshakeOf: ((peer: string) => number) | undefined;
  readonly #peers = new Map<string, Entry>();
  readonly #listeners = new Set<HealthListener>();
  readonly #closers = new Set<() => void>();
  readonly #onListenerError: ((err: unknown, first: boolean) => void) | undefined;
  readonly #lagging: (() => boolean) | undefined;
  readonly #failedListeners = new WeakSet<HealthListener>();
  // Told of each peer that starts being tracked (however it came: addPeer, a sample).
  readonly #addWatchers = new Set<(peer: string) => void>();
  // Told of each peer that stops being tracked (removePeer).
  readonly #removeWatchers = new Set<(peer: string) => void>();
  #listenerErrors = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Makes a tracker; see `HealthOptions` for the defaults. */
  constructor(opts: HealthOptions = {}) {
    this.#o = resolve(opts);
    this.#handshakeOf = opts.handshakeOf;
    this.#onListenerError = opts.onListenerError;
    this.#lagging = opts.lagging;
  }

  /** Losses not taken because this node was behind (`lagging`). */
  lossesHeld = 0;

  /** The thresholds in force. */
  get options(): Readonly<
    Required<Omit<HealthOptions, "handshakeOf" | "onListenerError" | "lagging">>
  > {
    return this.#o;
  }

  /** Exceptions thrown by subscribers so far. */
  get listenerErrors(): number {
    return this.#listenerErrors;
  }

  /** Whether a peer is tracked. */
  has(peer: string): boolean {
    return this.#peers.has(peer);
  }

  /**
   * Calls `fn` with each peer that starts being tracked (by `addPeer` or a sample of a peer not
   * tracked yet); returns the unsubscribe function.
   * @ignore internal: the agent keeps its health in step with its peers by it
   */
  onAdded(fn: (peer: string) => void): () => void {
    this.#addWatchers.add(fn);
    return () => this.#addWatchers.delete(fn);
  }

  /**
   * Calls `fn` with each peer that stops being tracked (`removePeer` of a tracked peer); returns
   * the unsubscribe function.
   * @ignore internal: the agent keeps its health in step with its peers by it
   */
  onRemoved(fn: (peer: string) => void): () => void {
    this.#removeWatchers.add(fn);
    return () => this.#removeWatchers.delete(fn);
  }

  /** Starts tracking a peer (state `unknown`); a no-op when it is tracked already. */
  addPeer(peer: string, lastHandshakeMs: number = 0): void {
    if (this.#peers.has(peer)) return;
    for (const fn of this.#addWatchers) fn(peer);
    const now = this.#o.now();
    this.#peers.set(peer, {
      peer,
      state: "unknown",
      since: now,
      reason: "not checked yet",
      addedAt: now,
      lastHandshake: lastHandshakeMs,
      samples: [],
      lastRtt: null,
      lostRun: 0,
      passive: false,
      sent: 0,
      lost: 0,
      pending: null,
      pendingCount: 0,
      lastEval: -Infinity,
      lastProbe: -Infinity,
      histogram: new Histogram(this.#o.rttBuckets),
    });
  }

  /**
   * Stops tracking a peer, dropping its figures; a later `addPeer` or sample tracks it afresh.
   * An agent's tracker follows the device's peers (`Agent.health`): one it still has is taken up
   * again at its next sync.
   */
  removePeer(peer: string): void {
    if (!this.#peers.delete(peer)) return;
    for (const fn of this.#removeWatchers) fn(peer);
  }

  /** The tracked peers' keys. */
  peers(): string[] {
    return [...this.#peers.keys()];
  }

  /** Records a completed handshake (unix ms). Tracks the peer if it is new. */
  setHandshake(peer: string, unixMs: number): void {
    this.addPeer(peer);
    const e = this.#peers.get(peer)!;
    if (unixMs > e.lastHandshake) e.lastHandshake = unixMs;
  }

  /**
   * Records a probe result (RTT in ms, null when lost, NaN when answered but not timed: it
   * waited for the session's setup) and re-evaluates the peer; a loss while this node is behind
   * (`lagging`) is not taken.
   */
  recordProbe(peer: string, rttMs: number | null): void {
    if (rttMs === null && this.#held()) return;
    this.#take(peer, validRtt(rttMs) ? rttMs : Number.isNaN(rttMs) ? NaN : null);
  }

  /**
   * Records that the peer was heard from on its own schedule (a leader hearing a member's hello),
   * with the RTT the peer measured itself if it said one: it stands for an answered probe, so
   * loss, lost-in-a-row and RTT are judged from the messages a peer sends anyway, with no probe
   * sent to it. Tracks the peer if it is new.
   */
  recordHeard(peer: string, rttMs: number | null = null): void {
    this.addPeer(peer);
    this.#peers.get(peer)!.passive = true;
    this.#take(peer, validRtt(rttMs) ? rttMs : NaN);
  }

  // Takes one sample into the peer's window (an RTT; NaN: answered, no RTT; null: lost) and
  // re-evaluates the peer.
  #take(peer: string, sample: number | null): void {
    this.addPeer(peer);
    const e = this.#peers.get(peer)!;
    e.samples.push(sample);
    if (e.samples.length > this.#o.window) e.samples.shift();
    e.sent++;
    e.lastProbe = this.#o.now();
    if (sample === null) {
      e.lost++;
      e.lostRun++;
    } else {
      e.lostRun = 0;
      if (!Number.isNaN(sample)) {
        e.lastRtt = sample;
        e.histogram.observe(sample / 1000);
      }
    }
    this.#evaluate(e, this.#o.now());
  }

  /**
   * Records that the peer was not heard from when it should have been: a lost sample (not taken
   * while this node is behind: `lagging`).
   */
  recordMissed(peer: string): void {
    if (this.#held()) return;
    this.addPeer(peer);
    this.#peers.get(peer)!.passive = true;
    this.#take(peer, null);
  }

  /**
   * Evaluates the peers whose probes have stopped coming (none for 1.5 intervals), at most once
   * per interval each: that catches stale handshakes without probes, while a peer that is being
   * probed gets its votes from new evidence only, never from a tick re-reading the same probes.
   */
  tick(): void {
    const now = this.#o.now();
    const interval = this.#o.probeIntervalMs;
    for (const e of this.#peers.values()) {
      if (now - e.lastProbe > 1.5 * interval && now - e.lastEval >= interval) {
        this.#evaluate(e, now);
      }
    }
  }

  /** Calls `tick` every `everyMs` (default 1000) until `stop`. */
  start(everyMs: number = 1000): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.tick(), everyMs);
  }

  /** Stops the `start` timer. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One peer's health, undefined when not tracked. */
  get(peer: string): PeerHealth | undefined {
    const e = this.#peers.get(peer);
    return e && this.#view(e);
  }

  /** Every tracked peer's health. */
  snapshot(): PeerHealth[] {
    return [...this.#peers.values()].map((e) => this.#view(e));
  }

  /** Subscribes to transitions; returns the unsubscribe function. */
  subscribe(fn: HealthListener): () => void {
    this.#listeners.add(fn);
    return () => {
      this.#listeners.delete(fn);
    };
  }

  /**
   * Transitions as an async iterator, from now on. Ends on `close()`, on `signal`, or when the
   * loop breaks. A reader that falls more than `maxQueued` behind loses the oldest events.
   */
  events(signal?: AbortSignal): AsyncIterableIterator<HealthEvent> {
    const queue: HealthEvent[] = [];
    let wake: ((r: IteratorResult<HealthEvent>) => void) | null = null;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      unsubscribe();
      this.#closers.delete(finish);
      signal?.removeEventListener("abort", finish);
      if (wake) {
        wake({ value: undefined, done: true });
        wake = null;
      }
    };
    const unsubscribe = this.subscribe((ev) => {
      if (wake) {
        wake({ value: ev, done: false });
        wake = null;
        return;
      }
      queue.push(ev);
      if (queue.length > this.#o.maxQueued) queue.shift();
    });
    this.#closers.add(finish);
    if (signal?.aborted) finish();
    else signal?.addEventListener("abort", finish, { once: true });
    const it: AsyncIterableIterator<HealthEvent> = {
      next(): Promise<IteratorResult<HealthEvent>> {
        if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((r) => (wake = r));
      },
      return(): Promise<IteratorResult<HealthEvent>> {
        finish();
        queue.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  /** A fresh iterator over transitions (`for await (const e of tracker)`). */
  [Symbol.asyncIterator](): AsyncIterableIterator<HealthEvent> {
    return this.events();
  }

  /** Stops the timer and ends every async iterator; callback subscribers stay. */
  close(): void {
    this.stop();
    for (const f of [...this.#closers]) f();
  }

  // A loss seen while this node is behind is not taken (counted in lossesHeld).
  #held(): boolean {
    if (this.#lagging === undefined || !this.#lagging()) return false;
    this.lossesHeld++;
    return true;
  }

  #handshake(e: Entry): number {
    return this.#handshakeOf ? this.#handshakeOf(e.peer) : e.lastHandshake;
  }

  // Loss and RTT over the samples that count: after an outage only the probes since the last
  // loss, so the outage that made the peer down does not also keep it degraded afterwards.
  #figures(samples: (number | null)[]): {
    loss: number | null;
    avg: number | null;
    median: number | null;
    answered: number;
    timed: number;
  } {
    if (samples.length === 0) {
      return { loss: null, avg: null, median: null, answered: 0, timed: 0 };
    }
    const rtts: number[] = [];
    let answered = 0;
    for (const s of samples) {
      if (s === null) continue;
      answered++;
      if (!Number.isNaN(s)) rtts.push(s);
    }
    const loss = (samples.length - answered) / samples.length;
    if (rtts.length === 0) return { loss, avg: null, median: null, answered, timed: 0 };
    rtts.sort((a, b) => a - b);
    const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
    return { loss, avg, median: median(rtts), answered, timed: rtts.length };
  }

  #judge(e: Entry, now: number): Judgement {
    const o = this.#o;
    const hs = this.#handshake(e);
    if (o.handshakeTimeoutMs > 0) {
      const age = now - (hs > 0 ? hs : e.addedAt);
      if (age > o.handshakeTimeoutMs) {
        const s = Math.round(age / 1000);
        return {
          state: "down",
          reason: hs > 0 ? `no handshake for ${s} s` : `no handshake in ${s} s`,
        };
      }
    }
    if (e.lostRun >= o.downAfterLost) {
      return {
        state: "down",
        reason: e.passive
          ? `not heard from in ${e.lostRun} intervals in a row`
          : `${e.lostRun} probes lost in a row`,
      };
    }
    let samples = e.samples;
    if (e.state === "down" && samples.length > 0) {
      // Recovery needs the newest probe answered; only the probes since the last loss count.
      if (samples[samples.length - 1] === null) {
        return {
          state: "down",
          reason: e.passive
            ? `not heard from (${e.lostRun} in a row)`
            : `probe lost (${e.lostRun} in a row)`,
        };
      }
      samples = samples.slice(samples.lastIndexOf(null) + 1);
    }
    const f = this.#figures(samples);
    if (f.answered === 0 && hs === 0) return { state: "unknown", reason: "no handshake yet" };
    const wasDegraded = e.state === "degraded";
    const lossLimit = wasDegraded ? o.recoverLoss : o.degradedLoss;
    const rttLimit = wasDegraded ? o.recoverRttMs : o.degradedRttMs;
    const rtt = o.rttStatistic === "median" ? f.median : f.avg;
    const why: string[] = [];
    if (f.loss !== null && samples.length >= o.minLossSamples && f.loss > lossLimit) {
      why.push(`loss ${pct(f.loss)} > ${pct(lossLimit)}`);
    }
    if (rtt !== null && f.timed >= o.minRttSamples && rtt > rttLimit) {
      why.push(`${o.rttStatistic} rtt ${ms(rtt)} > ${ms(rttLimit)}`);
    }
    if (why.length > 0) return { state: "degraded", reason: why.join(", ") };
    if (f.answered > 0) {
      // The statistic is named: /metrics's RTT gauge is the mean of every sample.
      const figures = `${rtt === null ? "" : `${o.rttStatistic} rtt ${ms(rtt)}, `}loss ${
        pct(f.loss ?? 0)
      }`;
      return {
        state: "up",
        reason: e.passive ? `heard from (${figures})` : `probes answered (${figures})`,
      };
    }
    return { state: "up", reason: `handshake ${Math.round((now - hs) / 1000)} s ago` };
  }

  #evaluate(e: Entry, now: number): void {
    e.lastEval = now;
    const j = this.#judge(e, now);
    // Once known, a peer never goes back to unknown: that would say less than we know.
    if (j.state === e.state || j.state === "unknown") {
      if (j.state === e.state) e.reason = j.reason;
      e.pending = null;
      e.pendingCount = 0;
      return;
    }
    if (e.pending === j.state) e.pendingCount++;
    else {
      e.pending = j.state;
      e.pendingCount = 1;
    }
    const need = j.state === "down" ? this.#o.downConfirmations : this.#o.confirmations;
    // The first verdict is taken at once: there is nothing yet to flap from.
    if (e.state !== "unknown" && e.pendingCount < need) return;
    const from = e.state;
    if (from === "down") {
      const lastLoss = e.samples.lastIndexOf(null);
      if (lastLoss >= 0) e.samples.splice(0, lastLoss + 1);
    }
    e.state = j.state;
    e.since = now;
    e.reason = j.reason;
    e.pending = null;
    e.pendingCount = 0;
    const f = this.#figures(e.samples);
    this.#emit({
      peer: e.peer,
      from,
      to: j.state,
      at: now,
      reason: j.reason,
      rttMs: f.avg,
      loss: f.loss,
    });
  }

  #emit(ev: HealthEvent): void {
    for (const fn of [...this.#listeners]) {
      try {
        fn(ev);
      } catch (err) {
        // A broken subscriber must not stop the others or the tracker, nor fail unseen.
        this.#listenerErrors++;
        const first = !this.#failedListeners.has(fn);
        if (first) this.#failedListeners.add(fn);
        try {
          this.#onListenerError?.(err, first);
        } catch { /* the report of a failure must not become one */ }
      }
    }
  }

  #view(e: Entry): PeerHealth {
    const f = this.#figures(e.samples);
    return {
      peer: e.peer,
      state: e.state,
      since: e.since,
      reason: e.reason,
      rttMs: { last: e.lastRtt, avg: f.avg, median: f.median },
      loss: f.loss,
      samples: e.samples.length,
      lostInARow: e.lostRun,
      probesSent: e.sent,
      probesLost: e.lost,
      lastHandshakeMs: this.#handshake(e),
      rttHistogram: e.histogram.snapshot(),
    };
  }
}
