/**
 * This member as a subnet router or exit node: the host forwards the mesh's packets into the
 * routes it carries and, unless `--no-snat-subnet-routes`, masquerades them (an exit node's
 * always), so hosts behind it answer its own address. Only what the leader approved is let
 * through (this node's own record in the view: its advertised routes as far as they are approved,
 * and the internet as an approved exit node); the rest of the mesh's traffic to the host's other
 * networks is dropped, whatever a member puts in its own allowed IPs. Set up when the agent
 * starts (TUN mode), followed with each view, taken down when it stops. A host that cannot
 * forward stops the start. The routes advertised may change at runtime (`weft set
 * --advertise-routes`): with none, nothing is set up on the host (and what was is taken down).
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { MembershipView } from "../../members/member.ts";
import type { HostForwarding, RouteCounters } from "../../routes/forwarding.ts";
import { EXIT_PREFIXES, isExitPrefix } from "../../routes/prefixes.ts";
import { servedRoutes, servesExit } from "../leader/routes.ts";

/** How the router is set up. */
export interface SubnetRouterOptions {
  /** The host's forwarding (drivers/linux/forwarding.ts). */
  forwarding: HostForwarding;
  /** The overlay interface. */
  iface: string;
  /** This node's public key (its record in the view says what is approved). */
  self: string;
  /** The view held now. */
  view: () => MembershipView;
  /** The routes this node advertises (canonical; the defaults for an exit node; may be none). */
  prefixes: string[];
  /** Masquerade the mesh's traffic into subnet routes (default true). */
  masquerade?: boolean;
  /** The logger. */
  logger: Logger;
}

/** Forwarding for the routes this node carries. See the module docs. */
export class SubnetRouter {
  readonly #o: SubnetRouterOptions;
  #started = false;
  #closed = false;
  #prefixes: string[];
  // The prefixes let through, as last applied (joined), and the changes to them, in turn.
  #applied: string | null = null;
  #queue: Promise<void> = Promise.resolve();
  // The forwarded traffic per route as last read (the firewall's counters), and when.
  #counters: RouteCounters[] = [];
  #readAt = -Infinity;
  #reading = false;

  /** A router for `opts.prefixes`; nothing changes on the host until {@link start}. */
  constructor(opts: SubnetRouterOptions) {
    this.#o = opts;
    this.#prefixes = [...opts.prefixes];
  }

  /** The routes advertised now. */
  get prefixes(): readonly string[] {
    return this.#prefixes;
  }

  /** The prefixes the leader approved for this node, as `v` says. */
  #approved(v: MembershipView): string[] {
    const me = v.members.find((m) => m.publicKey === this.#o.self);
    if (!me) return [];
    return [...servedRoutes(me), ...(servesExit(me) ? EXIT_PREFIXES : [])];
  }

  async #apply(v: MembershipView): Promise<void> {
    const o = this.#o;
    const prefixes = this.#prefixes;
    if (!prefixes.length) {
      // Nothing advertised: nothing on the host (what an earlier set of routes made goes).
      if (this.#applied !== null) {
        await o.forwarding.close();
        this.#applied = null;
        this.#counters = [];
        o.logger.info("no longer forwarding for the mesh: no routes advertised");
      }
      return;
    }
    const approved = this.#approved(v);
    const key = approved.join();
    if (key === this.#applied) return;
    const exit = prefixes.some(isExitPrefix);
    const masquerade = exit || o.masquerade !== false;
    const families = [
      ...(prefixes.some((p) => !p.includes(":")) ? [4 as const] : []),
      ...(prefixes.some((p) => p.includes(":")) ? [6 as const] : []),
    ];
    await o.forwarding.apply({
      iface: o.iface,
      sources: [v.network, ...(v.network6 ? [v.network6] : [])],
      prefixes: approved,
      families,
      masquerade,
    });
    this.#applied = key;
    o.logger.info("forwarding for the mesh", {
      approved: approved.join(",") || "none yet",
      advertised: prefixes.join(","),
      masquerade,
    });
  }

  /** Turns forwarding on; rejects with the host's reason when it cannot. */
  async start(): Promise<void> {
    try {
      await this.#apply(this.#o.view());
    } catch (e) {
      throw new Error(`cannot carry routes for the mesh: ${(e as Error).message}`, { cause: e });
    }
    this.#started = true;
  }

  /**
   * Changes the routes advertised (`weft set`): forwarding follows at once, set up anew for the
   * new routes' families and masquerading, or taken down with none. Rejects with the host's
   * reason when it cannot; the routes before are back in force then.
   */
  setPrefixes(prefixes: readonly string[]): Promise<void> {
    const run = this.#queue.then(async () => {
      if (this.#closed) return;
      const before = this.#prefixes;
      const applied = this.#applied;
      this.#prefixes = [...prefixes];
      // Families or masquerading may change with the same approvals: apply again.
      if (this.#prefixes.length) this.#applied = null;
      if (!this.#started) return;
      try {
        await this.#apply(this.#o.view());
      } catch (e) {
        this.#prefixes = before;
        this.#applied = applied === null ? null : "";
        await this.#apply(this.#o.view()).catch(() => {});
        throw new Error(`cannot carry routes for the mesh: ${(e as Error).message}`, { cause: e });
      }
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Lets through what a new view approves (approvals granted or withdrawn). */
  viewChanged(v: MembershipView): void {
    if (!this.#started || this.#approved(v).join() === this.#applied) return;
    this.#queue = this.#queue.then(async () => {
      if (this.#closed) return;
      try {
        await this.#apply(v);
      } catch (e) {
        this.#o.logger.error("changing what the mesh may reach through this node failed", {
          error: String(e),
        });
      }
    });
  }

  /**
   * The traffic forwarded per route (from the firewall's own counters, so nothing is counted per
   * packet here), as last read; reading again (off the caller's path) when the last read is more
   * than a second old: a scrape shows the figures as of the scrape before it at worst.
   */
  counters(now = performance.now()): readonly RouteCounters[] {
    if (this.#started && this.#applied !== null && !this.#reading && now - this.#readAt > 1000) {
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
    if (!this.#started || this.#applied === null) return [];
    this.#counters = await this.#o.forwarding.counters();
    this.#readAt = performance.now();
    return this.#counters;
  }

  /** Turns forwarding off again. */
  async close(): Promise<void> {
    // A change under way finishes first: what it set up is taken down below.
    await this.#queue;
    this.#closed = true;
    if (!this.#started) return;
    this.#started = false;
    if (this.#applied === null) return;
    this.#applied = null;
    await this.#o.forwarding.close();
  }
}
