/**
 * Who may use the control routes: a request over the agent's unix socket (the operating system
 * let only the socket's owner connect), or one with the bearer token (compared in constant time).
 * The dashboard's own GETs may carry the token as `?token=` instead, because a browser's
 * `EventSource` cannot send headers and a page opened from a link has none to send. A read-only
 * monitoring token opens the GETs of `/status` and `/metrics` and nothing else.
 * @module
 */

import type { Context, MiddlewareHandler } from "npm:hono@^4.13.19";
import { timingSafeEqual } from "npm:hono@^4.13.19/utils/buffer";
import { HttpError } from "./errors.ts";

/** The paths whose GET may carry the token as `?token=`: the dashboard and what it loads. */
export const QUERY_TOKEN_PATHS: readonly string[] = ["/", "/status", "/events"];

/** The paths whose GET the monitoring token opens: what a scraper or a health check reads. */
export const MONITOR_PATHS: readonly string[] = ["/status", "/metrics"];

/** What a bearer token may be made of (RFC 6750's b64token). */
const TOKEN_CHARS = /^[A-Za-z0-9._~+/-]+=*$/;

/** `Authorization: Bearer <b64token>`, as RFC 6750 writes it (the scheme in any case). */
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/** The one answer to every refused request, whatever was wrong with it. */
export const AUTH_ERROR = "missing or wrong bearer token";

/** The Hono `env` of a request that came over the agent's unix socket (see {@link isLocal}). */
export const LOCAL_ENV: { readonly local: true } = { local: true };

/** Whether the request came over the agent's unix socket, whose owner alone can connect. */
export function isLocal(c: Context): boolean {
  return (c.env as { local?: unknown } | undefined)?.local === true;
}

/** A token, or a function that gives the one in force now (a rotated token: the new one). */
export type TokenSource = string | (() => string | undefined);

/** Options of {@link tokenAuth}. */
export interface TokenAuthOptions {
  /** The token requests must present; none (undefined) refuses every request but local ones. */
  token: TokenSource | undefined;
  /** The read-only monitoring token, for GETs of {@link MONITOR_PATHS} only. */
  monitorToken?: TokenSource;
  /** Paths whose GET may carry it as `?token=` (default {@link QUERY_TOKEN_PATHS}). */
  queryTokenPaths?: readonly string[];
}

/** Checks a token's characters: throws on one no `Authorization` header could carry. */
export function checkTokenChars(token: string): string {
  if (!TOKEN_CHARS.test(token)) {
    throw new Error("the control token must be letters, digits and -._~+/ (then = padding)");
  }
  return token;
}

function current(source: TokenSource | undefined): string | undefined {
  return typeof source === "function" ? source() : source;
}

async function matches(given: string | undefined, want: string | undefined): Promise<boolean> {
  return given !== undefined && want !== undefined && await timingSafeEqual(given, want);
}

/**
 * Requires the token: in `Authorization: Bearer <token>`, or on a GET of one of the query-token
 * paths as `?token=`; the monitoring token on a GET of {@link MONITOR_PATHS}. A request over the
 * unix socket passes. Every refusal is 401 `{"error": "missing or wrong bearer token"}`. Throws at
 * once on a fixed token no `Authorization` header could carry.
 */
export function tokenAuth(opts: TokenAuthOptions): MiddlewareHandler {
  for (const t of [opts.token, opts.monitorToken]) if (typeof t === "string") checkTokenChars(t);
  const queryPaths = new Set(opts.queryTokenPaths ?? QUERY_TOKEN_PATHS);
  const monitorPaths = new Set(MONITOR_PATHS);
  return async (c, next) => {
    if (isLocal(c)) return await next();
    const token = current(opts.token);
    const read = c.req.method === "GET" || c.req.method === "HEAD";
    const query = c.req.method === "GET" && queryPaths.has(c.req.path)
      ? c.req.query("token")
      : undefined;
    const bearer = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
    const ok = await matches(query, token) || await matches(bearer, token) ||
      (read && monitorPaths.has(c.req.path) && await matches(bearer, current(opts.monitorToken)));
    if (!ok) throw new HttpError(401, AUTH_ERROR);
    await next();
  };
}
