/**
 * HTTP proxies as command-line tools take them: the proxy's URL (`http://user:pass@host:port`)
 * and the `NO_PROXY` list of hosts reached without it, parsed once into typed values, and where
 * they come from in the environment.
 *
 * The rules (curl's, which every command-line tool follows more or less; Go's httpproxy differs
 * where said):
 * - The proxy: `https_proxy`, else `HTTPS_PROXY`, else `all_proxy`, else `ALL_PROXY`; the
 *   lowercase name wins when both are set (curl; Go reads the uppercase one first). An empty
 *   value counts as unset. weft's connections are not HTTP requests, so `http_proxy` is not read:
 *   the CONNECT tunnel is what an HTTPS client asks its proxy for.
 * - A URL without a scheme is `http://` (curl and Go). Without a port it is 1080 (curl's default
 *   proxy port; Go takes the scheme's, 80). `https://` (TLS to the proxy) and `socks*://` are
 *   refused with a clear error: not supported.
 * - Credentials in the URL are percent-decoded and sent as `Proxy-Authorization: Basic`; they
 *   never appear in {@link proxyLabel}, the only text logs and status show.
 * - `no_proxy`, else `NO_PROXY`: a comma list (spaces around entries ignored, empty ones
 *   skipped); `*` alone bypasses the proxy for everything; an IP address or a CIDR matches the
 *   addresses in it; any other entry is a domain name matching itself and every name under it,
 *   with or without a leading dot (curl; Go matches only the names under it with a dot); an entry
 *   may end in `:port` (`[v6]:port` for IPv6), then it matches that port only. Case is ignored.
 *   This host's loopback (`localhost`, 127.0.0.0/8, ::1) is never proxied (Go's rule; curl
 *   would send it to the proxy, which cannot reach it).
 * @module
 */

import { Cidr, maskBytes } from "./cidr.ts";
import { parseAddress } from "./ip.ts";
import { formatHostPort, isLoopbackHost } from "./hostport.ts";

/** A proxy to dial through, parsed from its URL. */
export interface ProxyUrl {
  /** The scheme: plain TCP to the proxy. */
  scheme: "http";
  /** The proxy's host: an IP address (IPv6 without brackets) or a host name, lowercase. */
  host: string;
  /** The proxy's port. */
  port: number;
  /** The user name, percent-decoded; absent without credentials. */
  username?: string;
  /** The password, percent-decoded; absent without credentials. */
  password?: string;
}

/**
 * One entry of a `NO_PROXY` list: every host; the addresses of a network (`network`, 4 or 16
 * bytes with the host bits cleared, and its prefix length); a domain name and the names under it.
 * With `port`, only that port.
 */
export type NoProxyRule =
  | { kind: "all" }
  | { kind: "cidr"; network: Uint8Array; bits: number; port?: number }
  | { kind: "domain"; name: string; port?: number };

/** A proxy and the hosts reached without it. */
export interface ProxySetting {
  /** The proxy. */
  url: ProxyUrl;
  /** The hosts reached directly (`NO_PROXY`). */
  bypass: NoProxyRule[];
  /** Where the proxy came from: the environment variable's name, or `proxy` (the option). */
  from: string;
}

/** Reads one environment variable; undefined when unset. */
export type EnvReader = (name: string) => string | undefined;

/** The proxy URL's default port (curl's). */
export const DEFAULT_PROXY_PORT = 1080;

/** The variables naming the proxy, in the order they are read. */
export const PROXY_ENV = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] as const;

/** The variables naming the hosts reached without the proxy, in the order they are read. */
export const NO_PROXY_ENV = ["no_proxy", "NO_PROXY"] as const;

/** Percent-decodes a URL's user or password; throws naming a bad escape. */
function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new Error(`the proxy's ${what} has a bad %-escape`);
  }
}

/**
 * Parses a proxy URL (`http://[user[:password]@]host[:port][/]`; no scheme: `http://`); throws an
 * Error saying what is wrong, without repeating the credentials.
 */
