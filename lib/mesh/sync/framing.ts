/**
 * The framing that packed parts (./packed.ts) and manifest datagrams (./manifest.ts) share: a
 * marker byte, the header's length (2 bytes, big-endian), the header (a JSON object), then the
 * body, the rest of the datagram. A datagram of another marker, with a header past its end, or
 * whose header is not a JSON object, is no frame: the caller counts it as malformed.
 *
 * @example
 * ```ts
 * import { framed, unframed } from "./framing.ts";
 * const d = framed(0x01, { t: "view", v: 3 }, 2);
 * d.set([7, 8], d.length - 2); // the body is the datagram's last bytes
 * unframed(d, 0x01); // { head: { t: "view", v: 3 }, body: Uint8Array [7, 8] }
 * unframed(d, 0x03); // null: another marker
 * ```
 * @module
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

// Bytes before the header: the marker and the header's length.
const FRAME_PREFIX = 3;

// The most a header's 2-byte length can say.
const MAX_HEAD_BYTES = 0xffff;

/**
 * A datagram of `marker` and `head` (JSON), with `bodyLength` zero bytes last for the body.
 * Throws a RangeError for a header over 65,535 bytes (its length would not fit: a caller's bug).
 */
export function framed(marker: number, head: unknown, bodyLength: number): Uint8Array {
  const h = enc.encode(JSON.stringify(head));
  if (h.length > MAX_HEAD_BYTES) {
    throw new RangeError(`a frame's header of ${h.length} bytes is over ${MAX_HEAD_BYTES}`);
  }
  const out = new Uint8Array(FRAME_PREFIX + h.length + bodyLength);
  out[0] = marker;
  out[1] = h.length >> 8;
  out[2] = h.length & 0xff;
  out.set(h, FRAME_PREFIX);
  return out;
}

/** A `marker` datagram's header (an object, unchecked) and body (a view, no copy); or null. */
export function unframed(
  data: Uint8Array,
  marker: number,
): { head: Record<string, unknown>; body: Uint8Array } | null {
  if (data.length < FRAME_PREFIX || data[0] !== marker) return null;
  const len = (data[1] << 8) | data[2];
  if (FRAME_PREFIX + len > data.length) return null;
  let head: unknown;
  try {
    head = JSON.parse(dec.decode(data.subarray(FRAME_PREFIX, FRAME_PREFIX + len)));
  } catch {
    return null;
  }
  if (typeof head !== "object" || head === null || Array.isArray(head)) return null;
  return { head: head as Record<string, unknown>, body: data.subarray(FRAME_PREFIX + len) };
}
