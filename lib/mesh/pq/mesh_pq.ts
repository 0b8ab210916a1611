/**
 * Post-quantum preshared keys between this member and every other (issue 50): a {@link PqPair}
 * per member, its exchange carried on {@link PQ_PORT} of the overlay addresses through the
 * pair's own tunnel, the keys it makes installed into the device as the peer's preshared keys
 * (so `wg show`/`wg showconf` show the one in use), rotated every `pqRotateMs` while the pair
 * has a session. Only members take part: plain WireGuard peers are not in the view.
 *
 * A message counts only from a member's overlay address that the device routes to that
 * member's peer (cryptokey routing: the tunnel authenticated it as that member's WireGuard
 * key); anything else is a counted drop, as are malformed messages and more than a few a second
 * from one member. A pair whose handshakes stop working with the keys held (the other side
 * restarted and lost them, or said bye) goes back to no preshared key, and rotates again once
 * a session is made.
 * @module
 */

import type { UdpSocket, UserspaceStack } from "../../../drivers/userspace.ts";
import type { Device } from "../../device/device.ts";
import type { Peer } from "../../peer/peer.ts";
import type { Logger } from "../../log/logger.ts";
import type { AgentConfig } from "../../config/agent_types.ts";
import type { Member, MembershipView, ViewChange } from "../../members/member.ts";
import { CONTROL_PORT } from "../../members/ports.ts";
import { ReasonCounter } from "../../metrics/reasons.ts";
import { parseAddress } from "../../net/ip.ts";
import { RateLimiter } from "../../protocol/ratelimiter.ts";
import { parseKey } from "../../crypto/keys.ts";
import type { PqPeerStatus } from "../../status/status.ts";
import { type KeySlot, PQ_FAILURE_REASONS, type PqFailure, PqPair } from "./pair.ts";
import { encodePq, parsePq } from "./wire.ts";
import { SharedKemKeys } from "./shared_keys.ts";
import { PQ_PORT } from "../../members/ports.ts";

/** The post-quantum section of a mesh agent's options. */
export interface PqOptions {
  /** Post-quantum preshared keys with the other members (default true; `--no-pq`). */
  pq?: boolean;
  /** Carry no data with a member before a post-quantum session (`--require-pq`). */
  requirePq?: boolean;
  /** Milliseconds between rotations (default {@link DEFAULT_PQ_ROTATE_MS}; `--pq-rotate`). */
  pqRotateMs?: number;
}

/** The post-quantum section of a parsed configuration. */
export function pqFromConfig(
  config: Pick<AgentConfig, "pq" | "requirePq" | "pqRotate">,
): PqOptions {
  return { pq: config.pq, requirePq: config.requirePq, pqRotateMs: config.pqRotate };
}

/**
 * The default rotation interval: under WireGuard's REKEY_AFTER_TIME (120 s), so each pair has a
 * new key before its session would be rekeyed anyway.
 */
export const DEFAULT_PQ_ROTATE_MS = 110_000;

/** The ports that pass while data waits for a post-quantum session: the exchange, the control channel. */
export const PQ_EXEMPT_PORTS: readonly number[] = [PQ_PORT, CONTROL_PORT];

/**
 * Signs that the other side no longer holds the pair's keys, without a handshake completing in
 * between (responses of its that did not authenticate, and ticks in which initiations of its
 * came in), after which the pair goes back to none. A side that does not answer at all (gone,
 * or cut off) gives no sign: its keys stay for when it is back.
 */
export const FAILED_HANDSHAKES_RESET = 2;

/** How long after a key is made a session without one is still no sign of lost keys, ms. */
export const LOST_KEY_GRACE_MS = 2000;

/** The post-quantum figures of `/metrics`. */
export interface PqMetrics {
  /** Rotations completed, both roles. */
  rotations: number;
  /** Failures and refused messages, by reason. */
  failures: Record<PqFailure, number>;
  /** Members with a session made with a post-quantum key, and with one made without. */
  peers: { pq: number; classical: number };
}

/** What the part works with. */
export interface MeshPqDeps {
  /** The device: the peers' keys, sessions and handshakes. */
  device: Device;
  /** The control stack (overlay addresses). */
  stack: UserspaceStack;
  /** Where failures are logged (rate-limited: once per member and reason a minute). */
  logger: Logger;
  /** Monotonic ms (tests). */
  now?: () => number;
  /** Ms between ticks; 0: none (tests call `tick`). Default 1000. */
  tickMs?: number;
}

