/**
 * The relay's setup messages, sent inside the WireGuard tunnels on the mesh's control channel
 * (JSON objects with a `t` field, as the other control messages): WireGuard authenticates them,
 * and the sender is the member whose overlay address they come from.
 *
 * - member → relay: `{t: "relay-open", to, ht?: true}` asks for a session with member `to`
 *   (`ht`: this member signs and checks the head-and-tag MAC form, lib/relay/wire.ts);
 *   `{t: "relay-close", to}` ends it.
 * - relay → member: `{t: "relay-session", peer, send: {id, key, ht?}, recv: {id, key, ht?}}`
 *   grants one: `send` is what this member signs its packets to `peer` with, `recv` what
 *   `peer`'s packets to it carry (the peer gets the mirror image); `ht: true` on a direction
 *   says the relay takes the head-and-tag form on it (both members asked with `ht`). A member or
 *   relay that does not know `ht` leaves it out, and the whole-message form stays: versions mix.
 *   `{t: "relay-closed", peer}` says it ended.
 *
 * Keys (`to`, `peer`) are members' public keys as WireGuard base64; session keys are 32 bytes in
 * the same base64; ids are 32-bit unsigned, never 0. Values from the wire are checked strictly
 * and copied into fresh objects: fields this version does not know are ignored and left out.
 * @module
 */

import { parseKey } from "../crypto/keys.ts";

/** One direction of a relayed session as a member holds it. */
export interface RelayGrant {
  /** The session id carried in the packet header. */
  id: number;
  /** The 32-byte MAC key, base64. */
  key: string;
  /** The relay takes the head-and-tag MAC form on this direction (absent: whole messages only). */
  ht?: true;
}

/** A member asking a relay for a session with member `to`. */
export interface RelayOpen {
  /** The message type. */
  t: "relay-open";
  /** The other member's public key. */
  to: string;
  /** This member signs and checks the head-and-tag MAC form (absent: whole messages only). */
  ht?: true;
}

/** A member ending its session with member `to`. */
export interface RelayClose {
  /** The message type. */
  t: "relay-close";
  /** The other member's public key. */
  to: string;
}

/** A relay granting a member a session with `peer`. */
export interface RelaySession {
  /** The message type. */
  t: "relay-session";
  /** The other member's public key. */
  peer: string;
  /** What this member signs its packets to `peer` with. */
  send: RelayGrant;
  /** What `peer`'s packets to this member carry. */
  recv: RelayGrant;
}

/** A relay saying the session with `peer` is gone (closed, expired, or a member left). */
export interface RelayClosed {
  /** The message type. */
  t: "relay-closed";
  /** The other member's public key. */
  peer: string;
}

/** What members send to relays. */
export type RelayRequest = RelayOpen | RelayClose;
/** What relays send to members. */
export type RelayNotice = RelaySession | RelayClosed;
/** Every relay setup message. */
export type RelayMessage = RelayRequest | RelayNotice;

/** The `t` values of relay setup messages. */
export const RELAY_MESSAGE_TYPES: readonly RelayMessage["t"][] = [
  "relay-open",
  "relay-close",
  "relay-session",
  "relay-closed",
];

/** Longest encoded message accepted; a session message is about 220 bytes. */
export const MAX_RELAY_MESSAGE_BYTES = 1024;

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** True when `t` names a relay setup message (for a channel dispatching on `t`). */
export function isRelayMessageType(t: unknown): t is RelayMessage["t"] {
  return (RELAY_MESSAGE_TYPES as readonly unknown[]).includes(t);
}

/** True for canonical base64 of 32 bytes, as `wg` prints keys. */
export function isKeyText(v: unknown): v is string {
  if (typeof v !== "string" || v.length !== 44) return false;
  try {
    parseKey(v, "key");
    return true;
  } catch {
    return false;
  }
}

/** True for a session id: a 32-bit unsigned integer other than 0. */
export function isSessionId(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v > 0 && v <= 0xffffffff;
}

function grant(v: unknown): RelayGrant | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const g = v as Record<string, unknown>;
  if (!isSessionId(g.id) || !isKeyText(g.key)) return null;
  return g.ht === true ? { id: g.id, key: g.key, ht: true } : { id: g.id, key: g.key };
}

/**
 * The relay message `o` is (a fresh object holding only the checked fields), or null when it is
 * not one or any field is out of range: a bad key, an id of 0 or past 32 bits, a session whose
 * two directions share an id.
 */
export function validateRelayMessage(o: unknown): RelayMessage | null {
  if (typeof o !== "object" || o === null || Array.isArray(o)) return null;
  const m = o as Record<string, unknown>;
  switch (m.t) {
    case "relay-open":
      if (!isKeyText(m.to)) return null;
      return m.ht === true ? { t: m.t, to: m.to, ht: true } : { t: m.t, to: m.to };
    case "relay-close":
      return isKeyText(m.to) ? { t: m.t, to: m.to } : null;
    case "relay-closed":
      return isKeyText(m.peer) ? { t: "relay-closed", peer: m.peer } : null;
    case "relay-session": {
      if (!isKeyText(m.peer)) return null;
      const send = grant(m.send);
      const recv = grant(m.recv);
      if (send === null || recv === null || send.id === recv.id) return null;
      return { t: "relay-session", peer: m.peer, send, recv };
    }
    default:
      return null;
  }
}

/** The JSON bytes of a relay message (checked first: an invalid one throws). */
export function encodeRelayMessage(msg: RelayMessage): Uint8Array {
  const clean = validateRelayMessage(msg);
  if (clean === null) throw new Error(`invalid relay message ${JSON.stringify(msg).slice(0, 64)}`);
  return enc.encode(JSON.stringify(clean));
}

/** The relay message in JSON bytes, or null when they are not one (or too long, or not UTF-8). */
export function decodeRelayMessage(data: Uint8Array): RelayMessage | null {
  if (data.length > MAX_RELAY_MESSAGE_BYTES) return null;
  let o: unknown;
  try {
    o = JSON.parse(dec.decode(data));
  } catch {
    return null;
  }
  return validateRelayMessage(o);
}
