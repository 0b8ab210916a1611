/**
 * JSON endpoints take JSON only. A web page may POST `text/plain` (or a form) to any address
 * without asking first; `application/json` from another origin needs a CORS preflight, which this
 * server never grants. Refusing other types keeps a page's request from reaching a route at all.
 * @module
 */

import type { MiddlewareHandler } from "npm:hono@^4.13.19";
import { HttpError } from "./errors.ts";

/** The methods whose body the routes read. */
const WITH_BODY = new Set(["POST", "PUT", "PATCH"]);

/** Whether a `Content-Type` value is JSON (`application/json`, any parameters, any case). */
export function isJsonType(value: string | undefined): boolean {
  return value !== undefined &&
    value.split(";")[0].trim().toLowerCase() === "application/json";
}

/** Refuses with 415 a POST, PUT or PATCH whose `Content-Type` is not `application/json`. */
export function jsonOnly(): MiddlewareHandler {
  return async (c, next) => {
    if (WITH_BODY.has(c.req.method) && !isJsonType(c.req.header("content-type"))) {
      throw new HttpError(415, "the body must be JSON (Content-Type: application/json)");
    }
    await next();
  };
}
