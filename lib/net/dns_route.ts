/**
 * Split DNS routes (`--dns-route example.internal=198.51.100.53`): names under a domain are
 * asked of the resolvers given (often behind a subnet router) instead of the usual upstreams, as
 * NetBird's nameserver groups and Tailscale's restricted nameservers do. Parsed once at the edge.
 * @module
 */

import { formatHostPort, parseHostPort } from "./hostport.ts";
import { isIP } from "./ip.ts";
import { dnsZoneProblem } from "./names.ts";

/** A domain and the resolvers its names are asked of. */
export interface DnsRoute {
  /** The domain, lowercase with a final dot (`example.internal.`). */
  domain: string;
  /** The resolvers, `addr:port` (`[v6]:port`), tried in order. */
  upstreams: string[];
}

/** At most this many resolvers per domain. */
export const MAX_DNS_ROUTE_UPSTREAMS = 8;

/**
 * Parses `domain=addr[:port][,addr...]`; a bare address is on port 53. Throws an Error saying
 * what is wrong.
 *
 * @example
 * ```ts run
 * import { parseDnsRoute } from "@weft/weft/dns";
 * console.log(parseDnsRoute("Example.Internal=198.51.100.53").domain); // prints: example.internal.
 * ```
 */
export function parseDnsRoute(text: string): DnsRoute {
  const eq = text.indexOf("=");
  if (eq < 0) throw new Error(`"${text}" is not DOMAIN=RESOLVER[,RESOLVER]`);
  const name = text.slice(0, eq).trim().toLowerCase();
  const p = dnsZoneProblem(name);
  if (p !== undefined) throw new Error(`domain "${name}" ${p}`);
  const list = text.slice(eq + 1).split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (list.length === 0) throw new Error(`"${text}" names no resolver`);
  if (list.length > MAX_DNS_ROUTE_UPSTREAMS) {
    throw new Error(`"${text}": at most ${MAX_DNS_ROUTE_UPSTREAMS} resolvers per domain`);
  }
  const upstreams = list.map((u) => {
    const bare = u.startsWith("[") && u.endsWith("]") ? u.slice(1, -1) : u;
    if (isIP(bare)) return formatHostPort({ host: bare, port: 53 });
    try {
      return formatHostPort(parseHostPort(u, { host: "ip" }));
    } catch {
      throw new Error(`resolver "${u}" is not an IP address with an optional port`);
    }
  });
  return { domain: name.endsWith(".") ? name : `${name}.`, upstreams: [...new Set(upstreams)] };
}

/** The route whose domain holds `name` (lowercase, final dot), the longest first; or null. */
export function dnsRouteFor<T extends { domain: string }>(
  routes: readonly T[],
  name: string,
): T | null {
  let best: T | null = null;
  for (const r of routes) {
    if (name === r.domain || name.endsWith(`.${r.domain}`)) {
      if (!best || r.domain.length > best.domain.length) best = r;
    }
  }
  return best;
}
