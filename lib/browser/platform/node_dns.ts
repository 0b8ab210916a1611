/**
 * The browser build's `node:dns/promises`, for lib/net/resolve.ts: a page looks no name up (the
 * browser resolves the WebSocket's host itself), so a lookup fails saying so.
 * @module
 */

/** Rejects: a page has no resolver to ask. */
export function lookup(host: string, _opts?: unknown): Promise<never> {
  return Promise.reject(new Error(`names are not looked up in a browser (${host})`));
}
