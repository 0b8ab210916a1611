/**
 * `HOST:PORT` pairs, wherever they come from (flags, the YAML file, tokens, wg-quick files, UAPI,
 * the wire): {@link parseHostPort} is the one parser. Callers say what a host may be with
 * {@link HostPortRules}, and may phrase errors their own way from {@link HostPortError.code};
 * {@link formatHostPort} writes a pair back with brackets around IPv6 addresses.
 * @module
 */

import { isIPv4, isIPv6, parseAddressV6 } from "./ip.ts";
import { isDnsName } from "./names.ts";
import { quote } from "../text/quote.ts";

/** A `HOST:PORT` pair. */
export interface HostPort {
  /**
   * An IPv4 address, an IPv6 address (no brackets; a `%zone` only where the rules allow one) or
   * a DNS host name, lowercased (a zone keeps its case: interface names are case-sensitive).
   */
  host: string;
  /** The port number. */
  port: number;
}

/** What {@link parseHostPort} accepts beyond `IPv4:PORT` and `[IPv6]:PORT`. */
export interface HostPortRules {
  /** The lowest port: 1 (the default), or 0 where 0 means "any free port" (a listener). */
  minPort?: number;
  /**
   * What an unbracketed host may be: `ip`, an IPv4 address only (sockets, UAPI); `name` (the
   * default), also a DNS host name (flags, files, the wire); `any`, any text without spaces or
   * brackets, for reading endpoints back from tokens and records made elsewhere, where the
   * resolver has the last word on a name.
   */
  host?: "ip" | "name" | "any";
  /** Host names may hold `_` (wg-quick files: wg hands them to the system resolver). */
  underscore?: boolean;
  /** A bracketed IPv6 address may carry a `%zone` (wg-quick files). */
  zone?: boolean;
}

/** Which part of a `HOST:PORT` text is wrong. */
export type HostPortProblem =
  /** Starts with `[` but has no `]:`. */
  | "brackets"
  /** Bracketed, but not an IPv6 address. */
  | "ipv6"
  /** No `:` at all. */
  | "no-port"
  /** A `:` in an unbracketed host: an IPv6 address without brackets. */
  | "unbracketed"
  /** The host is not one the rules allow. */
  | "host"
  /** The port is not a number from the lowest port to 65535. */
  | "port";

/** A `HOST:PORT` text that {@link parseHostPort} refused; the message says why. */
export class HostPortError extends Error {
  /** Which part is wrong, for callers that phrase the error themselves. */
  readonly code: HostPortProblem;
  /** The whole text. */
  readonly text: string;
  /** The host part as written (empty when there is none). */
  readonly host: string;
  /** The port part as written (empty when there is none). */
  readonly portText: string;

  /** Builds the error; `message` is the default phrasing. */
  constructor(
    code: HostPortProblem,
    parts: { text: string; host?: string; portText?: string },
    message: string,
  ) {
    super(message);
    this.name = "HostPortError";
    this.code = code;
    this.text = parts.text;
    this.host = parts.host ?? "";
    this.portText = parts.portText ?? "";
  }
}

// Linux interface names and numeric scope ids; the kernel allows 15 characters.
const ZONE_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * Parses `IPv4:PORT`, `[IPv6]:PORT` or `NAME:PORT` under `rules` (default: a DNS host name or
 * an IP address, port 1 to 65535). Throws a {@link HostPortError} saying what is wrong.
 */
export function parseHostPort(text: string, rules: HostPortRules = {}): HostPort {
  const minPort = rules.minPort ?? 1;
  let host: string;
  let portText: string;
  let zone = "";
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") {
      throw new HostPortError("brackets", { text }, `${quote(text)} is not [IPV6]:PORT`);
    }
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    const pct = rules.zone ? host.indexOf("%") : -1;
    if (pct >= 0) zone = host.slice(pct);
    const address = pct >= 0 ? host.slice(0, pct) : host;
    if (!isIPv6(address) || (pct >= 0 && !ZONE_RE.test(zone.slice(1)))) {
      throw new HostPortError(
        "ipv6",
        { text, host, portText },
        `${quote(host)} is not an IPv6 address`,
      );
    }
    host = address;
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) {
      throw new HostPortError(
        "no-port",
        { text },
        `${quote(text)} has no port: expected HOST:PORT`,
      );
    }
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) {
      throw new HostPortError(
        "unbracketed",
        { text, host, portText },
        `IPv6 addresses need brackets, as in [${host}]:${portText}`,
      );
    }
    const problem = hostProblem(host, rules);
    if (problem !== undefined) {
      throw new HostPortError("host", { text, host, portText }, `${quote(host)} ${problem}`);
    }
  }
  const port = Number(portText);
  if (!/^[0-9]{1,5}$/.test(portText) || port < minPort || port > 65535) {
    throw new HostPortError(
      "port",
      { text, host, portText },
      `bad port ${JSON.stringify(portText)} (${minPort} to 65535)`,
    );
  }
  return { host: host.toLowerCase() + zone, port };
}

/** Why an unbracketed `host` is not one `rules` allow, as a phrase; undefined if it is. */
function hostProblem(host: string, rules: HostPortRules): string | undefined {
  switch (rules.host ?? "name") {
    case "ip":
      return isIPv4(host) ? undefined : "is not an IP address";
    case "name":
      return isIPv4(host) || isDnsName(host, { underscore: rules.underscore })
        ? undefined
        : "is not an IP address or a host name";
    case "any":
      return host !== "" && !/[\s[\]]/.test(host) ? undefined : "is not a host";
  }
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
