/**
 * A simulated member's side of carried pushes (lib/mesh/sync/carried.ts), as a node's Carrier
 * (lib/mesh/sync/carrier.ts) does it: it says the id of the push key it holds in its hellos
 * (`ck`), takes the leader's `pushkey` and `carry` messages, checks each carried part (the key's
 * id, the signature, a delta inside, the policy version held), passes a part that came from the
 * leader on to the members a `carry` of that push names, and takes the delta as pushed by the
 * leader. What differs is the cost: every member gets the same bytes of a part, so its signature
 * is verified once for the whole simulator (a real node verifies each itself), and the part
 * parsed once.
 * @module
 */

import type { ControlMessage } from "../../../lib/mesh/sync/protocol.ts";
import { parseMessage } from "../../../lib/mesh/sync/protocol.ts";
import {
  CARRIED,
  CARRIED_HEAD_BYTES as HEAD_BYTES,
  CARRIED_PV_AT as PV_AT,
  CARRIED_SIG_AT as SIG_AT,
  PUSH_KEY_ID_BYTES,
  type PushKey,
  pushKeyOf,
  unpackCarried,
  verifyCarried,
} from "../../../lib/mesh/sync/carried.ts";
import type { DeltaMessage } from "../../../lib/mesh/sync/carrier.ts";
import { decodeBase64 } from "../../../lib/crypto/base64.ts";
import { equalBytes } from "../../../lib/crypto/bytes.ts";
import type { Member } from "./member.ts";

/** How a member's carried pushes are counted, passed on and taken. */
export interface CarriedLink {
  /** Counts a datagram received (or dropped) by kind (what `received` reports). */
  got(kind: string): void;
  /** Counts `n` datagrams sent by kind. */
  sent(kind: string, n: number): void;
  /**
   * Sends `bytes` (never changed later) from `m` to the member at overlay `address`, as members'
   * traffic goes (./peer_links.ts, or a session of their own).
   */
  sendTo(m: Member, address: string, bytes: Uint8Array): void;
  /** Takes `msg` as a delta from `m`'s leader, the path a pushed one takes (member_sync.ts). */
  apply(m: Member, msg: DeltaMessage): void;
}

/** A push key a member holds: the key, and its id's bytes (compared with a datagram's). */
export interface HeldKey {
  key: PushKey;
  raw: Uint8Array;
}

/** A `carry` of the leader a member holds: pass the next `left` parts of f..v on to `to`. */
export interface HeldCarry {
  f: number;
  v: number;
  to: string[];
  left: number;
}

// As a Carrier: a push's list and the next's while it overlaps.
const CARRIES_MAX = 4;

// The keys by the text the leader sent (every member hears the same: one key object for all).
const KEYS_MAX = 16;
const keys = new Map<string, HeldKey | null>();

/**
 * Datagrams whose signature held, by the first 6 bytes of the signature (a number: no string
 * made per datagram); a hit counts only under the same key and with the same bytes, so a part
 * whose bytes differ from the one verified is verified itself. With the delta inside, parsed
 * once (null: none).
 */
interface Verified {
  key: PushKey;
  bytes: Uint8Array;
  msg: DeltaMessage | null;
}
/** Verified datagrams kept (the oldest go first): a few pushes' parts in flight. */
export const VERIFIED_MAX = 1024;
const verified = new Map<number, Verified>();

/** What `m`'s hellos say of carried pushes: `ck` when it takes them. */
export function carriedFields(m: Member): { ck?: string } {
  return m.ck ? { ck: m.pushKey?.key.id ?? "" } : {};
}

/** The leader's push key (`pushkey`), taken when `m` takes carried pushes. */
export function onPushKey(m: Member, text: string): void {
  if (!m.ck) return;
  let held = keys.get(text);
  if (held === undefined) {
    const key = pushKeyOf(text);
    held = key ? { key, raw: decodeBase64(key.id)! } : null;
    if (keys.size >= KEYS_MAX) keys.delete(keys.keys().next().value!);
    keys.set(text, held);
  }
  if (held) m.pushKey = held;
}

/** The leader asks `m` to pass a push's parts on (kept as a Carrier keeps them: a few). */
export function onCarry(m: Member, msg: Extract<ControlMessage, { t: "carry" }>): void {
  if (!m.pushKey || msg.to.length === 0 || msg.n === 0) return;
  const carries = m.carries ??= [];
  const same = carries.findIndex((c) => c.f === msg.f && c.v === msg.v);
  if (same >= 0) carries.splice(same, 1);
  if (carries.length >= CARRIES_MAX) carries.shift();
  carries.push({ f: msg.f, v: msg.v, to: msg.to, left: msg.n });
}

/**
 * A carried datagram `data` to `m` from overlay address `from` (its leader, or a member passing
 * it on): checked as a Carrier checks it (drops counted by reason), passed on where the leader
 * asked, and taken as the leader's delta. `data` may be a buffer reused after the call.
 */
export function onCarried(link: CarriedLink, m: Member, data: Uint8Array, from: string): void {
  if (data.length <= HEAD_BYTES || data[0] !== CARRIED) return link.got("carried-malformed");
  const held = m.pushKey;
  if (!held || !sameId(held.raw, data)) return link.got("carried-unknown-key");
  const ok = checked(held.key, data);
  if (!ok) return link.got("carried-forged");
  const msg = ok.msg;
  if (!msg) return link.got("carried-not-delta");
  const leader = from === m.leaderAddress;
  // Passed on only as the leader asked (a `carry` from it, for this push), and only what came
  // from it: no other member can have this one send anything. Passed on whatever policy this
  // one holds (a part of the new one still coming): the members it goes to check their own.
  const carries = m.carries;
  if (leader && carries) {
    for (let k = 0; k < carries.length; k++) {
      const c = carries[k];
      if (c.f !== msg.from || c.v !== msg.v) continue;
      for (const to of c.to) link.sendTo(m, to, ok.bytes);
      link.sent("carried-sent", c.to.length);
      if (--c.left <= 0) carries.splice(k, 1);
      break;
    }
  }
  const pv = (data[PV_AT] << 24 | data[PV_AT + 1] << 16 | data[PV_AT + 2] << 8 |
    data[PV_AT + 3]) >>> 0;
  if (pv !== m.pv) return link.got("carried-other-policy");
  link.got(leader ? "carried" : "carried-passed");
  link.apply(m, msg);
}

/** The verified datagram with `data`'s bytes under `key`; null when its signature does not hold. */
function checked(key: PushKey, data: Uint8Array): Verified | null {
  const sig = (data[SIG_AT] << 8 | data[SIG_AT + 1]) * 4294967296 +
    ((data[SIG_AT + 2] << 24 | data[SIG_AT + 3] << 16 | data[SIG_AT + 4] << 8 |
      data[SIG_AT + 5]) >>> 0);
  const seen = verified.get(sig);
  if (seen && seen.key === key && equalBytes(seen.bytes, data)) return seen;
  // A copy: `data` may be the tunnel's buffer, and the bytes go on to other members.
  const bytes = data.slice();
  const c = unpackCarried(bytes);
  if (!c || !verifyCarried(key, c)) return null;
  const msg = parseMessage(c.part);
  const v: Verified = { key, bytes, msg: msg?.t === "delta" ? msg : null };
  verified.delete(sig);
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!);
  verified.set(sig, v);
  return v;
}

function sameId(raw: Uint8Array, data: Uint8Array): boolean {
  for (let i = 0; i < PUSH_KEY_ID_BYTES; i++) if (raw[i] !== data[1 + i]) return false;
  return true;
}
