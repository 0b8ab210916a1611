/**
 * Sessions on demand: which members this node keeps a session with. Every member of the view is
 * a configured peer (so a packet can go at once), but only the active ones get a persistent
 * keepalive, health probes and path probes: the kept ones (the leaders, the relays, the
 * `--keep-peer` list) always, the others from their first handshake (the first packet to a cold
 * peer starts one, and the device stages the packet until it completes; a peer that starts one
 * to us, calls us or pings our paths is woken too) until they carry no traffic for `idleAfterMs`.
 * Then the keepalive stops and WireGuard's own session expiry ends the session.
 *
 * Traffic is read from the device's per-peer data counters on a timer, for the active peers
 * only (nothing on the packet path); health probes (ours and theirs, which this node counts on
 * its control channel) do not count as traffic, so probing a peer does not keep it active. An
 * idle peer costs nothing periodic here: the timer walks the active set.
 * @module
 */

import type { Device, DeviceEvent } from "../../device/device.ts";
import type { Logger } from "../../log/logger.ts";
import type { Member, MembershipView, ViewChange } from "../../members/member.ts";

/** What the activity tracker starts and stops per peer. */
export interface ActivityDeps {
  /** The device: its peers' counters, keepalives and events. */
  device: Device;
  /** The logger. */
  logger: Logger;
  /** Persistent keepalive of an active peer, seconds (0: none). */
  keepalive: number;
  /** Starts health tracking and probes of a peer. */
  watch: (publicKey: string) => void;
  /** Stops them: the peer is idle. */
  unwatch: (publicKey: string) => void;
  /**
   * Starts path probing (and call-me) of a peer; absent without NAT traversal. A no-op for a
   * member offline in the view: it is asked again when the member is back online.
   */
  activatePaths?: (publicKey: string) => void;
  /** Stops path probing of a peer. */
  deactivatePaths?: (publicKey: string) => void;
  /** Health probe packets exchanged with an overlay address so far (both ways, both sides'). */
  probePackets?: (address: string) => number;
  /** Forgets the probe counts of the addresses `keep` refuses (the prober's `retain`). */
  retainProbes?: (keep: (address: string) => boolean) => void;
  /**
   * Whether a member that stops has its sessions wiped here ({@link PeerActivity.left}), and one
   * that comes back a fresh handshake. Default true; a leader says no: it answers the bye on the
   * session the member still holds, and a member back handshakes with it by itself.
   */
  wipeStopped?: boolean;
}

/** How sessions on demand are timed. */
export interface ActivityTiming {
  /** A peer with no traffic (data packets, probes not counted) this long goes idle, ms. */
  idleAfterMs: number;
  /** How often the active peers' counters are read, ms. */
  checkMs: number;
}

/** Default timing: idle after 2 minutes without traffic, counters read every 5 s. */
export const DEFAULT_ACTIVITY_TIMING: Readonly<ActivityTiming> = {
  idleAfterMs: 120_000,
  checkMs: 5_000,
};

/** Whether a member is kept whatever its traffic: a leader, a relay, or named by keep-peer. */
export function isKept(m: Member, keep: ReadonlySet<string>): boolean {
  return m.role === "leader" || m.relay === true || keep.has(m.name) ||
    keep.has(m.address) || (m.address6 !== undefined && keep.has(m.address6));
}

/**
 * Whether a member's run id changed between two records: it restarted, so sessions held with its
 * last run are gone on its side, even when this node missed its bye and its offline record.
 */
function restarted(before: Member, after: Member): boolean {
  return after.run !== undefined && before.run !== undefined && after.run !== before.run;
}

interface Active {
  /** Data packets minus probe packets at the last check. */
  traffic: number;
  /** Monotonic ms of the last check that saw traffic (or of activation). */
  lastTrafficAt: number;
}

/** Which members are active, and starting and stopping what they get. See the module docs. */
export class PeerActivity {
  readonly #d: ActivityDeps;
  readonly #timing: ActivityTiming;
  readonly #keepList: ReadonlySet<string>;
  readonly #members = new Map<string, Member>();
  readonly #kept = new Set<string>();
  readonly #active = new Map<string, Active>();
  #me = "";
  #timer: ReturnType<typeof setInterval> | undefined;
  #stop: (() => void) | undefined;
  #closed = false;

