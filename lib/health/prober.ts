/**
 * Schedules active probes: every peer is probed about once per interval, with jitter so peers
 * (and nodes) do not probe in lockstep, and never twice at once: the next probe of a peer is
 * only scheduled once the previous one has settled.
 * @module
 */

import type { MonotonicClock } from "../io/clock.ts";

/** Timers the prober uses; injectable so tests run hours of probing in milliseconds. */
export interface ProberClock extends MonotonicClock {
  /** Calls `fn` after `ms`; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a `setTimeout`. */
  clearTimeout(handle: unknown): void;
}

/** The real timers. */
export const systemProberClock: ProberClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as number),
};

/** What the prober is made with. */
export interface ProberOptions {
  /**
   * Sends one probe to an overlay address; resolves to the RTT in ms, null when lost, or NaN
   * when answered but not timed (the answer was read only after a stall of this process).
   */
  probe: (address: string) => Promise<number | null>;
  /**
   * Receives every result (the health tracker's `recordProbe`): the RTT in ms, null when lost,
   * NaN when answered but not timed (the peer's session was set up while the probe waited).
   */
  onResult: (peer: string, rttMs: number | null) => void;
  /**
   * The peer's session and path as one value (its handshakes so far and its endpoint), compared
   * with `!==`. A probe during which it changed was answered only once a session was made or a
   * path (a relay's, say) chosen: its time is the setup's (hundreds of ms) rather than the
   * path's, so it counts as answered with no RTT.
   */
  generation?: (peer: string) => unknown;
  /** Mean gap between the starts of two probes of one peer, ms (default 5000). */
  intervalMs?: number;
  /** Each gap is `intervalMs × (1 ± jitter)`, 0..1 (default 0.1). */
  jitter?: number;
  /** A probe that rejects counts as lost; this hears why. */
  onError?: (peer: string, error: unknown) => void;
  /** Uniform random in [0, 1) (default `Math.random`). */
  random?: () => number;
  /** Timers (default the real ones). */
  clock?: ProberClock;
}

/**
 * A probe's result given the peer's generation (its session and path) when the probe was sent and
 * when it settled: an answer across a change is NaN (answered, not timed), since the probe then
 * waited for a handshake or a new path and timed that setup, not the path.
 */
export function acrossGenerations(
  rttMs: number | null,
  before: unknown,
  after: unknown,
): number | null {
  return rttMs !== null && before !== after ? NaN : rttMs;
}

/**
 * A peer's generation for {@link acrossGenerations}: its handshakes so far and its endpoint (a
 * new session, a relay's route chosen, a roam); "" for no peer.
 */
export function sessionAndPath(
  peer: { counters: { handshakes: number }; endpoint: unknown } | undefined,
): string {
  return peer ? `${peer.counters.handshakes} ${peer.endpoint}` : "";
}

/**
 * A probe's RTT given its timeout: over it, the answer was read only after the deadline, which
 * its timer would have called lost had it run; so the process was stalled (starved or blocked)
 * and the time is the stall's, not the path's: NaN (answered, not timed).
 */
export function withinTimeout(rttMs: number | null, timeoutMs: number): number | null {
  return rttMs !== null && rttMs > timeoutMs ? NaN : rttMs;
}

/** A probe's RTT as reported: NaN (answered, untimed) kept, anything not a measurement lost. */
function sample(rtt: unknown): number | null {
  if (typeof rtt !== "number") return null;
  return Number.isNaN(rtt) || (Number.isFinite(rtt) && rtt >= 0) ? rtt : null;
}

interface Target {
  peer: string;
  address: string;
  timer: unknown;
  hasTimer: boolean;
  inFlight: Promise<void> | null;
  removed: boolean;
}

/** Probes every added peer about once per interval. See the module docs. */
export class HealthProber {
  readonly #probe: (address: string) => Promise<number | null>;
  readonly #onResult: (peer: string, rttMs: number | null) => void;
  readonly #onError: ((peer: string, error: unknown) => void) | undefined;
  readonly #generation: ((peer: string) => unknown) | undefined;
  readonly #interval: number;
  readonly #jitter: number;
  readonly #random: () => number;
  readonly #clock: ProberClock;
  readonly #targets = new Map<string, Target>();
  #running = false;

