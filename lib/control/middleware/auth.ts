/**
 * The bearer token: Hono's `bearerAuth` checks `Authorization: Bearer <token>` (in constant
 * time); the dashboard's own GETs may carry the token as `?token=` instead, because a browser's
 * `EventSource` cannot send headers and a page opened from a link has none to send.
 * @module
 */

import type { MiddlewareHandler } from "npm:hono@^4.13.19";
import { bearerAuth } from "npm:hono@^4.13.19/bearer-auth";
import { HTTPException } from "npm:hono@^4.13.19/http-exception";
import { timingSafeEqual } from "npm:hono@^4.13.19/utils/buffer";
import { HttpError } from "./errors.ts";

/** The paths whose GET may carry the token as `?token=`: the dashboard and what it loads. */
export const QUERY_TOKEN_PATHS: readonly string[] = ["/", "/status", "/events"];

/** What a bearer token may be made of (RFC 6750's b64token, as `bearerAuth` reads it). */
const TOKEN_CHARS = /^[A-Za-z0-9._~+/-]+=*$/;

/** The one answer to every refused request, whatever was wrong with it. */
export const AUTH_ERROR = "missing or wrong bearer token";

/** Options of {@link tokenAuth}. */
export interface TokenAuthOptions {
  /** The token requests must present. */
  token: string;
  /** Paths whose GET may carry it as `?token=` (default {@link QUERY_TOKEN_PATHS}). */
  queryTokenPaths?: readonly string[];
}

/**
 * Requires the token: in `Authorization: Bearer <token>`, or on a GET of one of the query-token
 * paths as `?token=`. Every refusal is 401 `{"error": "missing or wrong bearer token"}`. Throws
 * at once on a token no `Authorization` header could carry.
 */
export function tokenAuth(opts: TokenAuthOptions): MiddlewareHandler {
  const { token } = opts;
  if (!TOKEN_CHARS.test(token)) {
    throw new Error("the control token must be letters, digits and -._~+/ (then = padding)");
  }
  const queryPaths = new Set(opts.queryTokenPaths ?? QUERY_TOKEN_PATHS);
  const bearer = bearerAuth({ token });
  const nothingMore = (): Promise<void> => Promise.resolve();
  return async (c, next) => {
    const query = c.req.method === "GET" && queryPaths.has(c.req.path)
      ? c.req.query("token")
      : undefined;
    if (query === undefined || !(await timingSafeEqual(query, token))) {
      try {
        // The check alone: the rest of the chain runs below, outside this try.
        await bearer(c, nothingMore);
      } catch (e) {
        // bearerAuth answers a malformed header 400 and adds a challenge header; this server
        // has always answered every refusal alike, 401 with its JSON error.
        if (e instanceof HTTPException) throw new HttpError(401, AUTH_ERROR);
        throw e;
      }
    }
    await next();
  };
}
