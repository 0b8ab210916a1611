/**
 * Bigints for FFI arguments. Deno's fast FFI call takes a 64-bit integer parameter (`u64`,
 * `usize`) as a BigInt; given a plain number, every call goes down the slow path (measured here:
 * 0.3-0.6 µs more per read/write/poll, ~1 µs more per libsodium seal). Making a BigInt per call
 * would allocate on the hot path, so lengths come from a cache.
 * @module
 */

/** Lengths below this (more than any packet or 64 KB segment and its header) are cached. */
const CACHED = 65_600;
const cache: bigint[] = [];

/**
 * `n` (a non-negative integer) as a bigint; cached below 65,600 so a packet length costs no
 * allocation.
 *
 * @example
 * ```ts
 * import { u64 } from "./u64.ts";
 * const len: bigint = u64(1420); // the same bigint every time
 * ```
 */
export function u64(n: number): bigint {
  if (n >= CACHED || n < 0) return BigInt(n);
  let b = cache[n];
  if (b === undefined) b = cache[n] = BigInt(n);
  return b;
}
