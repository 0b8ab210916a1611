/**
 * Reusable views on packet buffers. A typed-array view is a heap object; making the few a
 * transport packet needs afresh for every packet would cost the data path a garbage collection
 * every few hundred thousand packets. A flow's packets come in a handful of lengths, and drivers
 * hand the device the same buffer objects over and over, so the views are made once and kept.
 * @module
 */

/**
 * Entries of the direct-mapped cache in front of {@link LentViewCache}'s weak map (a power of
 * two). A WeakMap lookup per packet (a hash table probe in a builtin) took 0.6% of the sending
 * agent's CPU; an entry of these arrays is a few plain loads and one identity compare.
 */
const FRONT_BITS = 11;
const FRONT = 1 << FRONT_BITS;

/** The front entry of an object at `byteOffset` (and a `key` of its own). */
function frontSlot(byteOffset: number, key: number): number {
  // Slots and segments sit at multiples of large powers of two: a multiplicative hash spreads them.
  return Math.imul(byteOffset ^ key, 0x9e3779b1) >>> (32 - FRONT_BITS);
}

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
 * (a weak map: a buffer the driver drops takes its views with it). A direct-mapped front like
 * {@link LentViewCache}'s was tried here: the data path then allocated (a collection every
 * 200,000 packets, `device_alloc_test.ts`), cause not found.
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

/** Views a {@link LentViewCache} holds before it starts over, so odd callers cannot grow it. */
const LENT_VIEWS_MAX = 65536;
/** Offsets into a lent buffer are below this (a header's length): keys stay small integers. */
const LENT_OFFSET_LIMIT = 4096;
/** Lengths are below this (a 64 KiB packet and its padding). */
const LENT_LENGTH_LIMIT = 0x20000;

/**
 * Views into buffers the drivers lend or hand over (a send slot, a write-queue slot, the TUN's
 * read buffer past a packet), made once per (buffer object, offset, length) and kept: drivers
 * lend the same few objects over and over, and a flow's packets come in a handful of lengths.
 * A view may reach past the end of the object it starts in (the room a driver gives after a
 * packet), never past its ArrayBuffer. Past {@link LENT_VIEWS_MAX} views it forgets them all
 * and starts over, so memory stays bounded whatever it is given. The last views asked for are
 * also held, strongly, in a direct-mapped front of 2,048 entries (the device's life).
 */
export class LentViewCache {
  #byObject = new WeakMap<Uint8Array, Map<number, Uint8Array>>();
  #size = 0;
  /** The direct-mapped front of #byObject: an entry's object, key and view. */
  readonly #frontBase: (Uint8Array | undefined)[] = new Array(FRONT).fill(undefined);
  readonly #frontKey = new Int32Array(FRONT).fill(-1);
  readonly #frontView: (Uint8Array | undefined)[] = new Array(FRONT).fill(undefined);

  /** The `length` bytes from `offset` (below 4,096) in `base`'s buffer. */
  get(base: Uint8Array, offset: number, length: number): Uint8Array {
    if (!(offset >= 0 && offset < LENT_OFFSET_LIMIT && length >= 0 && length < LENT_LENGTH_LIMIT)) {
      throw new RangeError(`lent view at ${offset} of ${length} bytes`);
    }
    // One small integer for both: offsets are a header's length at most.
    const key = offset * LENT_LENGTH_LIMIT + length;
    const f = frontSlot(base.byteOffset, key);
    if (this.#frontBase[f] === base && this.#frontKey[f] === key) return this.#frontView[f]!;
    const v = this.#slow(base, offset, length, key);
    this.#frontBase[f] = base;
    this.#frontKey[f] = key;
    this.#frontView[f] = v;
    return v;
  }

  #slow(base: Uint8Array, offset: number, length: number, key: number): Uint8Array {
    let views = this.#byObject.get(base);
    if (views === undefined) {
      views = new Map();
      this.#byObject.set(base, views);
    }
    let v = views.get(key);
    if (v === undefined) {
      v = new Uint8Array(base.buffer, base.byteOffset + offset, length);
      if (++this.#size > LENT_VIEWS_MAX) {
        this.#byObject = new WeakMap();
        this.#frontBase.fill(undefined);
        this.#frontKey.fill(-1);
        this.#frontView.fill(undefined);
        this.#size = 1;
        views = new Map();
        this.#byObject.set(base, views);
      }
      views.set(key, v);
    }
    return v;
  }
}
