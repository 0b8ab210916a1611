/**
 * WebSocket masking (RFC 6455 section 5.3) four bytes at a time: the XOR of a payload with its
 * 4-byte key, in place. A client masks every byte it sends and a server unmasks every byte it
 * reads, so on a bulk stream this loop runs over every byte of the transfer, on both ends; byte
 * by byte it cost about 1 CPU-s per GB at each end, a 32-bit word at a time about a fifth of it.
 *
 * Words need an aligned view of the buffer's memory: the payload's first bytes up to a 4-byte
 * boundary go one by one, the aligned middle through a `Uint32Array` of the whole `ArrayBuffer`
 * (the key rotated to the phase it has there), the last 0 to 3 bytes one by one. The view is made
 * once per buffer and kept beside it (a weak map, the last one at hand): the transport's read and
 * write buffers live for many frames, so no frame makes one. A big-endian machine takes the bytes
 * one by one.
 * @module
 */

/** Whether a `Uint32Array`'s first byte is its low one. */
const LITTLE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Below this many bytes the words are not worth finding the view for. */
const WORDS_FROM = 32;

const views = new WeakMap<ArrayBufferLike, Uint32Array>();
let lastBuffer: ArrayBufferLike | null = null;
let lastWords: Uint32Array | null = null;

/** The 32-bit view of all of `buf`'s memory (made on first use, then kept). */
function wordsOf(buf: Uint8Array): Uint32Array {
  const ab = buf.buffer;
  // A buffer that grew (resizable, growable) needs a view of its new length: a view of the old
  // one would leave the grown part unmasked.
  if (ab === lastBuffer && lastWords!.length === ab.byteLength >>> 2) return lastWords!;
  let w = views.get(ab);
  if (w === undefined || w.length !== ab.byteLength >>> 2) {
    w = new Uint32Array(ab, 0, ab.byteLength >>> 2);
    views.set(ab, w);
  }
  lastBuffer = ab;
  lastWords = w;
  return w;
}

/**
 * XORs `buf[start, end)` in place with the key `k0 k1 k2 k3`, `k0` on `buf[start]` (the phase a
 * frame's payload starts at).
 */
export function maskInPlace(
  buf: Uint8Array,
  start: number,
  end: number,
  k0: number,
  k1: number,
  k2: number,
  k3: number,
): void {
  let i = start;
  if (!LITTLE || end - start < WORDS_FROM) {
    for (; i + 4 <= end; i += 4) {
      buf[i] ^= k0;
      buf[i + 1] ^= k1;
      buf[i + 2] ^= k2;
      buf[i + 3] ^= k3;
    }
    if (i < end) buf[i] ^= k0;
    if (i + 1 < end) buf[i + 1] ^= k1;
    if (i + 2 < end) buf[i + 2] ^= k2;
    return;
  }
  const base = buf.byteOffset;
  // Up to the first 4-byte boundary of the memory, the key turning one byte each time.
  while (((base + i) & 3) !== 0) {
    buf[i++] ^= k0;
    const t = k0;
    k0 = k1;
    k1 = k2;
    k2 = k3;
    k3 = t;
  }
  const words = wordsOf(buf);
  // Little-endian: the word's low byte is its first.
  const key = k0 | (k1 << 8) | (k2 << 16) | (k3 << 24);
  let w = (base + i) >>> 2;
  const stop = (base + end) >>> 2;
  for (; w < stop; w++) words[w] ^= key;
  i = w * 4 - base;
  if (i < end) buf[i] ^= k0;
  if (i + 1 < end) buf[i + 1] ^= k1;
  if (i + 2 < end) buf[i + 2] ^= k2;
}
