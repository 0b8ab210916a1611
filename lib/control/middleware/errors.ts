/**
 * How the control app answers errors: every refusal is `{"error": "..."}` with its status, and
 * messages, which may echo input, are cut short.
 * @module
 */

import type { ErrorHandler, NotFoundHandler } from "npm:hono@^4.13.19";
import { HTTPException } from "npm:hono@^4.13.19/http-exception";
import type { ContentfulStatusCode } from "npm:hono@^4.13.19/utils/http-status";

/** Error messages (which may echo input) are cut to this many characters. */
export const MAX_ERROR_CHARS = 200;

/** Cuts a message to {@link MAX_ERROR_CHARS} characters, marking the cut with an ellipsis. */
export function clip(text: string): string {
  return text.length > MAX_ERROR_CHARS ? text.slice(0, MAX_ERROR_CHARS) + "…" : text;
}

/** Thrown by handlers and middleware to answer `{"error": message}` with this status. */
export class HttpError extends HTTPException {
  /** The status and the message the client reads. */
  constructor(status: ContentfulStatusCode, message: string) {
    super(status, { message });
  }
}

/** An error class thrown below the HTTP layer and the status it is answered with. */
export type ErrorStatus = readonly [new (...args: never[]) => Error, ContentfulStatusCode];

/**
 * The app's error handler: an {@link HttpError} (or another `HTTPException` without a response of
 * its own) answers its status, an error of a class in `known` the status given for it, anything
 * else 500; always with the message, clipped, as `{"error": ...}`.
 */
export function errorHandler(known: readonly ErrorStatus[] = []): ErrorHandler {
  return (err, c) => {
    if (err instanceof HTTPException) {
      // Hono's own middleware throws exceptions that carry their whole answer.
      if (err.res) return err.getResponse();
      return c.json({ error: clip(err.message) }, err.status);
    }
    const status = known.find(([type]) => err instanceof type)?.[1] ?? 500;
    return c.json({ error: clip(err.message) }, status);
  };
}

/** Paths no route serves: 404 naming the method and path (clipped: the path is input). */
export const notFound: NotFoundHandler = (c) =>
  c.json({ error: clip(`no route ${c.req.method} ${c.req.path}`) }, 404);