  /** Tracks the peers of `deps.device`; `keep` lists names and addresses always kept. */
  constructor(deps: ActivityDeps, keep: readonly string[] = [], timing?: Partial<ActivityTiming>) {
    this.#d = deps;
    this.#keepList = new Set(keep);
    this.#timing = { ...DEFAULT_ACTIVITY_TIMING, ...timing };
    this.#me = deps.device.publicKey;
  }

  /** Whether a member is kept (always active). */
  kept(publicKey: string): boolean {
    return this.#kept.has(publicKey);
  }

  /** Whether a peer is active now. */
  active(publicKey: string): boolean {
    return this.#active.has(publicKey);
  }

  /** The active peers' keys. */
  activeKeys(): string[] {
    return [...this.#active.keys()];
  }

  /** Follows the device's handshakes and takes `view`; the counters are read from now on. */
  start(view: MembershipView): void {
    this.#stop = this.#d.device.onEvent((e) => this.#onEvent(e));
    this.#timer = setInterval(() => this.check(), this.#timing.checkMs);
    this.viewChanged(view);
  }

  /**
   * Takes a new view: kept members become active, departed ones are forgotten. With `change`
   * (how it differs from the last view taken), only the members it names.
   */
  viewChanged(v: MembershipView, change: ViewChange | null = null): void {
    if (this.#closed) return;
    if (change) {
      let moved = change.remove.length > 0;
      for (const key of change.remove) this.#forget(key);
      for (const m of change.upsert) if (m.publicKey !== this.#me && this.#take(m)) moved = true;
      // Kept members are few (leaders, relays): those not active yet are retried as a whole
      // view retries them.
      for (const key of this.#kept) if (!this.#active.has(key)) this.#activate(key, "kept");
      // A change that removes none and moves none leaves the probe counts as they are.
      if (moved) this.#retainProbes(v);
      return;
    }
    const present = new Set<string>();
    for (const m of v.members) {
      if (m.publicKey === this.#me) continue;
      present.add(m.publicKey);
      this.#take(m);
    }
    this.#retainProbes(v);
    if (present.size === this.#members.size) return;
    for (const key of [...this.#members.keys()]) if (!present.has(key)) this.#forget(key);
  }

  /**
   * The probe counts follow the view: an address no member has any more (it left, or moved)
   * leaves no entry behind, to be counted against whoever takes it next.
   */
  #retainProbes(v: MembershipView): void {
    if (!this.#d.retainProbes) return;
    const addresses = new Set<string>();
    for (const m of v.members) {
      addresses.add(m.address);
      if (m.address6) addresses.add(m.address6);
    }
    this.#d.retainProbes((a) => addresses.has(a));
  }

  /** Member `m`'s record now; true when it moved (another overlay address than before). */
  #take(m: Member): boolean {
    const before = this.#members.get(m.publicKey);
    this.#members.set(m.publicKey, m);
    // It stopped (the leader says so): whatever session we held with it is gone on its side.
    if (m.offline && before && !before.offline) this.left(m.publicKey);
    else if (!m.offline && before && (before.offline || restarted(before, m))) {
      this.#returned(m, before.offline ? "back" : "restarted");
      // The paths follow the members online (compose.ts hands them this view first): they
      // dropped an active member that went offline and refused one activated while offline
      // (a member restarting handshakes before its hello). Asked again, it is probed again.
      if (before.offline && this.#active.has(m.publicKey)) this.#d.activatePaths?.(m.publicKey);
    }
    const kept = isKept(m, this.#keepList);
    if (kept) {
      this.#kept.add(m.publicKey);
      // Also retried: a view read from the node's file may come before the device has its
      // peers (the activation needs the peer), and the next view is the one they hear first.
      if (!this.#active.has(m.publicKey)) this.#activate(m.publicKey, "kept");
    } else if (this.#kept.delete(m.publicKey)) {
      // No longer kept: it stays active while it has traffic, like any other peer.
      const a = this.#active.get(m.publicKey);
      if (a) a.lastTrafficAt = performance.now();
    }
    return before !== undefined &&
      (before.address !== m.address || before.address6 !== m.address6);
  }

  /** Member `key` left the view. */
  #forget(key: string): void {
    if (!this.#members.has(key)) return;
    this.#members.delete(key);
    this.#kept.delete(key);
    // The peer itself is gone from the device (peers.ts): only our bookkeeping is left.
    if (this.#active.delete(key)) {
      this.#d.unwatch(key);
      this.#d.deactivatePaths?.(key);
    }
  }

  /**
   * A member stopped (its bye, or the view marks it offline): it lost its sessions, so ours are
   * wiped too (the next packet to it handshakes afresh, straight to its endpoint, instead of
   * going on keys it no longer holds), and unless kept it is idle.
   */
  left(publicKey: string): void {
    if (this.#closed || !this.#members.has(publicKey)) return;
    if (!this.#kept.has(publicKey)) this.#deactivate(publicKey);
    if (this.#d.wipeStopped !== false && this.#d.device.resetPeer(publicKey)) {
      this.#d.logger.debug("peer stopped: its sessions are wiped", {
        peer: this.#members.get(publicKey)?.name ?? publicKey,
      });
    }
  }

  /**
   * A member that stopped is back, or restarted (its hello, with a new run id, reached the
   * leader). A session we hold with it may be its previous run's (made in its last moments, or
   * one whose bye we missed): a handshake now replaces it, and costs a rekey if the session is
   * its new run's already.
   */
  #returned(m: Member, why: "back" | "restarted"): void {
    const p = this.#d.device.peer(m.publicKey);
    if (this.#d.wipeStopped === false || !p || (p.current === null && p.next === null)) return;
    this.#d.logger.debug("peer started anew: a fresh handshake replaces the session held", {
      peer: m.name,
      why,
    });
    this.#d.device.initiateHandshakeNow(m.publicKey);
  }

  /** A bye from overlay address `from` naming `publicKey`: {@link left} if it is that member's. */
  bye(publicKey: string, from: string): void {
    const m = this.#members.get(publicKey);
    if (m && (m.address === from || m.address6 === from)) this.left(publicKey);
  }

  /** A peer wants a session (it called us, or pinged our paths): active from now. */
  wake(publicKey: string): void {
    this.#activate(publicKey, "woken");
  }

  /** Reads the active peers' counters: those without traffic for `idleAfterMs` go idle. */
  check(): void {
    if (this.#closed) return;
    const now = performance.now();
    for (const [key, a] of this.#active) {
      if (this.#kept.has(key)) continue;
      const traffic = this.#traffic(key);
      if (traffic === null) {
        this.#deactivate(key);
        continue;
      }
      if (traffic !== a.traffic) {
        a.traffic = traffic;
        a.lastTrafficAt = now;
      } else if (now - a.lastTrafficAt >= this.#timing.idleAfterMs) {
        this.#deactivate(key);
      }
    }
  }

  /** Stops the timer and the event listener. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#stop?.();
  }

  #onEvent(e: DeviceEvent): void {
    // A handshake we start means a packet waits for this peer (or a rekey of an active one);
    // one the peer starts or completes means it has something for us.
    if (e.type === "handshake-initiated" || e.type === "handshake-complete") {
      this.#activate(e.peer, "handshake");
    }
  }

  // Data packets both ways, less the health probes: null for a peer the device lacks.
  #traffic(key: string): number | null {
    const p = this.#d.device.peer(key);
    if (!p) return null;
    const m = this.#members.get(key);
    const probes = m && this.#d.probePackets ? this.#d.probePackets(m.address) : 0;
    return p.counters.rxData + p.counters.txData - probes;
  }

  #activate(key: string, why: "kept" | "handshake" | "woken"): void {
    if (this.#closed || this.#active.has(key) || !this.#members.has(key)) return;
    const traffic = this.#traffic(key);
    if (traffic === null) return;
    this.#active.set(key, { traffic, lastTrafficAt: performance.now() });
    const d = this.#d;
    d.device.setKeepalive(key, d.keepalive);
    d.watch(key);
    d.activatePaths?.(key);
    d.logger.debug("peer active", { peer: this.#members.get(key)?.name ?? key, reason: why });
  }

  #deactivate(key: string): void {
    if (!this.#active.delete(key)) return;
    const d = this.#d;
    // No keepalive: with no traffic either, nothing is sent, no rekey starts, and the session
    // runs out by itself (REJECT_AFTER_TIME); its keys are wiped later by the device's timer.
    if (d.device.peer(key)) d.device.setKeepalive(key, 0);
    d.unwatch(key);
    d.deactivatePaths?.(key);
    d.logger.debug("peer idle", { peer: this.#members.get(key)?.name ?? key });
  }
}
