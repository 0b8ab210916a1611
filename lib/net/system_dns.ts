/**
 * The host's resolver pointed at weft (`--accept-dns`): the vocabulary shared by the part that
 * serves the names and the driver that configures the host. Three ways to configure a Linux
 * host, as Tailscale and wg-quick do: systemd-resolved (per-link DNS and routing domain: only
 * the zone's names come to weft), `resolvconf` (a record of weft's interface), or the
 * resolv.conf file itself (rewritten in place, the original kept to put back). The pure parts
 * (reading a resolv.conf, the text written, the choice of mode) live here; the host's programs
 * and files are the driver's.
 * @module
 */

import { parseAddress } from "./ip.ts";

/** How the host's resolver was pointed at weft. */
export type SystemDnsMode = "resolved" | "resolvconf" | "file";

/**
 * resolvconf's record name for an interface: with Debian's resolvconf, the first `name*` pattern
 * of its interface-order file prefixes it (`tun.wg0`), so the record sorts with VPNs; else the
 * name.
 */
export function resolvconfRecord(interfaceName: string, order: string | null): string {
  for (const line of (order ?? "").split("\n")) {
    const m = /^([A-Za-z0-9-]+)\*$/.exec(line.trim());
    if (m) return `${m[1]}.${interfaceName}`;
  }
  return interfaceName;
}

/** The text given to `resolvconf -a`: one `nameserver` line per server, then `search`. */
export function resolvconfText(servers: readonly string[], search: readonly string[]): string {
  const lines = servers.map((s) => `nameserver ${s}`);
  if (search.length > 0) lines.push(`search ${search.join(" ")}`);
  return lines.join("\n") + "\n";
}

/** The modes, in the order they are preferred. */
export const SYSTEM_DNS_MODES: readonly SystemDnsMode[] = ["resolved", "resolvconf", "file"];

/** What the host's resolver is pointed at. */
export interface SystemDnsSettings {
  /** The overlay interface (systemd-resolved's link, resolvconf's record). */
  iface: string;
  /** weft's DNS server on port 53: the node's own overlay address. */
  server: string;
  /** The mesh's zone, without the final dot (`overlay.local`): the search and routing domain. */
  zone: string;
}

/** The host's resolver before weft changed it: what names outside the zone are forwarded to. */
export interface HostResolvers {
  /** The mode the host calls for. */
  mode: SystemDnsMode;
  /** The resolvers the host used (resolv.conf's `nameserver` lines), in order. */
  nameservers: string[];
}

/**
 * What is kept in the state directory while the host's resolver points at weft: enough for the
 * next start to put the host back after a crash. Bytes are base64.
 */
export interface SavedSystemDns {
  /** The mode applied. */
  mode: SystemDnsMode;
  /** The interface (resolved's link, resolvconf's record is derived from it). */
  iface: string;
  /** resolvconf: the record name given to `resolvconf -a`. */
  record?: string;
  /** file: the path rewritten. */
  path?: string;
  /** file: the bytes that were there, to write back. */
  original?: string;
  /** file: the bytes weft wrote, so a file someone changed since is left alone. */
  written?: string;
}

/** Where a {@link SavedSystemDns} is kept (the state directory); written atomically. */
export interface SystemDnsKeep {
  /** The saved record, or null when none (a clean stop removed it). */
  load(): Promise<SavedSystemDns | null>;
  /** Saves the record, atomically, before the host is changed. */
  save(saved: SavedSystemDns): Promise<void>;
  /** Removes the record once the host is back as it was. */
  clear(): Promise<void>;
}

/** Configures the host's resolver (a driver: `drivers/linux/system_dns.ts`). */
export interface SystemDns {
  /** Reads the host's resolver as it is now: the mode it calls for and its resolvers. */
  detect(): Promise<HostResolvers>;
  /** Points the host's resolver at `settings.server`, saving what it changes first. */
  apply(settings: SystemDnsSettings, mode: SystemDnsMode): Promise<void>;
  /**
   * Puts back what {@link apply} changed, this run's or a crashed one's (from the keep); null
   * when there was nothing to put back. The keep is cleared once the host is as it was.
   */
  restore(): Promise<SystemDnsRestored | null>;
}

