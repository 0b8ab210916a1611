/**
 * The DNS wire format (RFC 1035) with EDNS0 (RFC 6891): a strict decoder that never throws but
 * says why a message is malformed, and an encoder with name compression that truncates to a size
 * limit (setting TC). Plain `Uint8Array`s, no Buffer, no dependencies.
 *
 * Names are text in presentation form without the trailing dot (the root is `""`); a label's
 * `.` and `\` are escaped as `\.` and `\\`, other bytes outside printable ASCII as `\DDD`.
 * @module
 */

/** The record type names this module knows by name. */
export type DnsTypeName =
  | "A"
  | "NS"
  | "CNAME"
  | "SOA"
  | "PTR"
  | "MX"
  | "TXT"
  | "AAAA"
  | "SRV"
  | "OPT"
  | "IXFR"
  | "AXFR"
  | "MAILB"
  | "MAILA"
  | "ANY";

/** Record type numbers (RFC 1035, 3596, 2782, 6891). */
export const DnsType: Readonly<Record<DnsTypeName, number>> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  MAILB: 253,
  MAILA: 254,
  ANY: 255,
};

/** Class numbers. */
export const DnsClass: Readonly<Record<"IN" | "CH" | "HS" | "NONE" | "ANY", number>> = {
  IN: 1,
  CH: 3,
  HS: 4,
  NONE: 254,
  ANY: 255,
};

/** The response codes this server uses (BADVERS needs EDNS: its upper bits live in the OPT). */
export type RcodeName =
  | "NOERROR"
  | "FORMERR"
  | "SERVFAIL"
  | "NXDOMAIN"
  | "NOTIMP"
  | "REFUSED"
  | "BADVERS";

/** Response code numbers (RFC 1035, 6891). */
export const Rcode: Readonly<Record<RcodeName, number>> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
};

/** The QUERY opcode; others are answered NOTIMP. */
export const OPCODE_QUERY = 0;
/** The largest DNS message (the TCP length prefix is 16 bits). */
export const MAX_MESSAGE = 65535;
/** The UDP payload a client without EDNS accepts (RFC 1035 4.2.1). */
export const CLASSIC_UDP_SIZE = 512;
/** The longest name in wire form, length octets and root label included. */
export const MAX_NAME_WIRE = 255;
/** The longest label. */
export const MAX_LABEL = 63;
/** How many compression pointers one name may follow. */
export const MAX_POINTER_HOPS = 64;
/** The fixed header size. */
export const HEADER_SIZE = 12;

const TYPE_NAMES = new Map<number, DnsTypeName>(
  (Object.entries(DnsType) as [DnsTypeName, number][]).map(([k, v]) => [v, k]),
);
const RCODE_NAMES = new Map<number, RcodeName>(
  (Object.entries(Rcode) as [RcodeName, number][]).map(([k, v]) => [v, k]),
);

