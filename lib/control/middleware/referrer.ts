/**
 * `Referrer-Policy: no-referrer` on every response: a page that leaks no URL cannot leak the
 * dashboard's `?token=` in one either.
 * @module
 */

import type { MiddlewareHandler } from "npm:hono@^4.13.19";

/** Sets `Referrer-Policy: no-referrer` on every response, refusals and streams included. */
export function noReferrer(): MiddlewareHandler {
  return async (c, next) => {
    // Responses built from the context (errors included) carry it from here...
    c.header("referrer-policy", "no-referrer");
    await next();
    // ...and those a handler builds itself (the event and datagram streams) get it here.
    c.res.headers.set("referrer-policy", "no-referrer");
  };
}
