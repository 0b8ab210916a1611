/**
 * The relay's data packets, carried on the underlay outside the tunnels:
 *
 * ```
 * | u32le type | u32le session id | MAC (8) | inner WireGuard message |
 * ```
 *
 * A member sends a member-to-relay type to the relay; the relay sends the matching
 * relay-to-member type to the other member. Both members hold the same id and key for a
 * direction (the sender as `send`, the receiver as `recv`), so the relay checks the MAC and
 * forwards the packet with only the type changed: one MAC per packet at the relay. The MAC is
 * keyed BLAKE2s-64 (lib/relay/mac.ts) under the session's key for that direction, in one of two
 * forms, which the type says:
 *
 * - whole (0x15 to the relay, 0x16 from it; {@link MSG_RELAY_TO_RELAY}): over
 *   `session id || inner`, the whole message.
 * - head-and-tag (0x17, 0x18; {@link MSG_RELAY_TO_RELAY_HT}), used on a session only when the
 *   relay's grant says so (both members said they take it): for a WireGuard data message, over
 *   `session id || u32le(inner length) || inner[0, 16) || inner[len - 16, len)`, its header
 *   (type, receiver index, counter) and its AEAD tag; for the other messages (handshakes, cookie
 *   replies: small and rare) over the whole message, as the whole form. A 1,452-byte message
 *   then costs one BLAKE2s block instead of 23, at each of the three hops.
 *
 * Why the head-and-tag form is enough: the relay's MAC is not what protects the payload.
 * WireGuard's AEAD does, end to end: the receiver opens the message with its session key and
 * drops any change to a byte of it (header, ciphertext or tag). The relay's MAC is there so the
 * relay forwards only for the member it granted the session to, and only that member's own
 * packets: without the key nobody makes a header, counter and tag that pass, and changing the
 * payload under a header and tag that pass makes a message the receiver's AEAD refuses. So an
 * on-path attacker who rewrites the ciphertext of a relayed packet gets it carried one hop
 * further and then dropped, which is no more than dropping it himself; and a replayed packet is
 * what it was before (the relay takes a member's packets only from its WireGuard endpoint, and
 * the receiver's replay window refuses a counter it has seen). The length is in the MAC so a
 * packet cut short keeps neither its MAC nor its tag. The two forms never stand for each other:
 * a whole-form MAC over 36 bytes would need an inner message starting with the length word
 * (at least 32), where every WireGuard message starts with its type (1 to 4).
 *
 * The 16-byte header keeps a full-size WireGuard message inside a 1,500-byte underlay: the
 * default 1,420-byte MTU makes 1,452-byte messages, 1,468 relayed, 1,496 with IPv4 and UDP
 * headers (IPv6 adds 20: 1,516, as a direct IPv6 packet at 1,420 is 1,500).
 *
 * Nothing here allocates: headers are written into and read from the caller's buffers, and the
 * MAC reads the id and the inner message where they lie.
 * @module
 */

import { readU32, writeU32 } from "../protocol/bytes.ts";
import { MSG_TRANSPORT } from "../protocol/constants.ts";
import type { RelayMacKey } from "./mac.ts";

/** Message type of a packet from a member to a relay, its MAC over the whole message. */
export const MSG_RELAY_TO_RELAY = 0x15;
/** Message type of a packet from a relay to a member, its MAC over the whole message. */
export const MSG_RELAY_FROM_RELAY = 0x16;
/** Message type of a packet from a member to a relay, its MAC in the head-and-tag form. */
export const MSG_RELAY_TO_RELAY_HT = 0x17;
/** Message type of a packet from a relay to a member, its MAC in the head-and-tag form. */
export const MSG_RELAY_FROM_RELAY_HT = 0x18;
/** Bytes in front of the inner message. */
export const RELAY_HEADER_SIZE = 16;
/** Offset of the session id. */
export const RELAY_ID_OFFSET = 4;
/** Offset of the MAC. */
export const RELAY_MAC_OFFSET = 8;
/**
 * The smallest inner message worth relaying: a WireGuard keepalive (16-byte header, 16-byte tag),
 * the shortest of WireGuard's four messages.
 */
export const RELAY_MIN_INNER = 32;

/**
 * The relay type of `data` (0x15 to 0x18), or 0 when it is none of them or too short to hold a
 * header and a WireGuard message.
 */
export function relayType(data: Uint8Array): number {
  if (data.length < RELAY_HEADER_SIZE + RELAY_MIN_INNER) return 0;
  const t = readU32(data, 0);
  return t >= MSG_RELAY_TO_RELAY && t <= MSG_RELAY_FROM_RELAY_HT ? t : 0;
}

