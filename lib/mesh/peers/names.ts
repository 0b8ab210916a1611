/**
 * Peers whose endpoint is a name (`node.example.com:51820`): the name is resolved when the peer
 * is set up, retried while it fails, and resolved again when the peer stops answering (two
 * handshake initiations in a row unanswered), so a peer whose address changed behind its name is
 * found again, as wg-quick's re-resolve script does. Lookups run off the packet path; the device
 * only ever gets IP-literal endpoints.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { EndpointResolver } from "../../net/resolve.ts";

/** What the tracker reads from and does to the device. */
export interface PeerPort {
  /** Whether a peer answers: initiations sent and the last handshake (Unix ms); null: no peer. */
  progress(publicKey: string): { initiations: number; lastHandshake: number } | null;
  /** Points a peer at an IP-literal endpoint; false when it already was. */
  setEndpoint(publicKey: string, endpoint: string): boolean;
}

/** How the tracker paces itself (ms). */
export interface PeerNamesTiming {
  /** How often peers are checked; 0: never by itself (tests call `check`). Default 1000. */
  checkMs?: number;
  /** First retry after a failed lookup, doubled each time. Default 1000. */
  retryMs?: number;
  /** Longest wait between lookups of one name, and between warnings about it. Default 60000. */
  maxRetryMs?: number;
}

interface Entry {
  endpoint: string;
  resolved: string | null;
  busy: boolean;
  retryAt: number;
  failures: number;
  baseline: number;
  lastHandshake: number;
  warnedAt: number;
}

// Initiations sent since the last handshake (or resolution) past which a peer "stops answering".
const UNANSWERED = 2;

/** Keeps name endpoints resolved. See the module docs. */
export class PeerNames {
  readonly #entries = new Map<string, Entry>();
  readonly #resolver: EndpointResolver;
  readonly #port: PeerPort;
  readonly #logger: Logger;
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  readonly #now: () => number;
  readonly #checkMs: number;
  // Runs only while some peer has a name: meshes of addresses pay nothing.
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(
    opts: {
      resolver: EndpointResolver;
      port: PeerPort;
      logger: Logger;
      /** Unix ms now (tests inject a clock). */
      now?: () => number;
    } & PeerNamesTiming,
  ) {
    this.#resolver = opts.resolver;
    this.#port = opts.port;
    this.#logger = opts.logger;
    this.#now = opts.now ?? Date.now;
    this.#retryMs = opts.retryMs ?? 1000;
    this.#maxRetryMs = opts.maxRetryMs ?? 60_000;
    this.#checkMs = opts.checkMs ?? 1000;
  }

  /** Names tracked now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Uses `endpoint` (a name) for a peer: resolves it now unless it is already the peer's. */
  track(publicKey: string, endpoint: string): void {
    if (this.#closed || this.#entries.get(publicKey)?.endpoint === endpoint) return;
    const e: Entry = {
      endpoint,
      resolved: null,
      busy: false,
      retryAt: 0,
      failures: 0,
      baseline: 0,
      lastHandshake: 0,
      warnedAt: -Infinity,
    };
    this.#entries.set(publicKey, e);
    if (this.#checkMs > 0) this.#timer ??= setInterval(() => this.check(), this.#checkMs);
    this.#resolve(publicKey, e);
  }

  /** Stops tracking a peer (removed, or its endpoint is an address now). */
  untrack(publicKey: string): void {
    if (!this.#entries.delete(publicKey) || this.#entries.size) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Retries failed names and re-resolves names of peers that stopped answering. */
  check(): void {
    const now = this.#now();
    for (const [key, e] of this.#entries) {
      if (e.busy || now < e.retryAt) continue;
      if (e.resolved === null) {
        this.#resolve(key, e);
        continue;
      }
      const p = this.#port.progress(key);
      if (!p) continue;
      if (p.lastHandshake !== e.lastHandshake) {
        e.lastHandshake = p.lastHandshake;
        e.baseline = p.initiations;
      } else if (p.initiations - e.baseline >= UNANSWERED) {
        e.baseline = p.initiations;
        this.#resolve(key, e);
      }
    }
  }

  /** Stops the checks. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#entries.clear();
  }

  #resolve(key: string, e: Entry): void {
    e.busy = true;
    const first = e.resolved === null;
    this.#resolver.resolve(e.endpoint).then((list) => {
      if (this.#entries.get(key) !== e) return;
      e.failures = 0;
      e.retryAt = 0;
      const address = list[0];
      const before = e.resolved;
      e.resolved = address;
      const progress = this.#port.progress(key);
      if (progress) {
        e.baseline = progress.initiations;
        e.lastHandshake = progress.lastHandshake;
      }
      let set: boolean;
      try {
        set = this.#port.setEndpoint(key, address);
      } catch (err) {
        // An address this node cannot send to (IPv6 on an IPv4-only socket, say).
        this.#logger.warn("resolved endpoint not usable", {
          peer: key,
          name: e.endpoint,
          endpoint: address,
          error: String(err),
        });
        return;
      }
      if (set) {
        this.#logger.info(first ? "endpoint resolved" : "endpoint re-resolved", {
          peer: key,
          name: e.endpoint,
          endpoint: address,
          ...(before && before !== address ? { was: before } : {}),
        });
      }
    }, (err) => {
      if (this.#entries.get(key) !== e) return;
      const now = this.#now();
      e.failures++;
      e.retryAt = now + Math.min(this.#maxRetryMs, this.#retryMs * 2 ** (e.failures - 1));
      // A name that keeps failing is worth one line a minute, not one per retry.
      if (now - e.warnedAt >= this.#maxRetryMs) {
        e.warnedAt = now;
        this.#logger.warn("endpoint name not resolved", {
          peer: key,
          name: e.endpoint,
          error: String((err as Error).message ?? err),
          failures: e.failures,
          ...(e.resolved ? { keeping: e.resolved } : {}),
        });
      }
    }).finally(() => e.busy = false);
  }
}
