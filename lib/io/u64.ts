/**
 * Bigints for FFI arguments. Deno's fast FFI call takes a 64-bit integer parameter (`u64`,
 * `usize`) as a BigInt; given a plain number, every call goes down the slow path (measured here:
 * 0.3-0.6 µs more per read/write/poll, ~1 µs more per libsodium seal). Making a BigInt per call
 * would allocate on the hot path, so lengths come from a cache.
 * @module
 */

/** Lengths below this (more than any packet or 64 KB segment and its header) are cached. */
const CACHED = 65_600;
/** Bigints per chunk of the cache (a power of two). */
const CHUNK_BITS = 8;
const CHUNK = 1 << CHUNK_BITS;
/** A chunk not made yet (never written: replaced on first use). */
const NONE: (bigint | undefined)[] = [];
/**
 * The cache in dense chunks of {@link CHUNK}, made when first used. One flat array written at
 * scattered lengths (16, 32, 1,436...) turned into a dictionary, and every read of it went
 * through V8's megamorphic keyed load (1% of an agent's CPU on the data path, which reads two or
 * three lengths a message); dense arrays keep the reads plain element loads.
 */
const chunks: (bigint | undefined)[][] = new Array((CACHED >> CHUNK_BITS) + 1).fill(NONE);

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
  // Anything but a cached integer goes to BigInt, which throws for a fraction or NaN (the chunk
  // index below would round them to a plausible length).
  if (!(n >= 0 && n < CACHED) || (n | 0) !== n) return BigInt(n);
  let chunk = chunks[n >> CHUNK_BITS];
  if (chunk === NONE) {
    chunk = chunks[n >> CHUNK_BITS] = new Array<bigint | undefined>(CHUNK).fill(undefined);
  }
  const i = n & (CHUNK - 1);
  let b = chunk[i];
  if (b === undefined) b = chunk[i] = BigInt(n);
  return b;
}
