/**
 * The one's complement sum of a range of 32-bit words in WebAssembly SIMD, for buffers that are a
 * WebAssembly memory ({@link simdChecksumBuffer}): 16 bytes a step, about a quarter of the CPU of
 * the JavaScript word loop, where the TUN offload paths spend their checksums (every segment cut
 * from a TSO read, every segment checked before coalescing). `checksumAdd` (./checksum.ts) uses
 * it for such buffers; anything else keeps the JavaScript loop.
 *
 * The module is a dozen instructions, assembled here by hand so no toolchain or file ships with
 * weft. As text:
 *
 * ```
 * (func (export "sum") (param $p i32) (param $n i32) (result i32)
 *   (local $acc v128) (local $v v128) (local $end i32) (local $s i64)
 *   end = p + n; acc = 0
 *   loop while p < end:                 ;; n a multiple of 16
 *     v = v128.load p
 *     acc = i64x2.add (acc, i64x2.extend_low_i32x4_u v)
 *     acc = i64x2.add (acc, i64x2.extend_high_i32x4_u v)
 *     p += 16
 *   s = lane 0 + lane 1                 ;; below 2^48 for 64 KB: no carry out
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

/** Locals: 0 p, 1 n (parameters); 2 acc, 3 v (v128); 4 end (i32); 5 s (i64). */
const FOLD = [
  ...[0x20, 5, 0x42, 0xff, 0xff, 0x03, 0x83], // s & 0xffff
  ...[0x20, 5, 0x42, 0x10, 0x88, 0x7c, 0x21, 5], // + (s >> 16) → s
];
const BODY = [
  ...[0x03, 0x02, 0x7b, 0x01, 0x7f, 0x01, 0x7e], // locals: 2 v128, 1 i32, 1 i64
  ...[0x20, 0, 0x20, 1, 0x6a, 0x21, 4], // end = p + n
  ...[0xfd, 0x0c, ...new Array(16).fill(0), 0x21, 2], // acc = v128.const 0
  ...[0x02, 0x40, 0x03, 0x40], // block, loop
  ...[0x20, 0, 0x20, 4, 0x4f, 0x0d, 1], // br_if out when p >= end
  ...[0x20, 0, 0xfd, 0x00, 0x00, 0x00, 0x21, 3], // v = v128.load p
  ...[0x20, 2, 0x20, 3, 0xfd, 0xc9, 0x01, 0xfd, 0xce, 0x01], // acc + extend_low_u(v)
  ...[0x20, 3, 0xfd, 0xca, 0x01, 0xfd, 0xce, 0x01, 0x21, 2], // + extend_high_u(v) → acc
  ...[0x20, 0, 0x41, 0x10, 0x6a, 0x21, 0, 0x0c, 0, 0x0b, 0x0b], // p += 16; br loop; ends
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

/** The sum of `n` bytes (a multiple of 16) from byte `p` of one memory, folded to 16 bits. */
export type SimdSum = (p: number, n: number) => number;

let compiled: WebAssembly.Module | null | undefined;
/** Each SIMD buffer's sum; a buffer's entry goes with it. */
const sums = new WeakMap<ArrayBufferLike, SimdSum>();

function module(): WebAssembly.Module | null {
  if (compiled === undefined) {
    compiled = LITTLE_ENDIAN && typeof WebAssembly === "object" && WebAssembly.validate(MODULE)
      ? new WebAssembly.Module(MODULE)
      : null;
  }
  return compiled;
}

/**
 * A zeroed buffer of `bytes` (rounded up to 64 KiB) whose checksums `checksumAdd` computes in
 * SIMD: a WebAssembly memory that never grows, so its bytes stay where they are (FFI calls may
 * keep its address). A plain buffer where WebAssembly SIMD is not available.
 */
export function simdChecksumBuffer(bytes: number): Uint8Array {
  const mod = module();
  if (mod === null) return new Uint8Array(bytes);
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  const mem = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const instance = new WebAssembly.Instance(mod, { m: { mem } });
  sums.set(mem.buffer, instance.exports.sum as SimdSum);
  return new Uint8Array(mem.buffer, 0, bytes);
}

/** The SIMD sum of `buffer` when it came from {@link simdChecksumBuffer}, else null. */
export function simdSumOf(buffer: ArrayBufferLike): SimdSum | null {
  return sums.get(buffer) ?? null;
}
