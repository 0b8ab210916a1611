/**
 * The default route through the overlay interface on Linux, as wg-quick sets it up for
 * `AllowedIPs = 0.0.0.0/0` with `Table = auto`: per family, a default route into the interface
 * in a table of its own, a rule sending every packet without the agent's mark to that table, and
 * (with `keepLocalRoutes`) a rule before it that looks up the main table ignoring its default
 * route, so the LAN and other interfaces stay reachable. For IPv4, `src_valid_mark` is turned on
 * so reverse-path filtering takes the mark into account. A `blocked` config puts an `unreachable`
 * default route in the table instead (an exit node named but not there: fail closed). Applying a
 * new config over one of the same table, mark and interface changes it in place, the table's
 * rule kept throughout, so no packet takes the host's own default route in between.
 *
 * The rules sit at priorities of weft's own, derived from the table (see {@link rulePriorities}),
 * so what a crashed run left is found and removed by exact selector and priority without touching
 * anyone else's rules. Commands run as argument arrays, never through a shell; the runner and the
 * sysctl files can be replaced for tests.
 * @module
 */

import type { DefaultRouteConfig, DefaultRouting } from "../../lib/routes/forwarding.ts";
import { formatAddress, parseAddress } from "../../lib/net/ip.ts";
import {
  type CommandResult,
  type CommandRunner,
  type HostCommandOptions,
  HostCommands,
  runCommand,
} from "./host_commands.ts";

/** Options of {@link LinuxDefaultRouting} (`run` runs `ip`); both default to the real host. */
export type LinuxDefaultRoutingOptions = HostCommandOptions;

/** The sysctl that lets reverse-path filtering see the mark (IPv4 only). */
export const SRC_VALID_MARK = "/proc/sys/net/ipv4/conf/all/src_valid_mark";

type Family = 4 | 6;
const FAMILIES: readonly Family[] = [4, 6];
const ANY = { 4: "0.0.0.0/0", 6: "::/0" } as const;
/** A bound on repeated deletes, in case a runner never fails. */
const MAX_DUPLICATES = 64;

/**
 * The priorities of weft's rules for `table`: `table` = 5300 + (table % 1000) * 3 for the rule
 * to the table, `suppress` = one less for the main-table rule before it, `exempt` = two less for
 * the addresses kept on the host's routes. The band 5298..8297 lies between the kernel's local (0)
 * and main (32766) rules, clear of wg-quick's defaults, and is deterministic, so a restarted agent
 * finds its crashed run's rules. Two agents on one host need tables that differ modulo 1000.
 */
export function rulePriorities(
  table: number,
): { table: number; suppress: number; exempt: number } {
  const p = 5300 + (table % 1000) * 3;
  return { table: p, suppress: p - 1, exempt: p - 2 };
}

/** A bound on the exempted addresses' rules a sweep deletes. */
const MAX_EXEMPT_RULES = 1024;

/** {@link DefaultRouting} with `ip route`, `ip rule` and `src_valid_mark`; calls run in turn. */
export class LinuxDefaultRouting implements DefaultRouting {
  readonly #host: HostCommands;
  /** What `src_valid_mark` read before this instance set it to 1; null if it did not. */
  #oldMark: string | null = null;
  /** The config whose routes and rules are installed. */
  #installed: DefaultRouteConfig | null = null;

  /** A default routing that does nothing until {@link apply}. */
  constructor(opts: LinuxDefaultRoutingOptions = {}) {
    this.#host = new HostCommands(opts);
  }

  /** Sets up the routes and rules of `config`, replacing earlier ones; on failure undoes them. */
  apply(config: DefaultRouteConfig): Promise<void> {
    return this.#host.serial(() => this.#apply(config));
  }

