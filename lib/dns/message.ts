/**
 * DNS message types and constants (RFC 1035, 3596, 2782, 6891): what the codec reads and writes.
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
