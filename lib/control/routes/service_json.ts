/**
 * The JSON forms of the services routes' payloads and events, apart from the routes so that the
 * command line prints them without loading the control server.
 * @module
 */

import { encodeBase64 } from "../../crypto/base64.ts";
import type { ServiceEvent } from "../../services/subscription.ts";

/**
 * JSON text of a payload: binary values (a library caller's Uint8Array; JSON has no bytes) as
 * `{"base64": "..."}`.
 */
export function payloadJson(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) => (x instanceof Uint8Array ? { base64: encodeBase64(x) } : x),
  );
}

/** An event as the JSON of one NDJSON line (no newline): the stream's and `weft subscribe`'s. */
export function eventJson(ev: ServiceEvent): string {
  return payloadJson({
    topic: ev.topic,
    data: ev.data,
    id: ev.id,
    publisher: ev.publisher,
    publisherAddress: ev.publisherAddress,
  });
}
