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
 *
 * Why not the npm package `dns-packet` (measured by scripts/bench/libs.ts, in `deno task bench`;
 * 2026-11-26, 2 CPUs at load 12, Deno 2.9.6): it accepts five malformed messages this decoder
 * refuses (an A record of 3 bytes, record data past the end, an OPT in the answer section, two
 * OPTs, bytes after the last record) and throws a plain `Error` for the rest, with no reason to
 * count and no header fields to answer FORMERR with; and it cannot encode within a size limit,
 * setting TC. Both bound compression (pointers only backwards) and names (255 bytes).
 * Speed, this codec over dns-packet's: decoding a query 2.9, a 2-record answer 1.0, a 40-record
 * answer 0.7 (each address is copied out, a caller may keep it), the largest queries the server
 * takes (8 KiB over TCP, 64 KiB over UDP, every name 253 bytes through a pointer) 1.7 and 1.6
 * (1.3 ms for 64 KiB); encoding an answer 5 to 12, with 5 to 10 times fewer heap bytes (one
 * reused writer). Minified, 10.7 KB against 31.5 KB.
 * @module
 */

export * from "./message.ts";
export * from "./names.ts";
export * from "./decode.ts";
export * from "./encode.ts";
