/**
 * LAN discovery for the mesh's paths (mesh_paths.ts): runs the LAN announcer (lib/nat/announce.ts)
 * once the mesh's LAN key is known, switches it to a new key, and hands the members it hears
 * on (strangers are counted).
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import { LanAnnouncer, type LanAnnouncerOptions, type LanPeer } from "../../nat/announce.ts";
import { decodeBase64 } from "../../crypto/base64.ts";

/** The LAN discovery options of a mesh agent's NAT section. */
export interface LanDiscoveryOptions {
  /** Find members on the same LAN by multicast announcements (default true; needs natTraversal). */
  lanDiscovery?: boolean;
  /**
   * Where LAN announcements go and how (tests: another port, a fake socket).
   * @ignore internal: tests' announcement socket and timing
   */
  lanAnnounce?: Partial<
    Pick<
      LanAnnouncerOptions,
      | "port"
      | "group"
      | "intervalMs"
      | "bindAddress"
      | "multicastInterface"
      | "multicastLoopback"
      | "createSocket"
    >
  >;
}

/** What LAN discovery works with. */
export interface LanDiscoveryDeps {
  /** This node's public key, base64. */
  publicKey: string;
  /** This node's private key (it signs the announcements). */
  privateKey: Uint8Array;
  /** Whether an address is on one of this node's links (announcements come from there only). */
  onLink?: (address: string) => boolean;
  /** The device's listen port (announced). */
  listenPort: number;
  /** The logger. */
  logger: Logger;
  /** The mesh's LAN key, if known yet. */
  lanKey: Uint8Array | null;
  /** A peer announced itself: false when it is no member (counted as a stranger). */
  onPeer: (p: LanPeer) => boolean;
}

/** The LAN announcer's wiring. See the module docs. */
export class LanDiscovery {
  readonly #d: LanDiscoveryDeps;
  readonly #opts: LanDiscoveryOptions;
  #lanKey: Uint8Array | null;
  #announcer: LanAnnouncer | null = null;
  #announcerStart: Promise<void> | null = null;
  #strangers = 0;
  #closed = false;

  constructor(deps: LanDiscoveryDeps, opts: LanDiscoveryOptions = {}) {
    this.#d = deps;
    this.#opts = opts;
    this.#lanKey = deps.lanKey?.slice() ?? null;
  }

  /** Starts the announcer when discovery is on and the LAN key is known (once). */
  start(): void {
    const opts = this.#opts;
    const key = this.#lanKey;
    if (opts.lanDiscovery === false || key === null || this.#announcer || this.#announcerStart) {
      return;
    }
    const publicKey = decodeBase64(this.#d.publicKey)!;
    this.#announcerStart = LanAnnouncer.start({
      ...opts.lanAnnounce,
      publicKey,
      privateKey: this.#d.privateKey,
      ...(this.#d.onLink ? { onLink: this.#d.onLink } : {}),
      listenPort: this.#d.listenPort,
      lanKey: key,
      logger: this.#d.logger,
      onPeer: (p) => this.#onPeer(p),
    }).then(async (a) => {
      if (this.#closed) return await a.close();
      this.#announcer = a;
      // The key may have changed while the socket was being bound.
      if (this.#lanKey) a.setKey(this.#lanKey);
    }).catch((e) => {
      // A machine without the port or multicast still runs; its LAN peers find it otherwise.
      this.#d.logger.warn("lan discovery did not start", { error: String(e) });
    }).finally(() => {
      this.#announcerStart = null;
    });
  }

  /** Takes the LAN key and starts discovery with it, or switches to it. */
  setKey(key: Uint8Array): void {
    this.#lanKey = key.slice();
    if (this.#announcer) this.#announcer.setKey(key);
    else this.start();
  }

  /** Announces now (this node's LAN candidates changed), while discovery runs. */
  announce(): void {
    this.#announcer?.announce();
  }

  /** The port LAN announcements use, once discovery runs. */
  get port(): number | null {
    return this.#announcer?.port ?? null;
  }

  /** Announcements refused, by reason, while discovery runs; null before. */
  drops(): Record<string, number> | null {
    const a = this.#announcer;
    return a ? { ...a.drops, "off-link": a.stats.offLink, "not-member": this.#strangers } : null;
  }

  /** Stops discovery (waits for a start in flight). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#announcerStart;
    await this.#announcer?.close();
  }

  #onPeer(p: LanPeer): void {
    if (this.#closed) return;
    // A stranger: made with the mesh's key by a key that left (or never joined).
    if (!this.#d.onPeer(p)) this.#strangers++;
  }
}