/** What {@link SystemDns.restore} did. */
export interface SystemDnsRestored {
  /** The mode that was undone. */
  mode: SystemDnsMode;
  /**
   * Why the host's file was not written back: someone changed it after weft (a DHCP client, a
   * user); theirs is kept.
   */
  leftAlone?: string;
}

/** The parts of a resolv.conf text that matter here. */
export interface ResolvConf {
  /** `nameserver` addresses in order (IPv6 with a zone index skipped). */
  nameservers: string[];
  /** The `search` (or `domain`) list; the last such line wins, as in glibc. */
  search: string[];
  /** The `options` lines, verbatim. */
  options: string[];
}

/** Reads a resolv.conf text (comments after `#` or `;`). */
export function parseResolvConfText(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === "nameserver" && rest.length === 1) {
      if (!rest[0].includes("%") && parseAddress(rest[0]) !== null) out.nameservers.push(rest[0]);
    } else if (key === "search" || key === "domain") {
      out.search = rest.filter((s) => s !== "");
    } else if (key === "options" && rest.length) {
      out.options.push(line);
    }
  }
  return out;
}

/** The first line of the file weft writes: says who wrote it and that it goes back. */
export const WRITTEN_HEADER =
  "# written by weft (--accept-dns): the mesh's names and every other name through weft;";

/** glibc before 2.26 reads at most 6 search domains: the zone must be among them. */
const MAX_SEARCH = 6;

/**
 * The search list while the host asks weft: the host's own domains first, then the zone (at most
 * {@link MAX_SEARCH}, the zone always kept). A member's name then never captures a short name
 * the host's own domains answer: `vault` is `vault.lab.example` when that exists, the member
 * `vault` only when none of the host's domains has it.
 */
export function searchWithZone(own: readonly string[], zone: string): string[] {
  const norm = (d: string) => d.toLowerCase().replace(/\.$/, "");
  const z = norm(zone);
  return [...own.filter((d) => norm(d) !== z).slice(0, MAX_SEARCH - 1), zone];
}

/**
 * The resolv.conf weft writes in file mode: weft's server alone (it forwards everything outside
 * the zone to the original resolvers), the original's search domains and then the zone (see
 * {@link searchWithZone}), and the original's options.
 */
export function resolvConfText(original: string, settings: SystemDnsSettings): string {
  const was = parseResolvConfText(original);
  return [
    WRITTEN_HEADER,
    "# the original comes back when weft stops.",
    `nameserver ${settings.server}`,
    `search ${searchWithZone(was.search, settings.zone).join(" ")}`,
    ...was.options,
  ].join("\n") + "\n";
}

/** The text of a resolv.conf managed by systemd-resolved (its stub or its generated file). */
export function managedByResolved(text: string): boolean {
  return /managed by man:systemd-resolved/.test(text) ||
    parseResolvConfText(text).nameservers.includes("127.0.0.53");
}

/** The text of a resolv.conf generated by resolvconf (Debian's or openresolv). */
export function managedByResolvconf(text: string): boolean {
  return /^#.*generated by (resolvconf|\/usr\/sbin\/resolvconf)/im.test(text) ||
    /^# Generated by resolvconf/m.test(text);
}

/** What {@link chooseSystemDnsMode} looks at. */
export interface SystemDnsFacts {
  /** The resolv.conf text now. */
  text: string;
  /** Whether systemd-resolved runs (its runtime directory) and `resolvectl` is installed. */
  resolved: boolean;
  /** Whether `resolvconf` is installed. */
  resolvconf: boolean;
}

/**
 * The mode the host calls for. A file that says who manages it decides: systemd-resolved's
 * (when it runs), resolvconf's (when installed); any other file is rewritten. Deciding by the
 * file, not only by the programs installed, keeps a namespace with a resolv.conf of its own
 * (`ip netns exec`, containers) from reconfiguring the host's resolver.
 */
export function chooseSystemDnsMode(facts: SystemDnsFacts): SystemDnsMode {
  if (facts.resolved && managedByResolved(facts.text)) return "resolved";
  if (facts.resolvconf && managedByResolvconf(facts.text)) return "resolvconf";
  return "file";
}

/** The resolvers to forward to: the host's, without weft's own server (a loop). */
export function upstreamsFrom(nameservers: readonly string[], server: string): string[] {
  return nameservers.filter((n) => n !== server);
}
