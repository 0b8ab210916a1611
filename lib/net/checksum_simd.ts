/**
 * The one's complement sum of a range of 32-bit words in WebAssembly SIMD, for buffers in a
 * WebAssembly memory ({@link simdChecksumBuffer}): 64 bytes a step, about a sixth of the CPU of
 * the JavaScript word loop, where the TUN offload paths spend their checksums (every segment cut
 * from a TSO read, every segment checked before coalescing). `checksumAdd` (./checksum.ts) uses
 * it for such buffers; anything else keeps the JavaScript loop.
 *
 * The module is a few dozen instructions, assembled here by hand so no toolchain or file ships with
 * weft. As text:
 *
 * ```
 * (func (export "sum") (param $p i32) (param $n i32) (result i32)
 *   (local $acc v128) (local $v v128) (local $end i32) (local $s i64)
 *   (local $acc2 v128) (local $end64 i32)
 *   end = p + n; end64 = p + (n & -64); acc = acc2 = 0
 *   loop while p < end64:               ;; four of these steps, at p, p + 16, p + 32, p + 48
 *     v = v128.load p
 *     acc = i64x2.add (acc, i64x2.extend_low_i32x4_u v)
 *     acc2 = i64x2.add (acc2, i64x2.extend_high_i32x4_u v)
 *     p += 64
 *   loop while p < end: the same step, p += 16   ;; n a multiple of 16
 *   acc = acc + acc2; s = lane 0 + lane 1   ;; below 2^55 for 16 MB: no carry out
 *   5 × s = (s & 0xffff) + (s >> 16)    ;; folded to 16 bits (2^16 ≡ 1 mod 0xffff)
 *   return s)
 * ```
 *
 * The words are read in the host's order, as `checksumAdd` reads them (it swaps the folded sum).
 * @module
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body];
}

function name(s: string): number[] {
  return [s.length, ...new TextEncoder().encode(s)];
}

/** Locals: 0 p, 1 n (parameters); 2 acc, 3 v (v128); 4 end (i32); 5 s (i64); 6 acc2 (v128); 7 end64. */
const FOLD = [
  ...[0x20, 5, 0x42, 0xff, 0xff, 0x03, 0x83], // s & 0xffff
  ...[0x20, 5, 0x42, 0x10, 0x88, 0x7c, 0x21, 5], // + (s >> 16) → s
];
const ZERO = new Array(16).fill(0);
/** v = v128.load (p + offset); acc += extend_low_u(v); acc2 += extend_high_u(v). */
function step(offset: number): number[] {
  return [
    ...[0x20, 0, 0xfd, 0x00, 0x00, ...leb(offset), 0x21, 3],
    ...[0x20, 2, 0x20, 3, 0xfd, 0xc9, 0x01, 0xfd, 0xce, 0x01, 0x21, 2],
    ...[0x20, 6, 0x20, 3, 0xfd, 0xca, 0x01, 0xfd, 0xce, 0x01, 0x21, 6],
  ];
}
const BODY = [
  ...[0x05, 0x02, 0x7b, 0x01, 0x7f, 0x01, 0x7e, 0x01, 0x7b, 0x01, 0x7f], // the locals above
  ...[0x20, 0, 0x20, 1, 0x6a, 0x21, 4], // end = p + n
  ...[0x20, 0, 0x20, 1, 0x41, 0x40, 0x71, 0x6a, 0x21, 7], // end64 = p + (n & -64)
  ...[0xfd, 0x0c, ...ZERO, 0x21, 2, 0xfd, 0x0c, ...ZERO, 0x21, 6], // acc = acc2 = 0
  ...[0x02, 0x40, 0x03, 0x40, 0x20, 0, 0x20, 7, 0x4f, 0x0d, 1], // 64 bytes a step to end64
  ...step(0),
  ...step(16),
  ...step(32),
  ...step(48),
  ...[0x20, 0, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0, 0x0c, 0, 0x0b, 0x0b], // p += 64
  ...[0x02, 0x40, 0x03, 0x40, 0x20, 0, 0x20, 4, 0x4f, 0x0d, 1], // then 16 a step to end
  ...step(0),
  ...[0x20, 0, 0x41, 0x10, 0x6a, 0x21, 0, 0x0c, 0, 0x0b, 0x0b], // p += 16
  ...[0x20, 2, 0x20, 6, 0xfd, 0xce, 0x01, 0x21, 2], // acc += acc2
  ...[0x20, 2, 0xfd, 0x1d, 0, 0x20, 2, 0xfd, 0x1d, 1, 0x7c, 0x21, 5], // s = lane 0 + lane 1
  ...FOLD,
  ...FOLD,
  ...FOLD,
  ...FOLD,
  ...FOLD,
  ...[0x20, 5, 0xa7, 0x0b], // return (i32) s
];
const MODULE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, [1, 0x60, 2, 0x7f, 0x7f, 1, 0x7f]), // (i32, i32) -> i32
  ...section(2, [1, ...name("m"), ...name("mem"), 0x02, 0x00, 0x00]), // memory m.mem
  ...section(3, [1, 0]),
  ...section(7, [1, ...name("sum"), 0x00, 0]),
  ...section(10, [1, ...leb(BODY.length), ...BODY]),
]);

