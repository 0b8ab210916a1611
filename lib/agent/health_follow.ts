/**
 * Which peers an agent's health follows and probes: its tracker kept in step with the device's
 * peers (`all` scope) or the watched ones (`watched` scope) by the keys that changed
 * (./health_sync.ts), once a second, and the prober kept at each followed peer's address. The
 * agent's `watchPeer`, `unwatchPeer`, `probing`, `watching` and `peerHealth` are this.
 * @module
 */

import type { Device } from "../device/device.ts";
import { type HealthTracker, idleHealth, type PeerHealth } from "../health/health.ts";
import { HealthProber, sessionAndPath } from "../health/prober.ts";
import type { PeerIdentity, ProbeFn } from "./agent_options.ts";
import { HealthSync } from "./health_sync.ts";

/** What the following reads and drives: the agent's device, tracker, probe and peer names. */
export interface HealthFollowDeps {
  /** The device whose peers are followed. */
  device: Device;
  /** The tracker kept in step with them. */
  health: HealthTracker;
  /** Probes an overlay address (the RTT in ms, null when lost); null: no probes. */
  probe: ProbeFn | null;
  /** How often each followed peer is probed, ms. */
  probeIntervalMs: number;
  /** Which peers: the device's (`all`) or only those watched (`watched`). */
  scope: "all" | "watched";
  /** A peer's name and overlay address (where it is probed; "" for none). */
  describe: (publicKey: string) => PeerIdentity;
}

/** Keeps an agent's health tracker and prober in step with its peers. See the module docs. */
export class HealthFollow {
  readonly #d: HealthFollowDeps;
  #prober: HealthProber | null = null;
  /** The probed peers, each at the address it is probed at. */
  readonly #probed = new Map<string, string>();
  /** The peers health follows in `watched` scope; null in `all` scope. */
  readonly #watched: Set<string> | null;
  /** The watched peers not probed (their samples come from elsewhere). */
  readonly #unprobed = new Set<string>();
  /** Which peers health follows, kept in step by the keys that changed. */
  readonly #sync: HealthSync;
  #reconcile: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  /** Follows `deps.device`'s peers from now on; `start` runs the syncs. */
  constructor(deps: HealthFollowDeps) {
    this.#d = deps;
    const { device, health } = deps;
    this.#watched = deps.scope === "watched" ? new Set() : null;
    this.#sync = new HealthSync({
      handshakeOf: (k) => device.peer(k)?.lastHandshakeUnixMs,
      peerKeys: () => device.peers().map((p) => p.publicKeyText),
      watched: this.#watched,
      tracked: { has: (k) => health.has(k), keys: () => health.peers() },
      track: (k, hs) => this.#syncPeer(k, hs),
      reprobe: (k) => this.#syncProbe(k),
      untrack: (k) => this.#untrack(k),
    });
    // A peer set or removed, or a key the tracker took up (a sample of a peer no longer
    // followed) or dropped (an embedder's removePeer): looked at in the next sync, which takes
    // up again a dropped peer the device still has. A dropped key's probe stops with it, so the
    // prober never probes a key the tracker lacks.
    device.onPeerChanged((k) => this.#sync.touched(k));
    health.onAdded((k) => this.#sync.touched(k));
    health.onRemoved((k) => {
      this.#forgetProbe(k);
      this.#sync.touched(k);
    });
  }

  /** Brings the tracker in step now, then once a second until `stop`. */
  start(): void {
    this.#syncHealth();
    this.#reconcile = setInterval(() => this.#syncHealth(), 1000);
  }

  /** Stops the syncs (the prober goes on until `stopProbes`). */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#reconcile);
    // No sync comes: nothing is gathered for one.
    this.#sync.everyPeer();
  }

  /** Stops the prober, if it started. */
  async stopProbes(): Promise<void> {
    await this.#prober?.stop();
  }

  /** Starts following a peer (`watched` scope), probed unless `probe: false`; see the agent's. */
  watchPeer(publicKey: string, opts: { probe?: boolean } = {}): void {
    if (!this.#watched || this.#stopped) return;
    this.#sync.touched(publicKey);
    const unprobed = opts.probe === false;
    if (this.#watched.has(publicKey) && this.#unprobed.has(publicKey) === unprobed) return;
    this.#watched.add(publicKey);
    if (unprobed) {
      this.#unprobed.add(publicKey);
      this.#forgetProbe(publicKey);
    } else this.#unprobed.delete(publicKey);
    // This peer only: a leader watches thousands, one at a time as they join.
    const peer = this.#d.device.peer(publicKey);
    if (peer) this.#syncPeer(publicKey, peer.lastHandshakeUnixMs);
  }

  /** Stops following a peer (`watched` scope): it is `idle` from now on. */
  unwatchPeer(publicKey: string): void {
    if (!this.#watched?.delete(publicKey)) return;
    this.#sync.touched(publicKey);
    this.#unprobed.delete(publicKey);
    this.#untrack(publicKey);
  }

  /** Whether a peer is probed now (followed, and not with its samples from elsewhere). */
  probing(publicKey: string): boolean {
    return this.#probed.has(publicKey);
  }

  /** Whether a peer's health is followed (always, in `all` scope). */
  watching(publicKey: string): boolean {
    return this.#watched === null || this.#watched.has(publicKey);
  }

  /** A peer's health: the tracker's, `idle` for a device peer not watched, else undefined. */
  peerHealth(publicKey: string): PeerHealth | undefined {
    const h = this.#d.health.get(publicKey);
    if (h || this.#watched === null) return h;
    const p = this.#d.device.peer(publicKey);
    return p ? idleHealth(publicKey, p.lastHandshakeUnixMs) : undefined;
  }

  /** Health no longer follows `key`: the tracker, the prober and the probed set forget it. */
  #untrack(key: string): void {
    this.#d.health.removePeer(key); // its onRemoved forgets the probe of a tracked key
    this.#forgetProbe(key);
  }

  #forgetProbe(key: string): void {
    this.#prober?.remove(key);
    this.#probed.delete(key);
  }

  // Keeps the health tracker and the prober in step with the device's peers (or the watched
  // ones): the keys that changed since the last second (health_sync.ts), every peer when the
  // prober starts.
  #syncHealth(): void {
    const { probe, health, device } = this.#d;
    if (probe && !this.#prober) {
      this.#prober = new HealthProber({
        probe,
        onResult: (k, rtt) => health.recordProbe(k, rtt),
        // A probe that waited for a handshake or a new path timed the setup, not the path.
        generation: (k) => sessionAndPath(device.peer(k)),
        intervalMs: this.#d.probeIntervalMs,
      });
      this.#prober.start();
      this.#probed.clear();
      this.#sync.everyPeer();
    }
    this.#sync.sync();
  }

  // Tracks one peer's health (a no-op when tracked) and probes it unless it is unprobed.
  #syncPeer(k: string, lastHandshakeMs: number): void {
    this.#d.health.addPeer(k, lastHandshakeMs);
    this.#syncProbe(k);
  }

  #syncProbe(k: string): void {
    if (!this.#prober || this.#unprobed.has(k)) return;
    const address = this.#d.describe(k).address;
    if (address && this.#probed.get(k) !== address) {
      this.#prober.add(k, address); // a known peer just gets its new address
      this.#probed.set(k, address);
    } else if (!address && this.#probed.delete(k)) {
      // Its address went to another peer (or it has none now): probing it there would time
      // that peer, not this one.
      this.#prober.remove(k);
    }
  }
}