/** The mnemonic of a type number, or `TYPE<n>` (RFC 3597) for others. */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/** The mnemonic of a response code, or `RCODE<n>`. */
export function rcodeName(rcode: number): string {
  return RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`;
}

/** One entry of the question section. */
export interface DnsQuestion {
  /** The name asked for, case as sent. */
  name: string;
  /** The record type asked for. */
  type: number;
  /** The class asked for (normally IN). */
  class: number;
}

/** The state of authority record: the zone's identity and its negative-caching TTL. */
export interface SoaData {
  /** Always `soa`. */
  kind: "soa";
  /** The primary name server. */
  mname: string;
  /** The responsible mailbox, as a name. */
  rname: string;
  /** The zone's version. */
  serial: number;
  /** Secondary refresh interval, seconds. */
  refresh: number;
  /** Secondary retry interval, seconds. */
  retry: number;
  /** When secondaries give up, seconds. */
  expire: number;
  /** The TTL of negative answers (RFC 2308), seconds. */
  minimum: number;
}

/** The data of a resource record, by shape (the record's `type` says which RR it is). */
export type RecordData =
  /** A (4 bytes) or AAAA (16 bytes). */
  | { kind: "address"; address: Uint8Array }
  /** NS, CNAME, PTR: one name. */
  | { kind: "name"; name: string }
  /** MX: a preference and a mail exchanger. */
  | { kind: "mx"; preference: number; exchange: string }
  | SoaData
  /** TXT: one or more character-strings. */
  | { kind: "txt"; texts: string[] }
  /** SRV (RFC 2782). */
  | { kind: "srv"; priority: number; weight: number; port: number; target: string }
  /** Anything else, as opaque bytes. */
  | { kind: "raw"; bytes: Uint8Array };

/** A resource record of the answer, authority or additional section (never an OPT). */
export interface ResourceRecord {
  /** The owner name. */
  name: string;
  /** The record type. */
  type: number;
  /** The class. */
  class: number;
  /** Time to live, seconds. */
  ttl: number;
  /** The record data. */
  data: RecordData;
}

/** One EDNS option (code and opaque value). */
export interface EdnsOption {
  /** Option code. */
  code: number;
  /** Option value. */
  data: Uint8Array;
}

/** The EDNS0 pseudo-record (OPT) of a message. */
export interface Edns {
  /** The largest UDP payload the sender accepts. */
  udpSize: number;
  /** EDNS version (0 is the only one defined). */
  version: number;
  /** The DNSSEC OK bit. */
  dnssecOk: boolean;
  /** Options, in order. */
  options: EdnsOption[];
}

/** A whole DNS message. */
export interface DnsMessage {
  /** Transaction id. */
  id: number;
  /** True for a response. */
  qr: boolean;
  /** Operation code (0 = QUERY). */
  opcode: number;
  /** Authoritative answer. */
  aa: boolean;
  /** Truncated. */
  tc: boolean;
  /** Recursion desired. */
  rd: boolean;
  /** Recursion available. */
  ra: boolean;
  /** Authentic data (RFC 4035). */
  ad: boolean;
  /** Checking disabled (RFC 4035). */
  cd: boolean;
  /** The response code, its upper 8 bits taken from the OPT when there is one. */
  rcode: number;
  /** The question section. */
  questions: DnsQuestion[];
  /** The answer section. */
  answers: ResourceRecord[];
  /** The authority section. */
  authority: ResourceRecord[];
  /** The additional section, without the OPT. */
  additional: ResourceRecord[];
  /** The OPT record, or null when the message has none. */
  edns: Edns | null;
}

/** Why a message could not be decoded. */
export type DnsParseError =
  /** Fewer than 12 bytes: no header, nothing to answer. */
  | "short-header"
  /** The data ends before the counts or lengths say it should. */
  | "truncated"
  /** A label length byte of 64-127. */
  | "label-too-long"
  /** A label type 0b10 (reserved) or 0b01 beyond the length range. */
  | "bad-label-type"
  /** A name over 255 bytes in wire form. */
  | "name-too-long"
  /** A compression pointer forward, into itself, into the header, or out of the message. */
  | "bad-pointer"
  /** More compression pointers than any legitimate name needs. */
  | "pointer-loop"
  /** Record data that does not fill its length exactly or is invalid for its type. */
  | "bad-rdata"
  /** An OPT outside the additional section, twice, or with a non-root owner. */
  | "bad-opt"
  /** Bytes after the last record the counts announce. */
  | "trailing-data";

/** The header fields needed to answer FORMERR to a message whose body is broken. */
export interface DnsHeaderInfo {
  /** Transaction id. */
  id: number;
  /** True for a response (never answer those). */
  qr: boolean;
  /** Operation code. */
  opcode: number;
  /** Recursion desired. */
  rd: boolean;
}

/** The outcome of {@linkcode decodeMessage}. */
export type DecodeResult =
  | { ok: true; message: DnsMessage }
  | { ok: false; error: DnsParseError; header: DnsHeaderInfo | null };

// Decoding failures unwind with a preallocated marker; decodeMessage turns it into a result.
class Failure {
  constructor(readonly error: DnsParseError) {}
}
const FAIL: Record<DnsParseError, Failure> = {
  "short-header": new Failure("short-header"),
  "truncated": new Failure("truncated"),
  "label-too-long": new Failure("label-too-long"),
  "bad-label-type": new Failure("bad-label-type"),
  "name-too-long": new Failure("name-too-long"),
  "bad-pointer": new Failure("bad-pointer"),
  "pointer-loop": new Failure("pointer-loop"),
  "bad-rdata": new Failure("bad-rdata"),
  "bad-opt": new Failure("bad-opt"),
  "trailing-data": new Failure("trailing-data"),
};

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/** Reads a name at `start`; `Reader.pos` ends after the name's in-place bytes. */
class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw FAIL.truncated;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u16(): number {
    this.need(2);
    const b = this.buf;
    const v = (b[this.pos] << 8) | b[this.pos + 1];
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
  }

  name(): string {
    const buf = this.buf;
    let pos = this.pos;
    // Every pointer must land strictly before the bytes read so far, so the walk only moves
    // backwards and ends; the hop cap bounds the work on top of that.
    let low = pos;
    let end = -1;
    let hops = 0;
    let wire = 1;
    let out = "";
    for (;;) {
      if (pos >= buf.length) throw FAIL.truncated;
      const len = buf[pos];
      if (len === 0) {
        if (end < 0) end = pos + 1;
        break;
      }
      const top = len & 0xc0;
      if (top === 0xc0) {
        if (pos + 1 >= buf.length) throw FAIL.truncated;
        const target = ((len & 0x3f) << 8) | buf[pos + 1];
        if (end < 0) end = pos + 2;
        if (target < HEADER_SIZE || target >= low) throw FAIL["bad-pointer"];
        if (++hops > MAX_POINTER_HOPS) throw FAIL["pointer-loop"];
        pos = target;
        low = target;
        continue;
      }
      if (top === 0x40) throw FAIL["label-too-long"];
      if (top !== 0) throw FAIL["bad-label-type"];
      wire += len + 1;
      if (wire > MAX_NAME_WIRE) throw FAIL["name-too-long"];
      if (pos + 1 + len > buf.length) throw FAIL.truncated;
      if (out.length > 0) out += ".";
      out += labelText(buf, pos + 1, len);
      pos += 1 + len;
    }
    this.pos = end;
    return out;
  }
}

function labelText(buf: Uint8Array, start: number, len: number): string {
  let s = "";
  for (let i = start; i < start + len; i++) {
    const c = buf[i];
    if (c === 0x2e || c === 0x5c) s += "\\" + String.fromCharCode(c);
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += "\\" + (c < 10 ? "00" : c < 100 ? "0" : "") + c;
  }
  return s;
}

function readHeaderInfo(buf: Uint8Array): DnsHeaderInfo {
  return {
    id: (buf[0] << 8) | buf[1],
    qr: (buf[2] & 0x80) !== 0,
    opcode: (buf[2] >> 3) & 0x0f,
    rd: (buf[2] & 0x01) !== 0,
  };
}

/**
 * The header fields of `buf`, or null when it is shorter than a header. Cheap: for deciding
 * whether a message is a response without decoding it.
 */
export function peekHeader(buf: Uint8Array): DnsHeaderInfo | null {
  return buf.length < HEADER_SIZE ? null : readHeaderInfo(buf);
}

function readRdata(r: Reader, type: number, rdlen: number): RecordData {
  const end = r.pos + rdlen;
  if (end > r.buf.length) throw FAIL.truncated;
  let data: RecordData;
  switch (type) {
    case DnsType.A:
    case DnsType.AAAA: {
      const size = type === DnsType.A ? 4 : 16;
      if (rdlen !== size) throw FAIL["bad-rdata"];
      data = { kind: "address", address: r.buf.slice(r.pos, end) };
      r.pos = end;
      break;
    }
    case DnsType.NS:
    case DnsType.CNAME:
    case DnsType.PTR:
      data = { kind: "name", name: r.name() };
      break;
    case DnsType.MX:
      data = { kind: "mx", preference: r.u16(), exchange: r.name() };
      break;
    case DnsType.SOA:
      data = {
        kind: "soa",
        mname: r.name(),
        rname: r.name(),
        serial: r.u32(),
        refresh: r.u32(),
        retry: r.u32(),
        expire: r.u32(),
        minimum: r.u32(),
      };
      break;
    case DnsType.TXT: {
      if (rdlen === 0) throw FAIL["bad-rdata"];
      const texts: string[] = [];
      let text = true;
      const start = r.pos;
      while (r.pos < end) {
        const n = r.buf[r.pos];
        if (r.pos + 1 + n > end) throw FAIL["bad-rdata"];
        const bytes = r.buf.subarray(r.pos + 1, r.pos + 1 + n);
        r.pos += 1 + n;
        if (!text) continue;
        try {
          texts.push(utf8.decode(bytes));
        } catch {
          text = false;
        }
      }
      // Strings that are not UTF-8 stay bytes, so that re-encoding gives the same record.
      data = text ? { kind: "txt", texts } : { kind: "raw", bytes: r.buf.slice(start, end) };
      break;
    }
    case DnsType.SRV:
      data = { kind: "srv", priority: r.u16(), weight: r.u16(), port: r.u16(), target: r.name() };
      break;
    default:
      data = { kind: "raw", bytes: r.buf.slice(r.pos, end) };
      r.pos = end;
  }
  // A name or field that runs past the record's length reads someone else's bytes.
  if (r.pos !== end) throw FAIL["bad-rdata"];
  return data;
}

function readOptions(buf: Uint8Array, start: number, end: number): EdnsOption[] {
  const options: EdnsOption[] = [];
  let p = start;
  while (p < end) {
    if (p + 4 > end) throw FAIL["bad-opt"];
    const code = (buf[p] << 8) | buf[p + 1];
    const len = (buf[p + 2] << 8) | buf[p + 3];
    if (p + 4 + len > end) throw FAIL["bad-opt"];
    options.push({ code, data: buf.slice(p + 4, p + 4 + len) });
    p += 4 + len;
  }
  return options;
}

function decodeBody(buf: Uint8Array): DnsMessage {
  const r = new Reader(buf);
  r.pos = 2;
  const flags = r.u16();
  const qd = r.u16();
  const an = r.u16();
  const ns = r.u16();
  const ar = r.u16();
  const msg: DnsMessage = {
    id: (buf[0] << 8) | buf[1],
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0x0f,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    rcode: flags & 0x0f,
    questions: [],
    answers: [],
    authority: [],
    additional: [],
    edns: null,
  };
  for (let i = 0; i < qd; i++) {
    const name = r.name();
    const type = r.u16();
    msg.questions.push({ name, type, class: r.u16() });
  }
  const sections = [msg.answers, msg.authority, msg.additional];
  const counts = [an, ns, ar];
  for (let s = 0; s < 3; s++) {
    const list = sections[s];
    for (let i = 0; i < counts[s]; i++) {
      const name = r.name();
      const type = r.u16();
      const klass = r.u16();
      const ttl = r.u32();
      const rdlen = r.u16();
      if (type === DnsType.OPT) {
        if (s !== 2 || msg.edns !== null || name !== "") throw FAIL["bad-opt"];
        r.need(rdlen);
        const options = readOptions(buf, r.pos, r.pos + rdlen);
        r.pos += rdlen;
        msg.rcode |= (ttl >>> 24) << 4;
        msg.edns = {
          udpSize: klass,
          version: (ttl >>> 16) & 0xff,
          dnssecOk: (ttl & 0x8000) !== 0,
          options,
        };
        continue;
      }
      list.push({ name, type, class: klass, ttl, data: readRdata(r, type, rdlen) });
    }
  }
  if (r.pos !== buf.length) throw FAIL["trailing-data"];
  return msg;
}

/**
 * Decodes a whole message. Never throws: a malformed one yields the reason and, when the
 * header is complete, its fields, so that the caller can answer FORMERR (or drop a response).
 */
export function decodeMessage(buf: Uint8Array): DecodeResult {
  if (buf.length < HEADER_SIZE) return { ok: false, error: "short-header", header: null };
  try {
    return { ok: true, message: decodeBody(buf) };
  } catch (err) {
    if (err instanceof Failure) {
      return { ok: false, error: err.error, header: readHeaderInfo(buf) };
    }
    // Anything else is a bug in this module; it still must not reach the caller as a throw.
    return { ok: false, error: "bad-rdata", header: readHeaderInfo(buf) };
  }
}

/**
 * The header and first question of `buf` without decoding the rest (for matching an upstream's
 * answer to a query even when its records use types or forms this decoder rejects), or null.
 */
export function readQuestion(
  buf: Uint8Array,
): { header: DnsHeaderInfo; question: DnsQuestion } | null {
  if (buf.length < HEADER_SIZE) return null;
  if (((buf[4] << 8) | buf[5]) === 0) return null;
  const r = new Reader(buf);
  r.pos = HEADER_SIZE;
  try {
    const name = r.name();
    const type = r.u16();
    return { header: readHeaderInfo(buf), question: { name, type, class: r.u16() } };
  } catch {
    return null;
  }
}

/** Lowercases ASCII letters only (DNS names compare case-insensitively in ASCII alone). */
export function asciiLower(text: string): string {
  // Decoded names escape every non-ASCII byte, so toLowerCase cannot touch anything else.
  return /[A-Z]/.test(text) ? text.toLowerCase() : text;
}

/** A name without its trailing dot and in lower case: the form to compare and index by. */
export function canonicalName(name: string): string {
  const lower = asciiLower(name);
  if (!lower.endsWith(".")) return lower;
  // A final dot preceded by an odd run of backslashes is part of the last label.
  let slashes = 0;
  for (let i = lower.length - 2; i >= 0 && lower.charCodeAt(i) === 0x5c; i--) slashes++;
  return slashes % 2 === 0 ? lower.slice(0, -1) : lower;
}

/**
 * Splits a presentation-form name into wire labels. Throws a RangeError on an empty label, a
 * label over 63 bytes, a name over 255 bytes or a bad escape: the encoder only takes names
 * this program made.
 */
export function nameToLabels(name: string): Uint8Array[] {
  const text = name === "." ? "" : name;
  const labels: Uint8Array[] = [];
  if (text === "") return labels;
  let cur: number[] = [];
  let wire = 1;
  const finish = (last: boolean): void => {
    if (cur.length === 0) {
      if (last) return; // the trailing dot of an absolute name
      throw new RangeError(`empty label in name "${name}"`);
    }
    if (cur.length > MAX_LABEL) throw new RangeError(`label over 63 bytes in "${name}"`);
    wire += cur.length + 1;
    labels.push(Uint8Array.from(cur));
    cur = [];
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x2e) {
      if (i === text.length - 1) {
        finish(true);
        break;
      }
      finish(false);
    } else if (ch === 0x5c) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0x30 && next <= 0x39) {
        const digits = text.slice(i + 1, i + 4);
        if (!/^[0-9]{3}$/.test(digits) || Number(digits) > 255) {
          throw new RangeError(`bad escape in name "${name}"`);
        }
        cur.push(Number(digits));
        i += 3;
      } else if (i + 1 < text.length) {
        cur.push(next);
        i += 1;
      } else {
        throw new RangeError(`dangling escape in name "${name}"`);
      }
    } else if (ch < 0x80) {
      cur.push(ch);
    } else {
      const cp = text.codePointAt(i) ?? ch;
      for (const b of utf8Encoder.encode(String.fromCodePoint(cp))) cur.push(b);
      if (cp > 0xffff) i++;
    }
  }
  if (cur.length > 0) finish(true);
  if (wire > MAX_NAME_WIRE) throw new RangeError(`name over 255 bytes: "${name}"`);
  return labels;
}

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
