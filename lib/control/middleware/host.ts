/**
 * DNS rebinding: a page elsewhere can point its own name at 127.0.0.1 and then read a loopback
 * server as same-origin. A loopback listener therefore answers only to a `Host` it knows.
 * @module
 */

import type { MiddlewareHandler } from "npm:hono@^4.13.19";
import { isLoopbackHost } from "../../net/hostport.ts";

/**
 * Whether a host name (brackets off) is a loopback name or address: `localhost`, an IPv4 address
 * in 127.0.0.0/8 or ::1. Parsed as an address, not matched by prefix: `127.0.0.1.rebind.example`
 * is a name an attacker controls.
 */
export function isLoopback(host: string): boolean {
  return isLoopbackHost(host);
}

/** The host name of a `Host` header (brackets and port taken off, lower case), or null. */
export function hostOfHeader(value: string): string | null {
  const m = /^\[([0-9a-fA-F:.]+)\](?::\d{1,5})?$/.exec(value) ??
    /^([^:\[\]]+)(?::\d{1,5})?$/.exec(value);
  return m ? m[1].toLowerCase().replace(/\.$/, "") : null;
}

/**
 * Refuses with 421 a request whose `Host` header names a host `allowHost` does not accept (or
 * cannot be read), so a DNS-rebound name reads nothing. A request without `Host` (HTTP/1.0)
 * passes: a browser always sends one.
 */
export function hostCheck(allowHost: (host: string) => boolean): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header("host");
    if (header !== undefined) {
      const host = hostOfHeader(header);
      if (host === null || !allowHost(host)) {
        return c.json({ error: "this server answers only to its loopback names" }, 421);
      }
    }
    await next();
  };
}

/**
 * The host names a loopback listener on `listenHost` (lower case, no brackets) answers to: its
 * own, and any loopback name. A listener that is not loopback checks no host (every route there
 * needs the token).
 */
export function loopbackNames(listenHost: string): (host: string) => boolean {
  return (h) => h === listenHost || isLoopback(h) || h === "[::1]";
}