  /** Makes a stopped prober. */
  constructor(opts: ProberOptions) {
    this.#probe = opts.probe;
    this.#onResult = opts.onResult;
    this.#onError = opts.onError;
    this.#generation = opts.generation;
    this.#interval = opts.intervalMs ?? 5000;
    this.#jitter = opts.jitter ?? 0.1;
    this.#random = opts.random ?? Math.random;
    this.#clock = opts.clock ?? systemProberClock;
    if (!(this.#interval > 0)) throw new Error("intervalMs must be positive");
    if (!(this.#jitter >= 0 && this.#jitter <= 1)) throw new Error("jitter must be in 0..1");
  }

  /** True between `start` and `stop`. */
  get running(): boolean {
    return this.#running;
  }

  /** Probes `peer` at `address` from now on; for a known peer, changes its address. */
  add(peer: string, address: string): void {
    const known = this.#targets.get(peer);
    if (known) {
      known.address = address;
      return;
    }
    const t: Target = {
      peer,
      address,
      timer: undefined,
      hasTimer: false,
      inFlight: null,
      removed: false,
    };
    this.#targets.set(peer, t);
    if (this.#running) this.#first(t);
  }

  /** Stops probing `peer`; a probe in flight finishes but its result is dropped. */
  remove(peer: string): void {
    const t = this.#targets.get(peer);
    if (!t) return;
    t.removed = true;
    this.#cancel(t);
    this.#targets.delete(peer);
  }

  /** The probed peers' keys. */
  peers(): string[] {
    return [...this.#targets.keys()];
  }

  /** True while a probe of `peer` is in flight. */
  probing(peer: string): boolean {
    return (this.#targets.get(peer)?.inFlight ?? null) !== null;
  }

  /** Starts probing every added peer, each at a random point of its first interval. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const t of this.#targets.values()) if (!t.inFlight) this.#first(t);
  }

  /** Stops scheduling; resolves once the probes in flight settled (their results are dropped). */
  async stop(): Promise<void> {
    this.#running = false;
    const flying: Promise<void>[] = [];
    for (const t of this.#targets.values()) {
      this.#cancel(t);
      if (t.inFlight) flying.push(t.inFlight);
    }
    await Promise.allSettled(flying);
  }

  #first(t: Target): void {
    // Spread the first probes over one interval so a node with many peers does not burst.
    this.#schedule(t, this.#random() * this.#interval);
  }

  #gap(): number {
    return this.#interval * (1 + this.#jitter * (2 * this.#random() - 1));
  }

  #schedule(t: Target, delay: number): void {
    this.#cancel(t);
    t.hasTimer = true;
    t.timer = this.#clock.setTimeout(() => {
      t.hasTimer = false;
      this.#fire(t);
    }, Math.max(0, delay));
  }

  #cancel(t: Target): void {
    if (t.hasTimer) this.#clock.clearTimeout(t.timer);
    t.hasTimer = false;
  }

  #fire(t: Target): void {
    if (!this.#running || t.removed || t.inFlight) return;
    const started = this.#clock.now();
    const gap = this.#gap();
    const generation = this.#generation?.(t.peer);
    const run = new Promise<number | null>((resolve) => resolve(this.#probe(t.address)))
      .then(
        sample,
        (err) => {
          this.#onError?.(t.peer, err);
          return null;
        },
      );
    t.inFlight = run.then((answered) => {
      t.inFlight = null;
      if (!this.#running || t.removed) return;
      const now = generation === undefined ? undefined : this.#generation!(t.peer);
      const changed = generation !== now;
      const rtt = acrossGenerations(answered, generation, now);
      try {
        this.#onResult(t.peer, rtt);
      } catch (e) {
        this.#onError?.(t.peer, e);
      }
      // The gap counts from the probe's start; a probe slower than that is followed at once.
      // Not one that spanned a new session or path: the packets that waited for it (a ping's
      // backlog) go out as it comes up, and a probe sent at once would wait behind them (121 ms
      // against a path of 1-20 ms, a relayed pair at load 20). The next waits a whole gap.
      this.#schedule(t, changed ? gap : gap - (this.#clock.now() - started));
    });
  }
}