  /** Removes the routes and rules, restores `src_valid_mark`; things already gone are no error. */
  close(): Promise<void> {
    return this.#host.serial(async () => {
      try {
        const c = this.#installed;
        this.#installed = null;
        if (c) await this.#remove(c.table, c.mark, c.families, c.iface);
      } finally {
        await this.#restoreMark();
      }
    });
  }

  /**
   * Removes the rules of `table` and `mark` and the default routes into `iface` a crashed run
   * left, both families (not another tunnel's routes in the same table).
   */
  sweep(table: number, mark: number, iface: string): Promise<void> {
    return this.#host.serial(() => this.#remove(table, mark, FAMILIES, iface));
  }

  async #apply(input: DefaultRouteConfig): Promise<void> {
    const config = checkConfig(input);
    const { iface, mark, table, families, keepLocalRoutes } = config;
    // Both families, whatever the config: an earlier call or a crashed run may have left either.
    const old = this.#installed;
    if (old && old.table === table && old.mark === mark && old.iface === iface) {
      return await this.#update(old, config);
    }
    this.#installed = null;
    if (old && (old.table !== table || old.mark !== mark)) {
      await this.#remove(old.table, old.mark, FAMILIES);
    }
    await this.#remove(table, mark, FAMILIES);
    const hadOldMark = this.#oldMark !== null;
    try {
      this.#installed = config;
      // Before the rules, so marked underlay replies pass reverse-path filtering at once.
      if (families.includes(4)) await this.#setMark(hadOldMark);
      else await this.#restoreMark();
      const prio = rulePriorities(table);
      for (const f of families) {
        await this.#must(f, ["route", "replace", ...defaultRoute(config, f)]);
        // The main-table rule first, so the LAN is never sent into the tunnel, even briefly.
        if (keepLocalRoutes) await this.#must(f, ["rule", "add", ...suppressRule(prio.suppress)]);
        for (const a of exemptOf(config, f)) {
          await this.#must(f, ["rule", "add", ...exemptRule(a, prio.exempt)]);
        }
        await this.#must(f, ["rule", "add", ...tableRule(table, mark, prio.table)]);
      }
    } catch (e) {
      await this.#undo(config, hadOldMark);
      throw e;
    }
  }

  /**
   * Sets IPv4's src_valid_mark, keeping the value it had for `#restoreMark` unless one is kept
   * already (`hadOldMark`).
   */
  async #setMark(hadOldMark: boolean): Promise<void> {
    const was = (await this.#host.sysctl.read(SRC_VALID_MARK)).trim();
    if (was === "1") return;
    await this.#host.sysctl.write(SRC_VALID_MARK, "1");
    if (!hadOldMark) this.#oldMark = was;
  }

  /**
   * Changes `old` into `config` (same table, mark and interface) in place: the default route
   * replaced (into the tunnel, or unreachable), the rules that differ added before those that
   * go are deleted, and the table's rule kept while its family stays, so what the default route
   * carries never leaves by the host's own in between.
   */
  async #update(old: DefaultRouteConfig, config: DefaultRouteConfig): Promise<void> {
    const { table, mark } = config;
    const prio = rulePriorities(table);
    const hadOldMark = this.#oldMark !== null;
    this.#installed = config;
    try {
      if (config.families.includes(4)) await this.#setMark(hadOldMark);
      for (const f of FAMILIES) {
        const was = old.families.includes(f), now = config.families.includes(f);
        const suppressWas = was && old.keepLocalRoutes, suppressNow = now && config.keepLocalRoutes;
        const exemptWas = was ? exemptOf(old, f) : [], exemptNow = now ? exemptOf(config, f) : [];
        if (suppressNow && !suppressWas) {
          await this.#must(f, ["rule", "add", ...suppressRule(prio.suppress)]);
        }
        for (const a of exemptNow) {
          if (!exemptWas.includes(a)) {
            await this.#must(f, ["rule", "add", ...exemptRule(a, prio.exempt)]);
          }
        }
        if (now) {
          await this.#must(f, ["route", "replace", ...defaultRoute(config, f)]);
          if (!was) await this.#must(f, ["rule", "add", ...tableRule(table, mark, prio.table)]);
        }
        for (const a of exemptWas) {
          if (!exemptNow.includes(a)) {
            await this.#ip(f, ["rule", "del", ...exemptRule(a, prio.exempt)]);
          }
        }
        if (suppressWas && !suppressNow) {
          await this.#ip(f, ["rule", "del", ...suppressRule(prio.suppress)]);
        }
        if (was && !now) await this.#remove(table, mark, [f], config.iface);
      }
      if (!config.families.includes(4)) await this.#restoreMark();
    } catch (e) {
      await this.#undo(config, hadOldMark);
      throw e;
    }
  }

  /** After a failed apply: everything of `config` removed, keeping the first error's say. */
  async #undo(config: DefaultRouteConfig, hadOldMark: boolean): Promise<void> {
    this.#installed = null;
    await this.#remove(config.table, config.mark, FAMILIES).catch(() => {});
    if (!hadOldMark) await this.#restoreMark().catch(() => {});
  }

  /**
   * Deletes the rules of `table` and `mark` (each until none is left) and the table's default
   * routes (only those into `iface` when given); missing ones, or a missing `ip`, are no error.
   */
  async #remove(table: number, mark: number, families: readonly Family[], iface?: string) {
    const prio = rulePriorities(table);
    const dev = iface === undefined ? [] : ["dev", iface];
    try {
      for (const f of families) {
        for (
          const args of [
            ["rule", "del", ...tableRule(table, mark, prio.table)],
            ["rule", "del", ...suppressRule(prio.suppress)],
            ["route", "del", ANY[f], ...dev, "table", `${table}`],
            // A blocked run's: no other tunnel puts an unreachable default route in its table.
            ["route", "del", "unreachable", ANY[f], "table", `${table}`],
          ]
        ) {
          for (let i = 0; i < MAX_DUPLICATES; i++) {
            if ((await this.#ip(f, args)).code !== 0) break;
          }
        }
        // Every rule at the exempt priority is one of ours (the band is weft's).
        for (let i = 0; i < MAX_EXEMPT_RULES; i++) {
          if ((await this.#ip(f, ["rule", "del", "priority", `${prio.exempt}`])).code !== 0) break;
        }
      }
    } catch (e) {
      // Not installed: it cannot have left rules.
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  async #restoreMark(): Promise<void> {
    if (this.#oldMark === null) return;
    await this.#host.sysctl.write(SRC_VALID_MARK, this.#oldMark);
    this.#oldMark = null;
  }

  #ip(f: Family, args: string[]): Promise<CommandResult> {
    return this.#host.run("ip", [`-${f}`, ...args]);
  }

  #must(f: Family, args: string[]): Promise<void> {
    return this.#host.must(
      "ip",
      [`-${f}`, ...args],
      "routing the default route through the mesh needs iproute2 (ip), to add the route and " +
        "the policy rules, but it is not installed: install iproute2",
    );
  }
}

/** The selector of the rule sending unmarked packets to `table`. */
const tableRule = (
  table: number,
  mark: number,
  priority: number,
): string[] => ["not", "fwmark", `${mark}`, "table", `${table}`, "priority", `${priority}`];

/** The default route of `config` in family `f`: into the interface, or unreachable. */
function defaultRoute(config: DefaultRouteConfig, f: Family): string[] {
  return config.blocked
    ? ["unreachable", ANY[f], "table", `${config.table}`]
    : [ANY[f], "dev", config.iface, "table", `${config.table}`];
}

/** The addresses of `config` kept on the host's routes, of family `f`. */
function exemptOf(config: DefaultRouteConfig, f: Family): string[] {
  return (config.exempt ?? []).filter((a) => a.includes(":") === (f === 6));
}

/** The selector of the rule keeping `address` on the host's routes. */
const exemptRule = (
  address: string,
  priority: number,
): string[] => ["to", address, "table", "main", "priority", `${priority}`];

/** The selector of the rule looking up the main table without its default route. */
const suppressRule = (
  priority: number,
): string[] => ["table", "main", "suppress_prefixlength", "0", "priority", `${priority}`];

/** Checks the config once, at the edge; the families come back deduplicated, in order. */
function checkConfig(c: DefaultRouteConfig): DefaultRouteConfig {
  const { iface, mark, table, families, keepLocalRoutes } = c;
  // Linux's rule: 1-15 bytes, no `/`, `:` or whitespace, not `.` or `..`.
  if (
    typeof iface !== "string" || !/^[^\s/:]+$/.test(iface) || iface === "." || iface === ".." ||
    new TextEncoder().encode(iface).length > 15
  ) {
    throw new Error(`invalid interface name ${JSON.stringify(iface)}`);
  }
  const u32 = (n: unknown) =>
    Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 2 ** 32 - 1;
  if (!u32(mark)) throw new Error(`invalid mark ${mark}: expected an integer 1..0xffffffff`);
  if (!u32(table) || table === 253 || table === 254 || table === 255) {
    throw new Error(
      `invalid routing table ${table}: expected an integer 1..0xffffffff other than 253, 254 ` +
        `and 255 (default, main, local)`,
    );
  }
  if (
    !Array.isArray(families) || families.length === 0 ||
    families.some((f) => f !== 4 && f !== 6)
  ) {
    throw new Error(`invalid families ${JSON.stringify(families)}: expected some of [4, 6]`);
  }
  if (typeof keepLocalRoutes !== "boolean") throw new Error("keepLocalRoutes must be a boolean");
  if (c.blocked !== undefined && typeof c.blocked !== "boolean") {
    throw new Error("blocked must be a boolean");
  }
  const exempt = [
    ...new Set((c.exempt ?? []).map((a) => {
      const bytes = parseAddress(a);
      if (bytes === null) throw new Error(`invalid exempt address ${JSON.stringify(a)}`);
      return formatAddress(bytes);
    })),
  ];
  return {
    iface,
    mark,
    table,
    keepLocalRoutes,
    families: FAMILIES.filter((f) => families.includes(f)),
    ...(exempt.length ? { exempt } : {}),
    ...(c.blocked ? { blocked: true } : {}),
  };
}

/**
 * The first routing table from `start` (wg-quick starts at 51820) that holds no IPv4 or IPv6
 * route: where a default route through a new interface may go, with the same number as its
 * mark. `run` replaces `ip` in tests.
 */
export async function firstFreeTable(
  start = 51820,
  run: CommandRunner = runCommand,
): Promise<number> {
  for (let t = start; t < start + 1000; t++) {
    const v4 = await run("ip", ["-4", "route", "show", "table", String(t)]);
    const v6 = await run("ip", ["-6", "route", "show", "table", String(t)]);
    if (v4.stdout.trim() === "" && v6.stdout.trim() === "") return t;
  }
  throw new Error(`no free routing table from ${start} to ${start + 999}`);
}