/** The sum of `n` bytes (a multiple of 16) from byte `p` of the pool, folded to 16 bits. */
export type SimdSum = (p: number, n: number) => number;

/**
 * The pool's size: every SIMD buffer of a process is a range of one WebAssembly memory with one
 * instance, so `checksumAdd` always calls the same function (a call site that sees two wasm
 * functions goes through V8's generic wrapper, which allocates on every call). An agent's TUN
 * arena at MTU 1,420 is under half a megabyte; pages the arenas never touch take no memory.
 */
const POOL_BYTES = 16 << 20;
/** Ranges are handed out in multiples of this (a cache line). */
const ALIGN = 64;

interface Pool {
  buffer: ArrayBufferLike;
  sum: SimdSum;
  /** The ranges in use, by start. */
  used: { start: number; end: number }[];
}

let pool: Pool | null | undefined;
/** Returns a buffer's range to the pool once the buffer is gone. */
const release = new FinalizationRegistry<{ start: number; end: number }>((range) => {
  const i = pool ? pool.used.indexOf(range) : -1;
  if (i >= 0) pool!.used.splice(i, 1);
});

function thePool(): Pool | null {
  if (pool === undefined) {
    pool = null;
    if (LITTLE_ENDIAN && typeof WebAssembly === "object" && WebAssembly.validate(MODULE)) {
      const pages = POOL_BYTES / 65536;
      const mem = new WebAssembly.Memory({ initial: pages, maximum: pages });
      const instance = new WebAssembly.Instance(new WebAssembly.Module(MODULE), { m: { mem } });
      pool = { buffer: mem.buffer, sum: instance.exports.sum as SimdSum, used: [] };
    }
  }
  return pool ?? null;
}

/**
 * A zeroed buffer of `bytes` whose checksums `checksumAdd` computes in SIMD: a range of the
 * process's one WebAssembly memory, which never grows, so its bytes stay where they are (FFI calls
 * may keep its address); the range goes back to the pool when the buffer is collected. A plain
 * buffer where WebAssembly SIMD is not available or the pool has no room.
 */
export function simdChecksumBuffer(bytes: number): Uint8Array {
  const p = thePool();
  if (p === null) return new Uint8Array(bytes);
  const size = Math.ceil(Math.max(bytes, 1) / ALIGN) * ALIGN;
  // First fit between the ranges in use.
  let at = 0;
  let i = 0;
  for (; i < p.used.length; i++) {
    if (p.used[i].start - at >= size) break;
    at = p.used[i].end;
  }
  if (i === p.used.length && POOL_BYTES - at < size) return new Uint8Array(bytes);
  const range = { start: at, end: at + size };
  p.used.splice(i, 0, range);
  const view = new Uint8Array(p.buffer, at, bytes);
  view.fill(0); // a range may have been another buffer's
  release.register(view, range);
  return view;
}

/** The SIMD sum when `buffer` is the pool's (a {@link simdChecksumBuffer}'s), else null. */
export function simdSumOf(buffer: ArrayBufferLike): SimdSum | null {
  return pool && pool.buffer === buffer ? pool.sum : null;
}
