/**
 * The simulated members' WireGuard handshakes with the leader, as a device's initiator runs
 * them: an initiation when a member joined or its session got old, resent after 5 s and a
 * third of a second's jitter while unanswered (with MAC2 once a cookie reply came), each answer
 * taken, and the local indexes that name a member's sessions kept while the leader may use them.
 * @module
 */

import { readU32 } from "../../../lib/protocol/bytes.ts";
import { DEFAULT_TIMERS, MSG_COOKIE_REPLY } from "../../../lib/protocol/constants.ts";
import type { Member } from "./member.ts";

const HANDSHAKE_RESEND_MS = DEFAULT_TIMERS.rekeyTimeout;
const RESEND_JITTER_MS = DEFAULT_TIMERS.rekeyJitter;

/** What the handshakes work with. */
export interface LeaderHandshakesDeps {
  /** Members by local index (what the leader's responses and transport data name). */
  byIndex: Map<number, Member>;
  /** A new local index (unique among every session of the simulator). */
  nextIndex(): number;
  /** Sends a datagram from `m` to the leader. */
  send(m: Member, data: Uint8Array): void;
  /** `m`'s first session came up (`m.state` is `up` now). */
  up(m: Member): void;
  /** `m` rekeyed: as a device, a keepalive at once, so the leader takes the new session. */
  rekeyed(m: Member): void;
  /** Counts a drop or event by kind. */
  count(kind: string): void;
  /** Monotonic ms (default `performance.now()`). */
  clock?(): number;
}

/** Handshakes in flight with the leader. See the module docs. */
export class LeaderHandshakes {
  readonly #d: LeaderHandshakesDeps;
  readonly #inFlight = new Set<Member>();

  constructor(deps: LeaderHandshakesDeps) {
    this.#d = deps;
  }

  #now(): number {
    return this.#d.clock?.() ?? performance.now();
  }

  /** Whether `m` has a handshake in flight. */
  has(m: Member): boolean {
    return this.#inFlight.has(m);
  }

  /** The members with a handshake in flight. */
  get inFlight(): ReadonlySet<Member> {
    return this.#inFlight;
  }

  /** Sends `m`'s initiation; `resend`: again, the one before unanswered (not a new attempt). */
  initiate(m: Member, resend = false): void {
    // A rekey leaves an up member up; only a member that just joined is handshaking.
    if (m.state === "joining") m.state = "handshaking";
    const index = this.#d.nextIndex();
    this.#d.byIndex.set(index, m);
    this.#inFlight.add(m);
    m.resendAt = this.#now() + HANDSHAKE_RESEND_MS + Math.random() * RESEND_JITTER_MS;
    // A resend keeps the initiations before it in flight (./tunnel.ts); those dropped (a new
    // attempt, or too many) are answered no more.
    const before = m.tunnel.pendingIndexes;
    this.#d.send(m, m.tunnel.initiation(index, resend));
    const kept = m.tunnel.pendingIndexes;
    for (const idx of before) if (!kept.includes(idx)) this.#d.byIndex.delete(idx);
  }

  /**
   * Resends each initiation unanswered past its time, at `t` (monotonic ms), once `heard` says
   * the member read what came until then (the answer did not come in time: ./read_through.ts);
   * drops members that left or were removed. Returns a member still joining whose handshake is older than
   * `timeoutMs` since its join (`now`: Unix ms), if any, for the caller to fail on.
   */
  resend(
    t: number,
    now: number,
    timeoutMs: number,
    heard: (m: Member) => number = () => t,
  ): Member | null {
    for (const m of this.#inFlight) {
      // A member that left or was removed rekeys no more.
      if (m.state !== "up" && m.state !== "handshaking") {
        this.#inFlight.delete(m);
        continue;
      }
      if (m.state === "handshaking" && now - m.joinedAt > timeoutMs) return m;
      if (t >= m.resendAt && heard(m) >= m.resendAt) this.initiate(m, true);
    }
    return null;
  }

  /**
   * A handshake response or a cookie reply (`type`) from the leader: to the member its receiver
   * index names. A cookie is kept for the next initiation; a response makes the session.
   */
  onAnswer(type: number, data: Uint8Array): void {
    const cookie = type === MSG_COOKIE_REPLY;
    const m = this.#d.byIndex.get(readU32(data, cookie ? 4 : 8));
    if (!m) return this.#d.count("handshake-unknown-index");
    if (cookie) {
      // Under load, as a device: the cookie is kept and the next initiation (resent after
      // 5 s), or the next response, carries MAC2. Not resent at once: a member that answered
      // every cookie reply with an initiation added to the handshakes of a leader under load.
      return this.#d.count(m.tunnel.cookie(data) ? "cookie-reply" : "cookie-unopened");
    }
    const old = m.tunnel.sessionIndex;
    const pending = m.tunnel.pendingIndexes;
    if (!m.tunnel.response(data)) return this.#d.count("response-unopened");
    this.#inFlight.delete(m);
    // The initiations before this one are answered no more (the newer ones are: the leader
    // keeps the last it answered); the index of the session before the previous one goes.
    const kept = m.tunnel.pendingIndexes;
    for (const idx of pending) {
      if (idx !== m.tunnel.sessionIndex && !kept.includes(idx)) this.#d.byIndex.delete(idx);
    }
    if (old && old !== m.tunnel.sessionIndex) this.forget(m, old);
    if (m.state === "handshaking") {
      m.state = "up";
      this.#d.up(m);
    } else this.#d.rekeyed(m);
  }

  /**
   * `m`'s session of local index `index` was replaced: it is kept (the leader sends on it until
   * our first packet on the new one), and the one before it is answered no more.
   */
  forget(m: Member, index: number): void {
    const prev = m.prevIndex;
    if (prev && this.#d.byIndex.get(prev) === m) this.#d.byIndex.delete(prev);
    m.prevIndex = index;
  }
}