export function parseProxyUrl(text: string): ProxyUrl {
  const t = text.trim();
  if (t === "") throw new Error("the proxy URL is empty");
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(t);
  const scheme = m ? m[1].toLowerCase() : "http";
  const rest = m ? t.slice(m[0].length) : t;
  if (scheme === "https") {
    throw new Error("https:// proxies (TLS to the proxy) are not supported: give an http:// proxy");
  }
  if (scheme !== "http") {
    throw new Error(`${scheme}:// proxies are not supported: give an http:// proxy`);
  }
  // The authority ends at the first `/`, `?` or `#`; a path of `/` alone is what tools write.
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const tail = end < 0 ? "" : rest.slice(end);
  if (tail !== "" && tail !== "/") {
    throw new Error("a proxy URL has no path, query or fragment: give http://host:port");
  }
  const at = authority.lastIndexOf("@");
  const userinfo = at < 0 ? null : authority.slice(0, at);
  const hostPort = at < 0 ? authority : authority.slice(at + 1);
  let host: string;
  let portText: string | undefined;
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]");
    host = close < 0 ? "" : hostPort.slice(1, close);
    const after = close < 0 ? "" : hostPort.slice(close + 1);
    if (close < 0 || (after !== "" && !after.startsWith(":")) || !isV6(host)) {
      throw new Error(`the proxy's host ${JSON.stringify(hostPort)} is not [IPv6]:port`);
    }
    portText = after === "" ? undefined : after.slice(1);
  } else {
    const colon = hostPort.lastIndexOf(":");
    host = colon < 0 ? hostPort : hostPort.slice(0, colon);
    portText = colon < 0 ? undefined : hostPort.slice(colon + 1);
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9.])?$/.test(host)) {
      throw new Error(`the proxy's host ${JSON.stringify(host)} is not a host name or address`);
    }
  }
  let port = DEFAULT_PROXY_PORT;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^[0-9]{1,5}$/.test(portText) || port < 1 || port > 65535) {
      throw new Error(`the proxy's port ${JSON.stringify(portText)} is not 1 to 65535`);
    }
  }
  const url: ProxyUrl = { scheme: "http", host: host.toLowerCase(), port };
  if (userinfo !== null) {
    const colon = userinfo.indexOf(":");
    url.username = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), "user name");
    url.password = decode(colon < 0 ? "" : userinfo.slice(colon + 1), "password");
  }
  return url;
}

function isV6(text: string): boolean {
  return parseAddress(text)?.length === 16;
}

/** The proxy as logs and status show it: `http://host:port`, never its credentials. */
export function proxyLabel(url: ProxyUrl): string {
  return `${url.scheme}://${formatHostPort(url)}`;
}

