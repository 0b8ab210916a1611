/**
 * `HOST:PORT` pairs as users write them (flags, files, tokens): parsed and checked once into a
 * {@link HostPort}, written back with brackets around IPv6 addresses.
 * @module
 */

import { parseAddressV4, parseAddressV6 } from "./ip.ts";
import { isDnsName } from "./names.ts";
import { quote } from "../text/quote.ts";

const isIPv4 = (t: string) => parseAddressV4(t) !== null;
const isIPv6 = (t: string) => parseAddressV6(t) !== null;

/** A `HOST:PORT` pair. */
export interface HostPort {
  /** An IPv4 address, an IPv6 address (no brackets) or a DNS host name, lowercased. */
  host: string;
  /** The port number. */
  port: number;
}

/**
 * Parses `HOST:PORT` where HOST is an IPv4 address, `[IPv6]` or a DNS name and PORT an integer
 * from `minPort` to 65535. Throws an Error whose message says what is wrong.
 */
export function parseHostPort(text: string, minPort = 1): HostPort {
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") {
      throw new Error(`${quote(text)} is not [IPV6]:PORT`);
    }
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIPv6(host)) throw new Error(`${quote(host)} is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) throw new Error(`${quote(text)} has no port: expected HOST:PORT`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) {
      throw new Error(`IPv6 addresses need brackets, as in [${host}]:${portText}`);
    }
    if (!isIPv4(host) && !isDnsName(host)) {
      throw new Error(`${quote(host)} is not an IP address or a host name`);
    }
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < minPort || Number(portText) > 65535) {
    throw new Error(`bad port ${JSON.stringify(portText)} (${minPort} to 65535)`);
  }
  return { host: host.toLowerCase(), port: Number(portText) };
}

/** Writes a `HostPort` back as text, with brackets around an IPv6 address. */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** Whether `host` only reaches this machine: 127.0.0.0/8, ::1 or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h === "localhost.") return true;
  if (isIPv4(h)) return h.startsWith("127.");
  const bytes = parseAddressV6(h);
  return bytes !== null && bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}

/** Splits `host:port` (IPv6 in brackets) into host text and a port; throws a clear Error. */
export function splitHostPort(text: string): { host: string; port: number } {
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") {
      throw new Error(`invalid endpoint "${text}": expected [IPv6]:port`);
    }
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) throw new Error(`invalid endpoint "${text}": expected host:port`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) {
      throw new Error(`invalid endpoint "${text}": IPv6 addresses need brackets, as [addr]:port`);
    }
  }
  if (!/^[0-9]{1,5}$/.test(portText)) {
    throw new Error(`invalid endpoint "${text}": bad port "${portText}"`);
  }
  const port = Number(portText);
  if (port < 1 || port > 65535) {
    throw new Error(`invalid endpoint "${text}": port must be 1-65535`);
  }
  return { host, port };
}
