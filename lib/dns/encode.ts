/**
 * The DNS encoder: name compression, and truncation to a size limit with TC.
 * @module
 */

import {
  DnsClass,
  type DnsMessage,
  DnsType,
  type Edns,
  HEADER_SIZE,
  MAX_LABEL,
  MAX_MESSAGE,
  OPCODE_QUERY,
  type ResourceRecord,
} from "./message.ts";
import { asciiLower, labelText, nameToLabels } from "./names.ts";

const utf8Encoder = new TextEncoder();

// The writer ran out of room before its limit; encodeMessage catches it to truncate.
class Overflow {}
const OVERFLOW = new Overflow();

/** Types whose RDATA names may be compressed (RFC 3597 section 4). */
function compressesRdata(type: number): boolean {
  return type === DnsType.NS || type === DnsType.CNAME || type === DnsType.PTR ||
    type === DnsType.SOA || type === DnsType.MX;
}

/**
 * Writes DNS messages into one reusable buffer, with name compression. `base` leaves room in
 * front (two bytes for the TCP length prefix) without shifting compression offsets.
 */
export class DnsWriter {
  /** The buffer messages are written into. */
  readonly buf: Uint8Array;
  /** The next write position. */
  pos = 0;
  #base = 0;
  #limit = 0;
  #names = new Map<string, number>();

  /** A writer whose buffer holds `base` prefix bytes and a message of up to 65535 bytes. */
  constructor(base = 0) {
    this.buf = new Uint8Array(base + MAX_MESSAGE);
    this.#base = base;
  }

  /** Where the message starts in `buf`. */
  get base(): number {
    return this.#base;
  }

  /** Starts a new message that may grow to `limit` bytes. */
  reset(limit: number): void {
    this.pos = this.#base;
    this.#limit = this.#base + Math.min(limit, MAX_MESSAGE);
    this.#names.clear();
  }

  /** The current size limit, as an absolute buffer position. */
  get limit(): number {
    return this.#limit;
  }

  /** Sets the size limit as an absolute buffer position (to reserve room at the end). */
  set limit(pos: number) {
    this.#limit = Math.min(pos, this.#base + MAX_MESSAGE);
  }