/** The `Proxy-Authorization` header's value for a URL with credentials; undefined without. */
export function proxyAuthorization(url: ProxyUrl): string | undefined {
  if (url.username === undefined) return undefined;
  const bytes = new TextEncoder().encode(`${url.username}:${url.password ?? ""}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

/** Splits `entry` into a host and a port, when it ends in one; `[v6]:port` for IPv6. */
function splitPort(entry: string): { host: string; port?: number } {
  if (entry.startsWith("[")) {
    const close = entry.indexOf("]");
    if (close > 0) {
      const host = entry.slice(1, close);
      const after = entry.slice(close + 1);
      const p = /^:([0-9]{1,5})$/.exec(after);
      if (p && Number(p[1]) <= 65535) return { host, port: Number(p[1]) };
      if (after === "") return { host };
    }
    return { host: entry };
  }
  const colon = entry.lastIndexOf(":");
  // More than one colon: an IPv6 address (or CIDR) without brackets, no port.
  if (colon < 0 || entry.indexOf(":") !== colon) return { host: entry };
  const p = entry.slice(colon + 1);
  if (!/^[0-9]{1,5}$/.test(p) || Number(p) > 65535) return { host: entry };
  return { host: entry.slice(0, colon), port: Number(p) };
}

/**
 * Parses a `NO_PROXY` list (see the module doc); throws on an entry that looks like an address
 * but is not a valid one (`10.0.0.0/33`), which would otherwise silently match nothing.
 */
export function parseNoProxy(text: string): NoProxyRule[] {
  const out: NoProxyRule[] = [];
  for (const raw of text.split(",")) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") {
      out.push({ kind: "all" });
      continue;
    }
    const { host, port } = splitPort(entry);
    const withPort = port === undefined ? {} : { port };
    const ipLike = /^[0-9.]+(\/[0-9]+)?$/.test(host) ||
      /^[0-9a-f:.]*:[0-9a-f:.]*(\/[0-9]+)?$/.test(host);
    if (ipLike) {
      try {
        const c = Cidr.parse(host);
        out.push({ kind: "cidr", network: c.network, bits: c.bits, ...withPort });
      } catch (e) {
        throw new Error(`NO_PROXY entry ${JSON.stringify(raw.trim())}: ${(e as Error).message}`);
      }
      continue;
    }
    const name = host.replace(/^\*?\./, "").replace(/\.$/, "");
    if (name === "" || /[\s/@[\]]/.test(name)) {
      throw new Error(`NO_PROXY entry ${JSON.stringify(raw.trim())} is not a name or an address`);
    }
    out.push({ kind: "domain", name, ...withPort });
  }
  return out;
}

/**
 * Whether `host:port` is reached without the proxy under `rules`. This host's own loopback
 * (`localhost`, 127.0.0.0/8, ::1) always is, as in Go: the proxy could not reach it.
 */
export function bypassesProxy(rules: readonly NoProxyRule[], host: string, port: number): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  if (isLoopbackHost(h)) return true;
  const address = parseAddress(h);
  for (const r of rules) {
    if (r.kind === "all") return true;
    if (r.port !== undefined && r.port !== port) continue;
    if (r.kind === "cidr") {
      if (address !== null && address.length === r.network.length && inNetwork(address, r)) {
        return true;
      }
    } else if (address === null && (h === r.name || h.endsWith(`.${r.name}`))) {
      return true;
    }
  }
  return false;
}

/** Whether `address` (as long as the rule's network) is in the rule's network. */
function inNetwork(address: Uint8Array, r: { network: Uint8Array; bits: number }): boolean {
  const masked = maskBytes(address.slice(), r.bits);
  return masked.every((b, i) => b === r.network[i]);
}

/** The first of `names` set to a non-empty value, with its name. */
function firstSet(
  env: EnvReader,
  names: readonly string[],
): { name: string; value: string } | null {
  for (const name of names) {
    const value = env(name);
    if (value !== undefined && value.trim() !== "") return { name, value };
  }
  return null;
}

/** The `NO_PROXY` list of the environment (empty when unset); throws naming the variable. */
export function noProxyFromEnv(env: EnvReader): NoProxyRule[] {
  const set = firstSet(env, NO_PROXY_ENV);
  if (set === null) return [];
  try {
    return parseNoProxy(set.value);
  } catch (e) {
    throw new Error(`${set.name}: ${(e as Error).message}`);
  }
}

/**
 * The proxy the environment names (see the module doc for which variable wins), with its
 * `NO_PROXY` list; null when none is set. Throws an Error naming the variable and what is wrong.
 */
export function proxyFromEnv(env: EnvReader): ProxySetting | null {
  const set = firstSet(env, PROXY_ENV);
  if (set === null) return null;
  let url: ProxyUrl;
  try {
    url = parseProxyUrl(set.value);
  } catch (e) {
    throw new Error(
      `${set.name}: ${(e as Error).message} (--proxy none, or proxy: none, ignores it)`,
    );
  }
  return { url, bypass: noProxyFromEnv(env), from: set.name };
}
