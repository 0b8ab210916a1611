/**
 * The one limit on a request body, and the one way of saying a body is over it: the server
 * refuses such a body with it (413), and the client refuses to send one with the same words.
 * @module
 */

/** The largest request body, in bytes (the policy text is the largest thing posted). */
export const MAX_BODY_BYTES = 1 << 20;

/**
 * The largest body of a service call (`POST /v1/services/call`), bytes: its params may be as large
 * as the service layer's largest message (16 MiB of MessagePack), and JSON spells some values
 * longer (escapes, numbers), so twice that; the layer then holds the params to its own limit.
 */
export const MAX_CALL_BODY_BYTES = 32 << 20;

/** Why a body over `max` bytes is refused. */
export function bodyTooLargeText(max: number = MAX_BODY_BYTES): string {
  return `request body over ${max} bytes`;
}