  /** The message written so far (a view, valid until the next reset). */
  view(): Uint8Array {
    return this.buf.subarray(this.#base, this.pos);
  }

  #room(n: number): void {
    if (this.pos + n > this.#limit) throw OVERFLOW;
  }

  /** Writes one byte. */
  u8(v: number): void {
    this.#room(1);
    this.buf[this.pos++] = v;
  }

  /** Writes a big-endian 16-bit value. */
  u16(v: number): void {
    this.#room(2);
    this.buf[this.pos++] = v >> 8;
    this.buf[this.pos++] = v;
  }

  /** Writes a big-endian 32-bit value. */
  u32(v: number): void {
    this.#room(4);
    const b = this.buf;
    b[this.pos++] = v >>> 24;
    b[this.pos++] = v >>> 16;
    b[this.pos++] = v >>> 8;
    b[this.pos++] = v;
  }

  /** Writes raw bytes. */
  bytes(data: Uint8Array): void {
    this.#room(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** Writes a name, pointing at an earlier copy of its longest known suffix when `compress`. */
  name(name: string, compress: boolean): void {
    if (!this.#plainName(name, compress)) this.#escapedName(name, compress);
  }

  // Most names are plain printable ASCII without escapes: their lower-case text suffixes are
  // the compression keys as they are, and no label arrays need to be built. False when the
  // name needs the general path.
  #plainName(name: string, compress: boolean): boolean {
    let end = name.length;
    if (end > 0 && name.charCodeAt(end - 1) === 0x2e) end--;
    if (end > 253) return false;
    for (let i = 0; i < end; i++) {
      const c = name.charCodeAt(i);
      if (c <= 0x20 || c >= 0x7f || c === 0x5c) return false;
    }
    const text = end === name.length ? name : name.slice(0, end);
    const lower = asciiLower(text);
    const b = this.buf;
    let start = 0;
    while (start < end) {
      const key = start === 0 ? lower : lower.slice(start);
      const offset = this.#names.get(key);
      if (compress && offset !== undefined) {
        this.u16(0xc000 | offset);
        return true;
      }
      let dot = text.indexOf(".", start);
      if (dot < 0) dot = end;
      const len = dot - start;
      if (len === 0 || len > MAX_LABEL) nameToLabels(name); // throws the precise error
      const here = this.pos - this.#base;
      this.#room(len + 1);
      b[this.pos++] = len;
      for (let i = start; i < dot; i++) b[this.pos++] = text.charCodeAt(i);
      // Only remember suffixes whose bytes made it in, and only where a pointer can reach.
      if (offset === undefined && here < 0x4000) this.#names.set(key, here);
      start = dot + 1;
    }
    this.u8(0);
    return true;
  }

  #escapedName(name: string, compress: boolean): void {
    const labels = nameToLabels(name);
    const keys = suffixKeys(labels);
    for (let i = 0; i < labels.length; i++) {
      const offset = this.#names.get(keys[i]);
      if (compress && offset !== undefined) {
        this.u16(0xc000 | offset);
        return;
      }
      const here = this.pos - this.#base;
      this.u8(labels[i].length);
      this.bytes(labels[i]);
      if (offset === undefined && here < 0x4000) this.#names.set(keys[i], here);
    }
    this.u8(0);
  }

  /** Forgets compression targets at or after `pos` (after rewinding to it). */
  rewind(pos: number): void {
    this.pos = pos;
    const rel = pos - this.#base;
    for (const [k, v] of this.#names) if (v >= rel) this.#names.delete(k);
  }
}

// Keys are the lower-case presentation text of each suffix, escaped the way the decoder
// escapes, so that a plain name and the same name written with escapes share their keys.
function suffixKeys(labels: Uint8Array[]): string[] {
  const keys: string[] = new Array(labels.length);
  let key = "";
  for (let i = labels.length - 1; i >= 0; i--) {
    const l = labels[i];
    const text = asciiLower(labelText(l, 0, l.length));
    key = key === "" ? text : `${text}.${key}`;
    keys[i] = key;
  }
  return keys;
}

function writeRecord(w: DnsWriter, rr: ResourceRecord): void {
  w.name(rr.name, true);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const lenAt = w.pos;
  w.u16(0);
  const start = w.pos;
  const d = rr.data;
  const compress = compressesRdata(rr.type);
  switch (d.kind) {
    case "address":
      w.bytes(d.address);
      break;
    case "name":
      w.name(d.name, compress);
      break;
    case "mx":
      w.u16(d.preference);
      w.name(d.exchange, compress);
      break;
    case "soa":
      w.name(d.mname, compress);
      w.name(d.rname, compress);
      w.u32(d.serial);
      w.u32(d.refresh);
      w.u32(d.retry);
      w.u32(d.expire);
      w.u32(d.minimum);
      break;
    case "txt":
      for (const t of d.texts) {
        const bytes = utf8Encoder.encode(t);
        if (bytes.length > 255) throw new RangeError("TXT string over 255 bytes");
        w.u8(bytes.length);
        w.bytes(bytes);
      }
      break;
    case "srv":
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      // RFC 2782: the target is never compressed.
      w.name(d.target, false);
      break;
    case "raw":
      w.bytes(d.bytes);
      break;
  }
  const len = w.pos - start;
  w.buf[lenAt] = len >> 8;
  w.buf[lenAt + 1] = len;
}

function optSize(edns: Edns): number {
  let n = 11;
  for (const o of edns.options) n += 4 + o.data.length;
  return n;
}

function writeOpt(w: DnsWriter, edns: Edns, rcode: number): void {
  w.u8(0);
  w.u16(DnsType.OPT);
  w.u16(edns.udpSize);
  w.u32(
    (((rcode >> 4) & 0xff) << 24 | (edns.version & 0xff) << 16 | (edns.dnssecOk ? 0x8000 : 0)) >>>
      0,
  );
  let len = 0;
  for (const o of edns.options) len += 4 + o.data.length;
  w.u16(len);
  for (const o of edns.options) {
    w.u16(o.code);
    w.u16(o.data.length);
    w.bytes(o.data);
  }
}

function writeHeader(w: DnsWriter, m: DnsMessage, counts: number[], tc: boolean): void {
  const b = w.buf;
  const at = w.base;
  const flags = (m.qr ? 0x8000 : 0) | (m.opcode & 0x0f) << 11 | (m.aa ? 0x0400 : 0) |
    (tc ? 0x0200 : 0) | (m.rd ? 0x0100 : 0) | (m.ra ? 0x0080 : 0) | (m.ad ? 0x0020 : 0) |
    (m.cd ? 0x0010 : 0) | (m.rcode & 0x0f);
  b[at] = m.id >> 8;
  b[at + 1] = m.id;
  b[at + 2] = flags >> 8;
  b[at + 3] = flags;
  for (let i = 0; i < 4; i++) {
    b[at + 4 + 2 * i] = counts[i] >> 8;
    b[at + 5 + 2 * i] = counts[i];
  }
}

/** What {@linkcode encodeInto} wrote. */
export interface EncodeInfo {
  /** Message length in bytes (written at `writer.base`). */
  length: number;
  /** True when records were left out to stay within the limit and TC was set. */
  truncated: boolean;
}

/**
 * Encodes `msg` into `w` within `limit` bytes. When the answer or authority records do not fit,
 * all records are left out and TC is set (a partial RRset is worse than none: the client retries
 * over TCP); additional records that do not fit are just dropped (RFC 2181 section 9). The OPT,
 * if any, is always kept. Throws a RangeError only for invalid names or data in `msg`.
 */
export function encodeInto(w: DnsWriter, msg: DnsMessage, limit: number): EncodeInfo {
  if (msg.rcode > 15 && msg.edns === null) {
    throw new RangeError(`rcode ${msg.rcode} needs EDNS`);
  }
  w.reset(limit);
  const full = w.limit;
  const reserve = msg.edns === null ? 0 : optSize(msg.edns);
  try {
    w.limit = full - reserve;
    w.pos = w.base + HEADER_SIZE;
    if (w.pos > w.limit) throw OVERFLOW;
    for (const q of msg.questions) {
      w.name(q.name, true);
      w.u16(q.type);
      w.u16(q.class);
    }
  } catch (err) {
    if (err === OVERFLOW) throw new RangeError("limit too small for the question section");
    throw err;
  }
  const afterQuestions = w.pos;
  let truncated = false;
  const counts = [msg.questions.length, 0, 0, 0];
  const sections = [msg.answers, msg.authority, msg.additional];
  outer: for (let s = 0; s < 3; s++) {
    for (const rr of sections[s]) {
      const mark = w.pos;
      try {
        writeRecord(w, rr);
        counts[s + 1]++;
      } catch (err) {
        if (err !== OVERFLOW) throw err;
        w.rewind(mark);
        if (s < 2) {
          truncated = true;
          w.rewind(afterQuestions);
          counts[1] = counts[2] = counts[3] = 0;
        }
        break outer;
      }
    }
  }
  w.limit = full;
  if (msg.edns !== null) {
    writeOpt(w, msg.edns, msg.rcode);
    counts[3]++;
  }
  writeHeader(w, msg, counts, msg.tc || truncated);
  return { length: w.pos - w.base, truncated };
}

/** Encodes `msg` into a new array (convenience over {@linkcode encodeInto}). */
export function encodeMessage(msg: DnsMessage, limit: number = MAX_MESSAGE): Uint8Array {
  const w = new DnsWriter();
  encodeInto(w, msg, limit);
  return w.view().slice();
}

/** A message with every field at its default: id 0, a query, no sections. */
export function emptyMessage(): DnsMessage {
  return {
    id: 0,
    qr: false,
    opcode: OPCODE_QUERY,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    ad: false,
    cd: false,
    rcode: 0,
    questions: [],
    answers: [],
    authority: [],
    additional: [],
    edns: null,
  };
}

/** A query for `name`/`type` (class IN) with an optional EDNS payload size. */
export function buildQuery(
  id: number,
  name: string,
  type: number,
  opts: { rd?: boolean; udpSize?: number } = {},
): Uint8Array {
  const m = emptyMessage();
  m.id = id;
  m.rd = opts.rd ?? true;
  m.questions.push({ name, type, class: DnsClass.IN });
  if (opts.udpSize !== undefined) {
    m.edns = { udpSize: opts.udpSize, version: 0, dnssecOk: false, options: [] };
  }
  return encodeMessage(m);
}
