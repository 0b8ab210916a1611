/**
 * Packed view and delta parts: a group's records (a whole view's, or a delta's upserts and
 * removals) as JSON deflated once and cut into datagram-sized chunks, for nodes whose hello says
 * they take them (`fz`). A member record is some 230 bytes of JSON, about 5 a datagram; deflated,
 * some 55 to 75 (keys and the fields' names repeat), so a full mesh's views and pushes take a
 * quarter to a third of the datagrams, and a leader's cost per datagram (sealing, the UDP write,
 * the inner checksum) is most of what it spends telling its members.
 *
 * A packed part is one datagram (framed as ./framing.ts says): the byte {@link PACKED} (a JSON
 * message starts with `{`), the header's length (2 bytes, big-endian), the header (JSON: `t`,
 * `v`, `from` for a delta, `network`, `network6`, `part`, `parts`) and its chunk of the deflated
 * body. The chunks of a view's parts, in part order, make one raw deflate stream of
 * `{"members":[...],"remove":[...]}`; parts without a chunk (a member's own record, in a part of
 * its own) are plain JSON messages.
 * @module
 */

import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { Member } from "../../members/member.ts";
import { framed, unframed } from "./framing.ts";

/** The first byte of a packed part (a JSON message starts with `{`, 0x7b). */
export const PACKED = 0x01;

/** Deflated bytes a packed part carries, at most: with its header, one datagram under the MTU. */
export const PACKED_CHUNK = 1200;

/** The largest body a packed view inflates to (about 300,000 records); larger: malformed. */
export const MAX_PACKED_BODY = 64 * 1024 * 1024;

/** The header of a packed part. */
export interface PackedHead {
  t: "view" | "delta";
  v: number;
  /** A delta's base version. */
  from?: number;
  network: string;
  network6?: string;
}

/** What a packed view or delta carries: records to take, keys to drop (a delta's). */
export interface PackedBody {
  members: Member[];
  remove: string[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Deflates `body` once and cuts it into chunks of at most `chunk` bytes (at least one chunk). */
export function packBody(body: PackedBody, chunk = PACKED_CHUNK): Uint8Array[] {
  const z = deflateRawSync(enc.encode(JSON.stringify(body)));
  const out: Uint8Array[] = [];
  for (let i = 0; i < z.length; i += chunk) out.push(z.subarray(i, i + chunk));
  if (out.length === 0) out.push(new Uint8Array(0));
  return out;
}

/** One packed part's datagram: `head` with `part` of `parts`, and its chunk. */
export function packedPart(
  head: PackedHead,
  part: number,
  parts: number,
  chunk: Uint8Array,
): Uint8Array {
  const out = framed(PACKED, { ...head, part, parts }, chunk.length);
  out.set(chunk, out.length - chunk.length);
  return out;
}

/**
 * The datagrams of `chunks` (from {@link packBody}) under `head`, parts 0 to `chunks.length - 1`
 * of `chunks.length + extra` (`extra`: plain parts that follow, a member's own record).
 */
export function packedParts(head: PackedHead, chunks: Uint8Array[], extra = 0): Uint8Array[] {
  const n = chunks.length + extra;
  return chunks.map((c, i) => packedPart(head, i, n, c));
}

/**
 * A packed part's header (as parsed JSON, unchecked: the caller checks it as any message) and
 * its chunk (a copy: the datagram's buffer may be reused); null when it is not one.
 */
export function unpackPart(
  data: Uint8Array,
): { head: Record<string, unknown>; chunk: Uint8Array } | null {
  const frame = unframed(data, PACKED);
  return frame ? { head: frame.head, chunk: frame.body.slice() } : null;
}

/**
 * The body of a packed view or delta from its chunks in part order; null when they do not
 * inflate (a lost or forged chunk, a truncated stream), inflate past {@link MAX_PACKED_BODY}, or
 * are not a body (records as objects with a string key, removals as strings).
 */
export function unpackBody(chunks: Uint8Array[], max = MAX_PACKED_BODY): PackedBody | null {
  let total = 0;
  for (const c of chunks) total += c.length;
  const z = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    z.set(c, at);
    at += c.length;
  }
  const raw = inflated(z, max);
  return raw ? bodyOf(raw) : null;
}

/** Raw deflate `z` inflated, at most `max` bytes; null when it does not inflate within that. */
function inflated(z: Uint8Array, max: number): Uint8Array | null {
  try {
    return inflateRawSync(z, { maxOutputLength: max });
  } catch {
    return null;
  }
}

/** The body in `raw` (JSON): records as objects with a string key, removals as strings; or null. */
function bodyOf(raw: Uint8Array): PackedBody | null {
  let o: unknown;
  try {
    o = JSON.parse(dec.decode(raw));
  } catch {
    return null;
  }
  if (typeof o !== "object" || o === null) return null;
  const b = o as Record<string, unknown>;
  const members = b.members;
  const remove = b.remove ?? [];
  if (!Array.isArray(members) || !Array.isArray(remove)) return null;
  for (const m of members) {
    if (typeof m !== "object" || m === null || typeof m.publicKey !== "string") return null;
  }
  if (!remove.every((k) => typeof k === "string")) return null;
  return { members: members as Member[], remove: remove as string[] };
}

/**
 * A segment of a shared view (./manifest.ts): `members` deflated on their own (a body without
 * removals) and cut into pieces of at most `chunk` bytes, so its bytes stay the same while its
 * records do.
 */
export function packSegment(members: Member[], chunk = PACKED_CHUNK): Uint8Array[] {
  return packBody({ members, remove: [] }, chunk);
}

/**
 * The records of a shared view's segments (each its pieces joined, in order); null when one
 * does not unpack, carries removals, or all together inflate past `max`.
 */
export function unpackSegments(segments: Uint8Array[], max = MAX_PACKED_BODY): Member[] | null {
  const out: Member[] = [];
  let left = max;
  for (const s of segments) {
    const raw = left > 0 ? inflated(s, left) : null;
    const body = raw ? bodyOf(raw) : null;
    if (!body || body.remove.length > 0) return null;
    left -= raw!.length;
    for (const m of body.members) out.push(m);
  }
  return out;
}
