/**
 * Reusable views on packet buffers. A typed-array view is a heap object; making the few a
 * transport packet needs afresh for every packet would cost the data path a garbage collection
 * every few hundred thousand packets. A flow's packets come in a handful of lengths, and drivers
 * hand the device the same buffer objects over and over, so the views are made once and kept.
 * @module
 */

/** The views of the device's outgoing buffer for one padded plaintext length. */
export interface SealViews {
  /** The padded plaintext, just after the transport header. */
  readonly plain: Uint8Array;
  /** The same bytes plus room for the tag: what sealing in place writes. */
  readonly sealed: Uint8Array;
  /** The whole transport message: header, ciphertext and tag. */
  readonly wire: Uint8Array;
}

/** Views of one outgoing buffer, one set per padded length (at most 64 KiB of them). */
export class SealViewCache {
  readonly #buf: Uint8Array;
  readonly #header: number;
  readonly #tag: number;
  readonly #byLength = new Map<number, SealViews>();

  constructor(buf: Uint8Array, headerSize: number, tagSize: number) {
    this.#buf = buf;
    this.#header = headerSize;
    this.#tag = tagSize;
  }

  /** The views for a padded plaintext of `padded` bytes. */
  get(padded: number): SealViews {
    let v = this.#byLength.get(padded);
    if (v === undefined) {
      const h = this.#header;
      v = {
        plain: this.#buf.subarray(h, h + padded),
        sealed: this.#buf.subarray(h, h + padded + this.#tag),
        wire: this.#buf.subarray(0, h + padded + this.#tag),
      };
      this.#byLength.set(padded, v);
    }
    return v;
  }
}

/** The views of one received transport message. */
export interface OpenViews {
  /** Ciphertext and tag, after the header. */
  readonly sealed: Uint8Array;
  /** Where the plaintext lands when opened in place. */
  readonly plain: Uint8Array;
  /** The IP packet inside the plaintext (padding cut), made by {@link OpenViewCache.packet}. */
  packet: Uint8Array | null;
}

/**
 * Views of received messages, kept per buffer object as long as the driver keeps that object
 * (a weak map: a buffer the driver drops takes its views with it).
 */
export class OpenViewCache {
  readonly #header: number;
  readonly #tag: number;
  readonly #byBuffer = new WeakMap<Uint8Array, OpenViews>();

  constructor(headerSize: number, tagSize: number) {
    this.#header = headerSize;
    this.#tag = tagSize;
  }

  /** The views of `data`, a whole transport message. */
  get(data: Uint8Array): OpenViews {
    let v = this.#byBuffer.get(data);
    if (v === undefined) {
      v = {
        sealed: data.subarray(this.#header),
        plain: data.subarray(this.#header, data.length - this.#tag),
        packet: null,
      };
      this.#byBuffer.set(data, v);
    }
    return v;
  }

  /** The first `length` bytes of the plaintext in `v`. */
  packet(v: OpenViews, length: number): Uint8Array {
    let p = v.packet;
    if (p === null || p.length !== length) {
      p = v.packet = length === v.plain.length ? v.plain : v.plain.subarray(0, length);
    }
    return p;
  }
}
