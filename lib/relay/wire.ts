/**
 * The relay's data packets, carried on the underlay outside the tunnels:
 *
 * ```
 * | u32le type | u32le session id | MAC (8) | inner WireGuard message |
 * ```
 *
 * A member sends type 0x15 ({@link MSG_RELAY_TO_RELAY}) to the relay; the relay sends type 0x16
 * ({@link MSG_RELAY_FROM_RELAY}) to the other member. MAC = keyed BLAKE2s-64 (lib/relay/mac.ts)
 * of `session id || inner` under the session's key for that direction. Both members hold the same
 * id and key for a direction (the sender as `send`, the receiver as `recv`), so the relay checks
 * the MAC and forwards the packet with only the type changed: one MAC per packet at the relay.
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
import type { RelayMacKey } from "./mac.ts";

/** Message type of a packet from a member to a relay. */
export const MSG_RELAY_TO_RELAY = 0x15;
/** Message type of a packet from a relay to a member. */
export const MSG_RELAY_FROM_RELAY = 0x16;
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
 * The relay type of `data` (0x15 or 0x16), or 0 when it is neither, its reserved bytes are not
 * zero, or it is too short to hold a header and a WireGuard message.
 */
export function relayType(data: Uint8Array): number {
  if (data.length < RELAY_HEADER_SIZE + RELAY_MIN_INNER) return 0;
  const t = readU32(data, 0);
  return t === MSG_RELAY_TO_RELAY || t === MSG_RELAY_FROM_RELAY ? t : 0;
}

/** The session id of a relay packet (the caller has checked {@link relayType}). */
export function relayId(data: Uint8Array): number {
  return readU32(data, RELAY_ID_OFFSET);
}

/**
 * Writes a member-to-relay packet into `out`: the header for session `id`, the MAC under `key`
 * and a copy of `inner`. Returns the packet's length; `out` must hold 16 + `inner.length` bytes.
 */
export function sealRelay(
  id: number,
  key: RelayMacKey,
  inner: Uint8Array,
  out: Uint8Array,
): number {
  const total = RELAY_HEADER_SIZE + inner.length;
  if (out.length < total) throw new RangeError(`relay: ${total} bytes do not fit ${out.length}`);
  writeU32(out, 0, MSG_RELAY_TO_RELAY);
  writeU32(out, RELAY_ID_OFFSET, id);
  out.set(inner, RELAY_HEADER_SIZE);
  key.sign(id, out, RELAY_HEADER_SIZE, inner.length, out, RELAY_MAC_OFFSET);
  return total;
}

/**
 * True when the MAC of relay packet `data` (either type) is right under `key`. The inner message
 * is then `data[16..]`; nothing is copied.
 */
export function openRelay(data: Uint8Array, key: RelayMacKey): boolean {
  return key.verify(
    readU32(data, RELAY_ID_OFFSET),
    data,
    RELAY_HEADER_SIZE,
    data.length - RELAY_HEADER_SIZE,
    data,
    RELAY_MAC_OFFSET,
  );
}

/** Turns a checked member-to-relay packet into a relay-to-member one, in place. */
export function toFromRelay(data: Uint8Array): void {
  writeU32(data, 0, MSG_RELAY_FROM_RELAY);
}
