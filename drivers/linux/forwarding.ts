/**
 * Forwarding for subnet routers and exit nodes on Linux: the `ip_forward` sysctls, and iptables
 * rules in chains of weft's own (`WEFT-FWD-<iface>` jumped to from FORWARD, `WEFT-NAT-<iface>`
 * from POSTROUTING), named after the overlay interface so agents on other interfaces or in other
 * namespaces never touch each other's rules. Commands run as argument arrays, never through a
 * shell; the runner and the sysctl files can be replaced for tests.
 *
 * Each route (prefix) gets a rule of its own each way in the filter chain, carrying the comment
 * `weft route <prefix> out` (mesh to route) or `... in` (replies back into the mesh); their
 * counters, which the kernel keeps, are what {@link LinuxForwarding.counters} reads.
 * @module
 */

import type {
  ForwardingConfig,
  HostForwarding,
  RouteCounters,
} from "../../lib/routes/forwarding.ts";
import { Cidr } from "../../lib/net/cidr.ts";

import {
  type CommandResult,
  type CommandRunner,
  type HostCommandOptions,
  HostCommands,
  type SysctlFiles,
} from "./host_commands.ts";

export type { CommandResult, CommandRunner, SysctlFiles };

/** Options of {@link LinuxForwarding} (`run` runs iptables and ip6tables); both default to the real host. */
export type LinuxForwardingOptions = HostCommandOptions;

/** The forwarding sysctl of each family. */
export const FORWARDING_SYSCTLS = {
  4: "/proc/sys/net/ipv4/ip_forward",
  6: "/proc/sys/net/ipv6/conf/all/forwarding",
} as const;

type Family = 4 | 6;
const FAMILIES: readonly Family[] = [4, 6];
const TOOL = { 4: "iptables", 6: "ip6tables" } as const;
/** A bound on repeated `-D` of a jump, in case a runner never fails. */
const MAX_DUPLICATES = 64;

/** The filter chain of `iface` (at most 24 characters: iptables allows 28). */
export const filterChain = (iface: string): string => `WEFT-FWD-${iface}`;
/** The nat chain of `iface`. */
export const natChain = (iface: string): string => `WEFT-NAT-${iface}`;
/** The comment on the filter rule of `prefix` (canonical) in one direction. */
export const routeComment = (prefix: string, dir: "out" | "in"): string =>
  `weft route ${prefix} ${dir}`;

/** {@link HostForwarding} with sysctls and iptables; calls are run one at a time. */
export class LinuxForwarding implements HostForwarding {
  readonly #host: HostCommands;
  /** Sysctls this instance turned from 0 to 1, to turn back at close. */
  readonly #turnedOn = new Set<Family>();
  /** The interface, families and prefixes whose rules are installed. */
  #installed: { iface: string; families: Family[]; prefixes: Cidr[] } | null = null;

  /** A forwarding setup that does nothing until {@link apply}. */
  constructor(opts: LinuxForwardingOptions = {}) {
    this.#host = new HostCommands(opts);
  }

  /** Sets up forwarding for `config`, replacing earlier rules; on failure undoes its changes. */
  apply(config: ForwardingConfig): Promise<void> {
    return this.#host.serial(() => this.#apply(config));
  }

