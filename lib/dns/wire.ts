/**
 * The DNS wire format (RFC 1035) with EDNS0 (RFC 6891): a strict decoder that never throws but
 * says why a message is malformed, and an encoder with name compression that truncates to a size
 * limit (setting TC). Plain `Uint8Array`s, no Buffer, no dependencies.
 *
 * Names are text in presentation form without the trailing dot (the root is `""`); a label's
 * `.` and `\` are escaped as `\.` and `\\`, other bytes outside printable ASCII as `\DDD`.
 *
 * This module gathers the codec: types in `message.ts`, names in `names.ts`, `decode.ts` and
 * `encode.ts`.
 * @module
 */

export * from "./message.ts";
export * from "./names.ts";
export * from "./decode.ts";
export * from "./encode.ts";
