/**
 * This member as a subnet router or exit node: the host forwards the mesh's packets into the
 * routes it advertises and, unless `--no-snat-subnet-routes`, masquerades them (an exit node's
 * always), so hosts behind it answer its own address. Set up when the agent starts, in TUN mode,
 * whether or not the leader approved the routes yet (approval decides who sends, not whether this
 * host may forward); taken down when it stops. A host that cannot forward stops the start.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { HostForwarding, RouteCounters } from "../../routes/forwarding.ts";
import { isExitPrefix } from "../../routes/prefixes.ts";

/** How the router is set up. */
export interface SubnetRouterOptions {
  /** The host's forwarding (drivers/linux/forwarding.ts). */
  forwarding: HostForwarding;
  /** The overlay interface. */
  iface: string;
  /** The mesh's networks, read at start (the view's, known once joined). */
  sources: () => string[];
  /** The routes this node advertises (canonical; the defaults for an exit node). */
  prefixes: string[];
  /** Masquerade the mesh's traffic into subnet routes (default true). */
  masquerade?: boolean;
  /** The logger. */
  logger: Logger;
}

/** Forwarding for the routes this node advertises. See the module docs. */
export class SubnetRouter {
  readonly #o: SubnetRouterOptions;
  #started = false;
  // The forwarded traffic per route as last read (the firewall's counters), and when.
  #counters: RouteCounters[] = [];
  #readAt = -Infinity;
  #reading = false;

  /** A router for `opts.prefixes`; nothing changes on the host until {@link start}. */
  constructor(opts: SubnetRouterOptions) {
    this.#o = opts;
  }

  /** Turns forwarding on; rejects with the host's reason when it cannot. */
  async start(): Promise<void> {
    const o = this.#o;
    const exit = o.prefixes.some(isExitPrefix);
    const masquerade = exit || o.masquerade !== false;
    try {
      await o.forwarding.apply({
        iface: o.iface,
        sources: o.sources(),
        prefixes: o.prefixes,
        masquerade,
      });
    } catch (e) {
      throw new Error(`cannot carry routes for the mesh: ${(e as Error).message}`, { cause: e });
    }
    this.#started = true;
    o.logger.info("forwarding for the mesh", {
      routes: o.prefixes.join(","),
      masquerade,
    });
  }

  /**
   * The traffic forwarded per route (from the firewall's own counters, so nothing is counted per
   * packet here), as last read; reading again (off the caller's path) when the last read is more
   * than a second old: a scrape shows the figures as of the scrape before it at worst.
   */
  counters(now = performance.now()): readonly RouteCounters[] {
    if (this.#started && !this.#reading && now - this.#readAt > 1000) {
      this.#reading = true;
      this.#o.forwarding.counters().then((c) => {
        this.#counters = c;
        this.#readAt = performance.now();
      }, (e) => this.#o.logger.debug("reading route counters failed", { error: String(e) }))
        .finally(() => this.#reading = false);
    }
    return this.#counters;
  }

  /** Reads the counters now (tests, and `weft status`). */
  async readCounters(): Promise<readonly RouteCounters[]> {
    if (!this.#started) return [];
    this.#counters = await this.#o.forwarding.counters();
    this.#readAt = performance.now();
    return this.#counters;
  }

  /** Turns forwarding off again. */
  async close(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    await this.#o.forwarding.close();
  }
}
