/**
 * 405 from the routes themselves: a path an app serves, asked with a method it does not serve,
 * is answered 405 with `Allow` naming the methods registered for it, rather than 404.
 * @module
 */

import type { Env, Hono } from "npm:hono@^4.13.19";
import { clip } from "./errors.ts";

/**
 * Adds to `app`, after its routes, a fallback on each path it serves that answers 405 with
 * `Allow`: the methods come from `app.routes`, so they cannot drift from the handlers. Call it
 * last, once every route (mounted sub-apps included) is registered; apps mounted side by side
 * must not serve the same path, or the first one's fallback would hide the other's handlers.
 */
export function answerWrongMethods<E extends Env>(app: Hono<E>): Hono<E> {
  const byPath = new Map<string, string[]>();
  for (const r of app.routes) {
    // "ALL" is middleware (`use`) and fallbacks, which serve no method of their own.
    if (r.method === "ALL") continue;
    const methods = byPath.get(r.path) ?? [];
    if (!methods.includes(r.method)) methods.push(r.method);
    byPath.set(r.path, methods);
  }
  for (const [path, methods] of byPath) {
    const allow = methods.join(", ");
    // Registered after the handlers: a served method is answered before this runs.
    app.all(
      path,
      (c) =>
        c.json({ error: clip(`${c.req.method} is not allowed on ${c.req.path}`) }, 405, { allow }),
    );
  }
  return app;
}