// The tests below take the packet and compare its first word where they read it: a uint32
// passed to another function may be boxed as a heap number (it need not fit a small integer),
// which would allocate per packet whenever the call is not inlined.

/** True when `data` starts with a member-to-relay type, either form (the mux's test). */
export function isToRelay(data: Uint8Array): boolean {
  if (data.length < 4) return false;
  const t = readU32(data, 0);
  return t === MSG_RELAY_TO_RELAY || t === MSG_RELAY_TO_RELAY_HT;
}

/** True when `data` starts with a relay-to-member type, either form. */
export function isFromRelay(data: Uint8Array): boolean {
  if (data.length < 4) return false;
  const t = readU32(data, 0);
  return t === MSG_RELAY_FROM_RELAY || t === MSG_RELAY_FROM_RELAY_HT;
}

/** True when relay packet `data` (its type checked) carries the head-and-tag MAC. */
export function isHeadTag(data: Uint8Array): boolean {
  const t = data[0];
  return t === MSG_RELAY_TO_RELAY_HT || t === MSG_RELAY_FROM_RELAY_HT;
}

/** The session id of a relay packet (the caller has checked {@link relayType}). */
export function relayId(data: Uint8Array): number {
  return readU32(data, RELAY_ID_OFFSET);
}

/**
 * Writes a member-to-relay packet into `out`: the header for session `id`, the MAC under `key`
 * (in the head-and-tag form with `headTag`) and a copy of `inner`. Returns the packet's length;
 * `out` must hold 16 + `inner.length` bytes.
 */
export function sealRelay(
  id: number,
  key: RelayMacKey,
  inner: Uint8Array,
  out: Uint8Array,
  headTag = false,
): number {
  const total = RELAY_HEADER_SIZE + inner.length;
  if (out.length < total) throw new RangeError(`relay: ${total} bytes do not fit ${out.length}`);
  out.set(inner, RELAY_HEADER_SIZE);
  return sealRelayInPlace(id, key, out, inner.length, headTag);
}

/**
 * Writes the header and MAC of a member-to-relay packet whose inner message of `innerLen` bytes
 * already lies at `out[16..]` (built there, so nothing is copied). Returns the packet's length.
 */
export function sealRelayInPlace(
  id: number,
  key: RelayMacKey,
  out: Uint8Array,
  innerLen: number,
  headTag = false,
): number {
  const total = RELAY_HEADER_SIZE + innerLen;
  if (out.length < total) throw new RangeError(`relay: ${total} bytes do not fit ${out.length}`);
  writeU32(out, 0, headTag ? MSG_RELAY_TO_RELAY_HT : MSG_RELAY_TO_RELAY);
  writeU32(out, RELAY_ID_OFFSET, id);
  if (headTag && isDataMessage(out, innerLen)) {
    key.signHeadTag(id, out, RELAY_HEADER_SIZE, innerLen, out, RELAY_MAC_OFFSET);
  } else {
    key.sign(id, out, RELAY_HEADER_SIZE, innerLen, out, RELAY_MAC_OFFSET);
  }
  return total;
}

/**
 * True when the MAC of relay packet `data` (any of the four types; the caller has checked the
 * type) is right under `key`, in the form its type says. The inner message is then `data[16..]`;
 * nothing is copied.
 */
export function openRelay(data: Uint8Array, key: RelayMacKey): boolean {
  const id = readU32(data, RELAY_ID_OFFSET);
  const innerLen = data.length - RELAY_HEADER_SIZE;
  if (isHeadTag(data) && isDataMessage(data, innerLen)) {
    return key.verifyHeadTag(id, data, RELAY_HEADER_SIZE, innerLen, data, RELAY_MAC_OFFSET);
  }
  return key.verify(id, data, RELAY_HEADER_SIZE, innerLen, data, RELAY_MAC_OFFSET);
}

/**
 * Turns a checked member-to-relay packet into a relay-to-member one of its form, in place: the
 * type's first byte (the others are zero in every relay type).
 */
export function toFromRelay(data: Uint8Array): void {
  data[0] = data[0] === MSG_RELAY_TO_RELAY_HT ? MSG_RELAY_FROM_RELAY_HT : MSG_RELAY_FROM_RELAY;
}

/** True when the inner message of `innerLen` bytes at `packet[16..]` is WireGuard transport data. */
function isDataMessage(packet: Uint8Array, innerLen: number): boolean {
  return innerLen >= RELAY_MIN_INNER && readU32(packet, RELAY_HEADER_SIZE) === MSG_TRANSPORT;
}