  /** Removes the rules and restores the sysctls turned on; rules already gone are no error. */
  close(): Promise<void> {
    return this.#host.serial(async () => {
      try {
        if (this.#installed) await this.#remove(this.#installed.iface, this.#installed.families);
        this.#installed = null;
      } finally {
        await this.#restoreSysctls([...this.#turnedOn]);
      }
    });
  }

  /** Removes the chains and jumps a crashed run on `iface` left, for both families. */
  sweep(iface: string): Promise<void> {
    return this.#host.serial(() => this.#remove(checkIface(iface), [4, 6]));
  }

  /**
   * The counters of each installed prefix, from `iptables -L <chain> -v -x -n` (and ip6tables):
   * `[]` when nothing is installed. A family whose listing fails (its chain deleted behind our
   * back, the tool gone) is left out; a line that names no installed prefix is ignored.
   */
  counters(): Promise<RouteCounters[]> {
    return this.#host.serial(async () => {
      const installed = this.#installed;
      if (!installed) return [];
      const byPrefix = new Map<string, RouteCounters>();
      for (const f of installed.families) {
        const list = ["-t", "filter", "-L", filterChain(installed.iface), "-v", "-x", "-n"];
        let r: CommandResult;
        try {
          r = await this.#ipt(f, list);
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) continue;
          throw e;
        }
        if (r.code !== 0) continue;
        const mine = installed.prefixes.filter((p) => p.family === f).map((p) => p.toString());
        for (const prefix of mine) {
          byPrefix.set(prefix, { prefix, outPackets: 0, outBytes: 0, inPackets: 0, inBytes: 0 });
        }
        for (const line of parseCounters(r.stdout)) {
          const c = byPrefix.get(line.prefix);
          if (!c || !mine.includes(line.prefix)) continue;
          if (line.dir === "out") {
            c.outPackets += line.packets;
            c.outBytes += line.bytes;
          } else {
            c.inPackets += line.packets;
            c.inBytes += line.bytes;
          }
        }
      }
      // In the order of the config.
      return installed.prefixes.flatMap((p) => byPrefix.get(p.toString()) ?? []);
    });
  }

  async #apply(config: ForwardingConfig): Promise<void> {
    const { iface, sources, prefixes } = checkConfig(config);
    const families = FAMILIES.filter((f) =>
      config.families ? config.families.includes(f) : prefixes.some((p) => p.family === f)
    );
    // Both families, whatever the config: an earlier call or a crashed run may have left either.
    const stale = new Set([iface, this.#installed?.iface ?? iface]);
    this.#installed = null;
    for (const name of stale) await this.#remove(name, FAMILIES);
    const turned: Family[] = [];
    try {
      this.#installed = { iface, families, prefixes };
      for (const f of families) {
        await this.#install(f, iface, sources.filter((s) => s.family === f), prefixes, config);
      }
      // Forwarding goes on last, once the firewall is in place. A run that crashed left it on:
      // then it reads 1 and stays on at close, as nothing tells what it was before that run.
      for (const f of families) {
        const path = FORWARDING_SYSCTLS[f];
        const was = (await this.#host.sysctl.read(path)).trim();
        if (was === "1") continue;
        await this.#host.sysctl.write(path, "1");
        if (was === "0" && !this.#turnedOn.has(f)) {
          turned.push(f);
          this.#turnedOn.add(f);
        }
      }
    } catch (e) {
      // Undo, keeping the first error: the one that says what went wrong.
      this.#installed = null;
      await this.#remove(iface, FAMILIES).catch(() => {});
      await this.#restoreSysctls(turned).catch(() => {});
      throw e;
    }
  }

  async #install(
    f: Family,
    iface: string,
    sources: Cidr[],
    prefixes: Cidr[],
    config: ForwardingConfig,
  ): Promise<void> {
    const fwd = filterChain(iface), nat = natChain(iface);
    const ipt = (...args: string[]) => this.#must(f, args);
    await ipt("-N", fwd);
    // Mesh traffic in; replies out. Enough for a FORWARD policy of DROP (Docker sets one). First
    // a pair of rules per route, whose counters count its traffic: the longest prefix first, so
    // a packet counts towards the route the kernel's longest match would pick. A default route
    // (an exit node) has no `-d`/`-s`, matching what the generic pair after them would.
    const ctstate = ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"];
    const comment = (p: Cidr, dir: "out" | "in") => {
      return ["-m", "comment", "--comment", routeComment(p.toString(), dir)];
    };
    const mine = prefixes.filter((p) => p.family === f).sort((a, b) => b.bits - a.bits);
    for (const p of mine) {
      const net = p.bits === 0 ? [] : [p.toString()];
      const dst = net.flatMap((n) => ["-d", n]), src = net.flatMap((n) => ["-s", n]);
      await ipt("-A", fwd, "-i", iface, ...dst, ...comment(p, "out"), "-j", "ACCEPT");
      await ipt("-A", fwd, "-o", iface, ...src, ...ctstate, ...comment(p, "in"), "-j", "ACCEPT");
    }
    // Replies to what the host itself forwarded into the mesh; and nothing else from the mesh: a
    // member sends only where the leader approved (its allowed IPs), but one that sets its own
    // must not reach the host's other networks through it.
    await ipt("-A", fwd, "-o", iface, ...ctstate, "-j", "ACCEPT");
    await ipt("-A", fwd, "-i", iface, "-j", "DROP");
    // The jump goes in last, so packets never meet a half-built chain.
    await ipt("-I", "FORWARD", "1", "-j", fwd);
    if (!config.masquerade || sources.length === 0) return;
    await ipt("-t", "nat", "-N", nat);
    for (const s of sources) {
      for (const p of prefixes.filter((p) => p.family === f)) {
        const dst = p.bits === 0 ? [] : ["-d", p.toString()];
        // `! -o iface`: traffic between mesh nodes keeps its addresses.
        await ipt(
          "-t",
          "nat",
          "-A",
          nat,
          "-s",
          s.toString(),
          ...dst,
          "!",
          "-o",
          iface,
          "-j",
          "MASQUERADE",
        );
      }
    }
    await ipt("-t", "nat", "-I", "POSTROUTING", "1", "-j", nat);
  }

  /** Deletes the jumps and chains of `iface`; missing ones, or a missing tool, are no error. */
  async #remove(iface: string, families: readonly Family[]): Promise<void> {
    for (const f of families) {
      try {
        for (
          const [table, hook, chain] of [
            ["filter", "FORWARD", filterChain(iface)],
            ["nat", "POSTROUTING", natChain(iface)],
          ]
        ) {
          // A crashed run may have inserted the jump more than once.
          for (let i = 0; i < MAX_DUPLICATES; i++) {
            if ((await this.#ipt(f, ["-t", table, "-D", hook, "-j", chain])).code !== 0) break;
          }
          await this.#ipt(f, ["-t", table, "-F", chain]);
          await this.#ipt(f, ["-t", table, "-X", chain]);
        }
      } catch (e) {
        // Not installed: it cannot have left rules.
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  }

  async #restoreSysctls(families: Family[]): Promise<void> {
    const errors: unknown[] = [];
    for (const f of families) {
      try {
        await this.#host.sysctl.write(FORWARDING_SYSCTLS[f], "0");
        this.#turnedOn.delete(f);
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw errors[0];
  }

  /** Runs iptables/ip6tables with `-w`, so agents on one host wait for each other's lock. */
  #ipt(f: Family, args: string[]): Promise<CommandResult> {
    return this.#host.run(TOOL[f], ["-w", ...args]);
  }

  #must(f: Family, args: string[]): Promise<void> {
    return this.#host.must(
      TOOL[f],
      ["-w", ...args],
      `forwarding ${f === 4 ? "routes" : "IPv6 routes"} needs ${TOOL[f]} (to let mesh traffic ` +
        `through the firewall and masquerade it), but it is not installed: install iptables`,
    );
  }
}

/** An interface name as iptables may be given it; throws otherwise. */
function checkIface(iface: string): string {
  // Linux's rule (1-15 bytes, no `/`, `:` or whitespace, not `.`/`..`), plus no trailing `+`,
  // which iptables would read as a wildcard over every interface with that prefix.
  if (
    typeof iface !== "string" || !/^[^\s/:]+$/.test(iface) || iface === "." || iface === ".." ||
    new TextEncoder().encode(iface).length > 15 || iface.endsWith("+")
  ) {
    throw new Error(`invalid interface name ${JSON.stringify(iface)}`);
  }
  return iface;
}

/** Checks the config once, at the edge; prefixes and sources come back parsed and deduplicated. */
function checkConfig(c: ForwardingConfig): { iface: string; sources: Cidr[]; prefixes: Cidr[] } {
  const iface = checkIface(c.iface);
  const parse = (list: string[], what: string) => {
    const out = new Map<string, Cidr>();
    for (const text of list) {
      const cidr = Cidr.tryParse(text);
      if (cidr === null) {
        throw new Error(`invalid ${what} ${JSON.stringify(text)}: expected a CIDR`);
      }
      out.set(cidr.toString(), cidr);
    }
    return [...out.values()];
  };
  return { iface, sources: parse(c.sources, "source"), prefixes: parse(c.prefixes, "prefix") };
}

/** One per-route rule's counters in an `iptables -L -v -x -n` listing. */
export interface RuleCounters {
  prefix: string;
  dir: "out" | "in";
  packets: number;
  bytes: number;
}

/**
 * The counters of the per-route rules in `iptables -L <chain> -v -x -n` output: the first two
 * columns, of the lines whose comment is a {@link routeComment}. Other lines (headers, the
 * generic rules, anything unexpected) are ignored.
 */
export function parseCounters(listing: string): RuleCounters[] {
  const out: RuleCounters[] = [];
  for (const line of listing.split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s.*\/\* weft route (\S+) (out|in) \*\/\s*$/.exec(line);
    if (!m) continue;
    const packets = Number(m[1]), bytes = Number(m[2]);
    if (!Number.isSafeInteger(packets) || !Number.isSafeInteger(bytes)) continue;
    out.push({ prefix: m[3], dir: m[4] as "out" | "in", packets, bytes });
  }
  return out;
}
