/**
 * Compressed service messages: a message above a threshold travels deflated (raw DEFLATE, the
 * platform's `CompressionStream("deflate-raw")`) when the receiver said it takes them
 * (peer_features.ts). The compressed form is `[0xc1, codec, original length (u32), deflated...]`:
 * 0xc1 is never the first byte of MessagePack, so it cannot be mistaken for a plain message.
 *
 * Inflating is bounded: the declared length must be within the limit, the output is read a chunk
 * at a time and the stream cancelled the moment it passes the declared length or the limit (a
 * "zip bomb" costs at most one chunk beyond the limit, then a counted drop), and a stream that
 * ends short of the declared length is malformed.
 * @module
 */

/** The first byte of a compressed message (unused by MessagePack). */
export const COMPRESSED_MARK = 0xc1;
/** The codec byte of raw DEFLATE. */
export const CODEC_DEFLATE_RAW = 1;
/** The compressed form's header: mark, codec, original length. */
export const COMPRESSED_HEADER = 6;
/** Messages of at least this many bytes are compressed by default. */
export const DEFAULT_COMPRESS_MIN_BYTES = 8192;

/** Whether `bytes` is a message in the compressed form (by its first byte). */
export function isCompressed(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === COMPRESSED_MARK;
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * `message` deflated, in the compressed form; null when that is not smaller (the message then
 * goes plain: random bytes gain nothing).
 */
export async function compressMessage(message: Uint8Array): Promise<Uint8Array | null> {
  const deflated = await drain(
    new Blob([message as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new CompressionStream("deflate-raw"),
    ),
  );
  if (deflated.length + COMPRESSED_HEADER >= message.length) return null;
  const out = new Uint8Array(COMPRESSED_HEADER + deflated.length);
  out[0] = COMPRESSED_MARK;
  out[1] = CODEC_DEFLATE_RAW;
  new DataView(out.buffer).setUint32(2, message.length);
  out.set(deflated, COMPRESSED_HEADER);
  return out;
}

/** Why a compressed message was not inflated. */
export type InflateFailure = "too-large" | "malformed";

/**
 * The message inside the compressed form `bytes`, at most `maxBytes` long; a failure when its
 * declared or actual length is over that, or it is not a well-formed compressed message.
 */
export async function decompressMessage(
  bytes: Uint8Array,
  maxBytes: number,
): Promise<Uint8Array | InflateFailure> {
  if (bytes.length <= COMPRESSED_HEADER || bytes[0] !== COMPRESSED_MARK) return "malformed";
  if (bytes[1] !== CODEC_DEFLATE_RAW) return "malformed";
  const declared = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(2);
  if (declared > maxBytes) return "too-large";
  const body = bytes.subarray(COMPRESSED_HEADER) as Uint8Array<ArrayBuffer>;
  const reader = new Blob([body]).stream().pipeThrough(new DecompressionStream("deflate-raw"))
    .getReader();
  const out = new Uint8Array(declared);
  let at = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (at + value.length > declared) {
        // More than it said (a bomb): stop inflating now; it is over the size it may have.
        await reader.cancel().catch(() => {});
        return "too-large";
      }
      out.set(value, at);
      at += value.length;
    }
  } catch {
    return "malformed";
  } finally {
    reader.releaseLock();
  }
  return at === declared ? out : "malformed";
}
