/**
 * Bytes a producer gives away whole: once handed on (a chunk of a response body), it never
 * reads or writes them again, so a consumer that would copy them to another thread may transfer
 * their buffer instead. A leader's `/metrics` page at 10,000 peers is 29 MB of chunks, each
 * copied again on its way to the API worker (lib/control/api_front.ts): with the copy, every
 * scrape left 29 MB more garbage in malloc's arena until the next collection.
 * @module
 */

const given = new WeakSet<ArrayBuffer>();

/** Marks `bytes` as given away when they are their whole buffer; returns them. */
export function giveAway(bytes: Uint8Array): Uint8Array {
  const b = bytes.buffer;
  if (b instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === b.byteLength) {
    given.add(b);
  }
  return bytes;
}

/** The buffer of `bytes` if given away whole (once: it is the caller's now); else null. */
export function takeGiven(bytes: Uint8Array): ArrayBuffer | null {
  const b = bytes.buffer;
  if (!(b instanceof ArrayBuffer) || !given.has(b)) return null;
  given.delete(b);
  return bytes.byteOffset === 0 && bytes.byteLength === b.byteLength ? b : null;
}
