/**
 * The DNS decoder: strict (every count, length, pointer and label checked against the data), and
 * it never throws: a malformed message yields the reason and, when the header is complete, the
 * header fields to answer FORMERR with.
 * @module
 */

import {
  type DecodeResult,
  type DnsHeaderInfo,
  type DnsMessage,
  type DnsParseError,
  type DnsQuestion,
  DnsType,
  type EdnsOption,
  HEADER_SIZE,
  MAX_NAME_WIRE,
  MAX_POINTER_HOPS,
  type RecordData,
} from "./message.ts";
import { labelText } from "./names.ts";

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

/** A name read from a compression pointer's target on: its text, wire bytes and pointers. */
interface KnownName {
  readonly text: string;
  readonly wire: number;
  readonly hops: number;
}

/** A cursor over a message: every read checks the bounds and throws a Failure past them. */
class Reader {
  pos = 0;
  // The names read from pointer targets, by target: a message whose many names point at one
  // name builds its text once (made at the first pointer, so a plain query allocates nothing).
  #known: Map<number, KnownName> | null = null;
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
    // The first pointer followed without a known name there, and the walk's state at it.
    let first = -1;
    let outAt = 0;
    let wireAt = 0;
    let hopsAt = 0;
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
        // The walk from a target always reads the same bytes: a name read from there before is
        // the same text. Within both limits only; past one, walking finds the same error as ever.
        const known = this.#known === null ? undefined : this.#usable(target, wire, hops);
        if (known !== undefined) {
          out = out.length === 0
            ? known.text
            : known.text.length === 0
            ? out
            : `${out}.${known.text}`;
          wire += known.wire - 1;
          hops += known.hops;
          break;
        }
        if (first < 0) {
          first = target;
          outAt = out.length;
          wireAt = wire;
          hopsAt = hops;
        }
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
    if (first >= 0) {
      this.#remember(
        first,
        outAt === 0 ? out : out.slice(outAt + 1),
        wire - wireAt + 1,
        hops - hopsAt,
      );
    }
    this.pos = end;
    return out;
  }

  // The name known at `target`, if the name being read stays within both limits with it.
  #usable(target: number, wire: number, hops: number): KnownName | undefined {
    const known = this.#known!.get(target);
    if (known === undefined) return undefined;
    return wire + known.wire - 1 <= MAX_NAME_WIRE && hops + known.hops <= MAX_POINTER_HOPS
      ? known
      : undefined;
  }

  #remember(target: number, text: string, wire: number, hops: number): void {
    (this.#known ??= new Map()).set(target, { text, wire, hops });
  }
}

function readHeaderInfo(buf: Uint8Array): DnsHeaderInfo {
  return {
    id: (buf[0] << 8) | buf[1],
    qr: (buf[2] & 0x80) !== 0,
    opcode: (buf[2] >> 3) & 0x0f,
    rd: (buf[2] & 0x01) !== 0,
  };
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
