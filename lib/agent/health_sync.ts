/**
 * Which peers the agent's health tracker follows: the device's peers (`all` scope) or the
 * watched ones that are the device's peers (`watched` scope), and for each the prober kept at
 * its address. The agent tells it of every key whose device peer was set or removed, whose
 * watch changed, or that the tracker took up or dropped; each sync looks at those keys only, so
 * a leader of 10,000 members costs what changed in the second, not sets of every peer each
 * second. A sync over every peer is made at the start and when the prober starts.
 * @module
 */

/** What the sync reads and does: the agent's device, watch list, tracker and prober. */
export interface HealthSyncDeps {
  /** A device peer's last handshake (unix ms), undefined for no such peer. */
  handshakeOf: (key: string) => number | undefined;
  /** Every device peer's key. */
  peerKeys: () => Iterable<string>;
  /** The watched keys (`watched` scope), or null (`all` scope: every device peer). */
  watched: ReadonlySet<string> | null;
  /** Whether the tracker follows a key, and every key it follows. */
  tracked: { has(key: string): boolean; keys(): Iterable<string> };
  /** Starts following a key (its last handshake as the device has it), probed at its address. */
  track: (key: string, lastHandshakeMs: number) => void;
  /** A key followed already: its probe moved to its address now, if it changed. */
  reprobe: (key: string) => void;
  /** Stops following a key, and probing it. */
  untrack: (key: string) => void;
}

/** Keeps the tracked keys in step with the device's peers, by the keys that changed. */
export class HealthSync {
  readonly #d: HealthSyncDeps;
  // Keys to look at in the next sync (null: every peer).
  #touched: Set<string> | null = null;
  // The key this sync is tracking or untracking now: the tracker tells of it (onAdded), but the
  // sync has just brought it in step, so a second look at it would be wasted.
  #acting: string | null = null;

  /** The first sync looks at every peer. */
  constructor(deps: HealthSyncDeps) {
    this.#d = deps;
  }

  /**
   * Key `key`'s device peer, watch or tracking changed: looked at in the next sync (not when the
   * change is this sync's own tracking or untracking of it).
   */
  touched(key: string): void {
    if (key !== this.#acting) this.#touched?.add(key);
  }

  /** The next sync looks at every peer (the prober just started: each one is probed). */
  everyPeer(): void {
    this.#touched = null;
  }

  /** Keys waiting for the next sync (null: every peer). */
  get pending(): number | null {
    return this.#touched?.size ?? null;
  }

  /** Brings the tracked keys in step: those touched since the last sync, or every peer. */
  sync(): void {
    const touched = this.#touched;
    this.#touched = new Set();
    if (touched === null) return this.#all();
    for (const k of touched) this.#one(k);
  }

  #wanted(key: string): number | undefined {
    const { watched, handshakeOf } = this.#d;
    return watched !== null && !watched.has(key) ? undefined : handshakeOf(key);
  }

  #one(key: string): void {
    const hs = this.#wanted(key);
    const tracked = this.#d.tracked.has(key);
    if (hs === undefined) {
      if (tracked) this.#act(key, undefined);
    } else if (tracked) this.#d.reprobe(key);
    else this.#act(key, hs);
  }

  // Tracks `key` (with its last handshake) or, for undefined, untracks it.
  #act(key: string, hs: number | undefined): void {
    this.#acting = key;
    try {
      if (hs === undefined) this.#d.untrack(key);
      else this.#d.track(key, hs);
    } finally {
      this.#acting = null;
    }
  }

  // Every peer: sets, no nested scans (linear in the peers).
  #all(): void {
    const d = this.#d;
    const keys = new Set(
      d.watched === null
        ? d.peerKeys()
        : [...d.watched].filter((k) => d.handshakeOf(k) !== undefined),
    );
    const tracked = new Set(d.tracked.keys());
    for (const k of tracked) if (!keys.has(k)) this.#act(k, undefined);
    for (const k of keys) {
      if (tracked.has(k)) d.reprobe(k);
      else this.#act(k, d.handshakeOf(k) ?? 0);
    }
  }
}