interface Entry {
  key: string;
  pair: PqPair;
  address: string;
  address6: string | undefined;
  /** The device's peer the keys were installed into (re-installed when it is another). */
  peer: Peer | undefined;
  slots: { cur: KeySlot; alt: KeySlot | null };
  /** Handshakes completed, responses rejected, and failed attempts since the last handshake. */
  handshakes: number;
  rejected: number;
  consumedAt: number;
  attempts: number;
}

/** The post-quantum part. See the module docs. */
export class MeshPq {
  readonly #d: MeshPqDeps;
  readonly #o: Required<PqOptions>;
  readonly #pairs = new Map<string, Entry>();
  readonly #byAddress = new Map<string, Entry>();
  readonly #failures = new ReasonCounter<PqFailure>(PQ_FAILURE_REASONS);
  readonly #limit = new RateLimiter({ perSecond: 4, burst: 8, maxEntries: 65_536 });
  readonly #logged = new Map<string, number>();
  readonly #me: Uint8Array;
  #socket: UdpSocket | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #rotations = 0;
  // The key pairs of this member's offers: one serves the offers started within a second (a
  // leader starts one for half its joiners: shared_keys.ts).
  readonly #kem: SharedKemKeys;

  /** A part for `options` (pq off: it only shows the pairs classical). */
  constructor(deps: MeshPqDeps, options: PqOptions) {
    this.#d = deps;
    this.#o = {
      pq: options.pq !== false,
      requirePq: options.requirePq === true,
      pqRotateMs: options.pqRotateMs ?? DEFAULT_PQ_ROTATE_MS,
    };
    if (this.#o.requirePq && !this.#o.pq) {
      throw new Error("require-pq needs pq: post-quantum keys are off (--no-pq)");
    }
    this.#me = parseKey(deps.device.publicKey, "own key");
    this.#kem = new SharedKemKeys({ now: () => this.#now() });
  }

  /** Whether the exchange runs. */
  get enabled(): boolean {
    return this.#o.pq;
  }

  /** Listens for the exchange and starts the ticks, with the members of `view`. */
  start(view: MembershipView): void {
    this.viewChanged(view);
    if (!this.#o.pq) return;
    this.#socket = this.#d.stack.listen(PQ_PORT, (data, from) => this.receive(data, from.address));
    const ms = this.#d.tickMs ?? 1000;
    if (ms > 0) this.#timer = setInterval(() => this.tick(), ms);
  }

  /**
   * The members now: a pair for each new one, gone with the ones that left. With `change` (how
   * the view differs from the last one taken), only the members it names.
   */
  viewChanged(view: MembershipView, change: ViewChange | null = null): void {
    const me = this.#d.device.publicKey;
    if (change) {
      for (const key of change.remove) this.#drop(key);
      for (const m of change.upsert) if (m.publicKey !== me) this.#take(m);
      return;
    }
    const keep = new Set<string>();
    this.#byAddress.clear();
    for (const m of view.members) {
      if (m.publicKey === me) continue;
      keep.add(m.publicKey);
      this.#take(m);
    }
    for (const key of this.#pairs.keys()) if (!keep.has(key)) this.#drop(key);
  }

  /** Member `m`'s pair, made when new, at its addresses now. */
  #take(m: Member): void {
    let e = this.#pairs.get(m.publicKey);
    if (!e) {
      let peerKey: Uint8Array;
      try {
        peerKey = parseKey(m.publicKey, "member key");
      } catch {
        return;
      }
      const now = this.#now();
      const entry: Entry = {
        key: m.publicKey,
        address: m.address,
        address6: m.address6,
        peer: undefined,
        slots: { cur: { key: new Uint8Array(32), rotation: 0, at: now }, alt: null },
        handshakes: 0,
        rejected: 0,
        consumedAt: -Infinity,
        attempts: 0,
        pair: null as unknown as PqPair,
      };
      entry.pair = new PqPair({
        me: this.#me,
        peer: peerKey,
        rotateMs: this.#o.pqRotateMs,
        send: (msg) => this.#send(entry, encodePq(msg)),
        kemKeys: () => this.#kem.take(),
        install: (cur, alt) => {
          entry.slots = { cur, alt };
          this.#install(entry);
        },
        rehandshake: () => {
          if (this.#d.device.peer(entry.key)) this.#d.device.initiateHandshakeNow(entry.key);
        },
      }, now);
      this.#pairs.set(m.publicKey, entry);
      e = entry;
    }
    // An address it no longer has finds it no more.
    if (this.#byAddress.get(e.address) === e && e.address !== m.address) {
      this.#byAddress.delete(e.address);
    }
    if (e.address6 && this.#byAddress.get(e.address6) === e && e.address6 !== m.address6) {
      this.#byAddress.delete(e.address6);
    }
    e.address = m.address;
    e.address6 = m.address6;
    this.#byAddress.set(m.address, e);
    if (m.address6) this.#byAddress.set(m.address6, e);
    this.#attach(e);
  }

  /** Member `key` left: its pair goes. */
  #drop(key: string): void {
    const e = this.#pairs.get(key);
    if (!e) return;
    e.pair.close();
    this.#pairs.delete(key);
    if (this.#byAddress.get(e.address) === e) this.#byAddress.delete(e.address);
    if (e.address6 && this.#byAddress.get(e.address6) === e) this.#byAddress.delete(e.address6);
  }

  /** A member said bye (it stops, and loses its keys): the pair starts again from none. */
  bye(publicKey: string): void {
    const e = this.#pairs.get(publicKey);
    if (e && e.pair.current.rotation !== 0) e.pair.reset(this.#now());
  }

  /** One round: rotations due, offers unanswered, pairs whose handshakes fail. */
  tick(): void {
    const now = this.#now();
    const device = this.#d.device;
    const rejectAfter = device.timers.rejectAfterTime;
    for (const e of this.#pairs.values()) {
      this.#attach(e);
      const peer = e.peer;
      if (!peer) continue;
      this.#watch(e, peer, now);
      this.#lostKeys(e, peer, now);
      const cur = peer.current;
      const up = cur !== null && now - cur.created < rejectAfter;
      const failed = e.pair.tick(now, up);
      if (failed) this.#fail(e, failed);
    }
    this.#kem.sweep();
  }

  /** A datagram on the exchange's port from `address` (an overlay address). */
  receive(data: Uint8Array, address: string): void {
    const e = this.#byAddress.get(address);
    const bytes = parseAddress(address);
    if (!e || !bytes || !e.peer || this.#d.device.peerFor(bytes) !== e.peer) {
      this.#failures.add("not-member");
      return;
    }
    if (!this.#limit.allow(e.key)) {
      this.#failures.add("rate-limited");
      return;
    }
    const msg = parsePq(data);
    if (!msg) {
      this.#fail(e, "malformed");
      return;
    }
    const before = e.pair.rotations;
    const failed = e.pair.handle(msg, this.#now());
    if (failed) this.#fail(e, failed);
    this.#rotations += e.pair.rotations - before;
  }

  /** What `/status` shows of the pair with a member; undefined for no member. */
  peerStatus(publicKey: string): { pq: PqPeerStatus } | undefined {
    const e = this.#pairs.get(publicKey);
    if (!e) return undefined;
    const peer = this.#d.device.peer(publicKey);
    const session = peer?.current ? peer.current.presharedKeyTag !== 0 : false;
    const cur = e.pair.current;
    return {
      pq: {
        session,
        state: !this.#o.pq
          ? "off"
          : session
          ? "pq"
          : e.pair.unanswered
          ? "unanswered"
          : cur.rotation !== 0 || e.pair.pending
          ? "exchanging"
          : "waiting",
        keyAgeSeconds: cur.rotation === 0 ? null : Math.floor((this.#now() - cur.at) / 1000),
        rotations: e.pair.rotations,
        required: this.#o.requirePq,
      },
    };
  }

  /** The figures of `/metrics`. */
  metrics(): PqMetrics {
    let pq = 0;
    let classical = 0;
    for (const e of this.#pairs.values()) {
      const kp = e.peer?.current;
      if (!kp) continue;
      if (kp.presharedKeyTag !== 0) pq++;
      else classical++;
    }
    return {
      rotations: this.#rotations,
      failures: this.#failures.snapshot(),
      peers: { pq, classical },
    };
  }

  /** Stops listening and ticking, and wipes every key held. */
  close(): void {
    clearInterval(this.#timer);
    this.#socket?.close();
    this.#socket = null;
    for (const e of this.#pairs.values()) e.pair.close();
    this.#kem.close();
    this.#pairs.clear();
    this.#byAddress.clear();
  }

  /** Keeps the device's peer in step: the keys and the hold go into a peer made anew. */
  #attach(e: Entry): void {
    const peer = this.#d.device.peer(e.key);
    if (peer === e.peer) return;
    e.peer = peer;
    if (!peer) return;
    e.handshakes = peer.counters.handshakes;
    e.rejected = peer.counters.rejectedResponses;
    e.consumedAt = peer.handshake.lastInitiationConsumed;
    e.attempts = 0;
    if (e.pair.current.rotation !== 0) this.#install(e);
    if (this.#o.requirePq) this.#d.device.requireTaggedSessions(e.key, true, PQ_EXEMPT_PORTS);
  }

  #install(e: Entry): void {
    const { cur, alt } = e.slots;
    this.#d.device.setPresharedKeys(
      e.key,
      { key: cur.key, tag: cur.rotation },
      alt ? { key: alt.key, tag: alt.rotation } : null,
    );
  }

  /**
   * Handshakes that fail with the keys held: the other side lost them (it restarted without a
   * bye). Counted from its responses we could not open and the ticks its initiations came in
   * (ours answered, and it tries again), since the last handshake that completed; at
   * {@link FAILED_HANDSHAKES_RESET}, the pair goes back to none.
   */
  #watch(e: Entry, peer: Peer, now: number): void {
    const c = peer.counters;
    if (c.handshakes !== e.handshakes) {
      e.handshakes = c.handshakes;
      e.rejected = c.rejectedResponses;
      e.consumedAt = peer.handshake.lastInitiationConsumed;
      e.attempts = 0;
      return;
    }
    if (c.rejectedResponses !== e.rejected) {
      e.attempts += c.rejectedResponses - e.rejected;
      e.rejected = c.rejectedResponses;
    }
    const consumed = peer.handshake.lastInitiationConsumed;
    if (consumed !== e.consumedAt) {
      if (e.consumedAt !== -Infinity) e.attempts++;
      e.consumedAt = consumed;
    }
    if (e.attempts >= FAILED_HANDSHAKES_RESET && e.pair.current.rotation !== 0) {
      e.attempts = 0;
      e.pair.reset(now);
      this.#fail(e, "handshake-failed");
    }
  }

  /**
   * A session made without a key well after ours was made: the other side answered or
   * initiated with none (it restarted; the alternate it still matched was the base key), so
   * the pair starts again from none, and rotates at once. A handshake in the moment between
   * our key and the other side's taking it is no sign: hence the grace.
   */
  #lostKeys(e: Entry, peer: Peer, now: number): void {
    const kp = peer.current;
    const cur = e.pair.current;
    if (kp === null || kp.presharedKeyTag !== 0 || cur.rotation === 0) return;
    if (kp.created < cur.at + LOST_KEY_GRACE_MS) return;
    e.pair.reset(now);
    this.#fail(e, "peer-lost-keys");
  }

  #send(e: Entry, bytes: Uint8Array): void {
    try {
      this.#socket?.send({ address: e.address, port: PQ_PORT }, bytes);
    } catch (err) {
      this.#d.logger.debug("pq send failed", { peer: e.key, error: String(err) });
    }
  }

  #fail(e: Entry, why: PqFailure): void {
    this.#failures.add(why);
    const id = `${e.key} ${why}`;
    const now = this.#now();
    if ((this.#logged.get(id) ?? -Infinity) > now - 60_000) return;
    if (this.#logged.size > 4096) this.#logged.clear();
    this.#logged.set(id, now);
    // A member without pq (or an older weft) is no incident: its pair is shown classical.
    const quiet = why === "no-answer" || why === "stale";
    this.#d.logger[quiet ? "debug" : "info"]("pq exchange failed", { peer: e.key, reason: why });
  }

  #now(): number {
    return this.#d.now?.() ?? performance.now();
  }
}
