/**
 * Request bodies: a size limit on every request (middleware, before the body is read) and JSON
 * objects read with a nesting limit (before they are parsed), with their fields checked.
 * @module
 */

import type { Context, MiddlewareHandler } from "npm:hono@^4.13.19";
import { bodyLimit } from "npm:hono@^4.13.19/body-limit";
import { HttpError } from "./errors.ts";

import { bodyTooLargeText, MAX_BODY_BYTES, MAX_CALL_BODY_BYTES } from "./body_limit.ts";

export { MAX_BODY_BYTES, MAX_CALL_BODY_BYTES } from "./body_limit.ts";
/** JSON nested deeper than this is refused before it is parsed. */
export const MAX_JSON_DEPTH = 32;

/** Refuses with 413 a body over {@link MAX_BODY_BYTES}: by its length when it gives one. */
export function limitBody(maxBytes = MAX_BODY_BYTES): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => c.json({ error: bodyTooLargeText(maxBytes) }, 413),
  });
}

/**
 * {@link limitBody} at {@link MAX_CALL_BODY_BYTES} for a service call, at {@link MAX_BODY_BYTES}
 * for every other request.
 */
export function limitBodies(): MiddlewareHandler {
  const small = limitBody(MAX_BODY_BYTES);
  const call = limitBody(MAX_CALL_BODY_BYTES);
  return (c, next) => (c.req.path === "/v1/services/call" ? call : small)(c, next);
}

/** The deepest nesting of arrays and objects in JSON text (strings skipped), stopping past max. */
export function jsonDepth(text: string, max: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > deepest && (deepest = depth) > max) return deepest;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return deepest;
}

/**
 * The request's body as a JSON object; 400 when it is not one or is nested deeper than
 * {@link MAX_JSON_DEPTH}. Read in the handler, after its own preconditions (such as "this node
 * is the leader"), so those are answered first.
 */
export async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    const text = await c.req.text();
    // Parsing deeply nested input costs far more than its size suggests: refuse it unparsed.
    if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      throw new HttpError(400, `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
    body = JSON.parse(text);
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(400, "body must be a JSON object");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/** `body[name]` (or `dflt` when absent) as an integer from min to max; 400 otherwise. */
export function intField(
  body: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  dflt?: number,
): number {
  const v = body[name] ?? dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new HttpError(400, `${name} must be an integer from ${min} to ${max}`);
  }
  return v;
}

/** `body[name]` as a non-empty string; 400 otherwise. */
export function stringField(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (typeof v !== "string" || v.length === 0) {
    throw new HttpError(400, `${name} must be a non-empty string`);
  }
  return v;
}
