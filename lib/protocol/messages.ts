/**
 * Field offsets of WireGuard's four message types. Every message starts with a 32-bit
 * little-endian type whose upper three bytes are reserved zeros.
 * @module
 */

import { readU32 } from "./bytes.ts";

/** Offsets within a handshake initiation. */
export const Initiation = {
  sender: 4,
  ephemeral: 8,
  static: 40,
  staticSize: 48,
  timestamp: 88,
  timestampSize: 28,
  mac1: 116,
  mac2: 132,
} as const;

/** Offsets within a handshake response. */
export const Response = {
  sender: 4,
  receiver: 8,
  ephemeral: 12,
  empty: 44,
  emptySize: 16,
  mac1: 60,
  mac2: 76,
} as const;

/** Offsets within a cookie reply. */
export const CookieReply = {
  receiver: 4,
  nonce: 8,
  nonceSize: 24,
  cookie: 32,
  cookieSize: 32,
} as const;

/** Offsets within transport data. */
export const Transport = {
  receiver: 4,
  counter: 8,
  payload: 16,
} as const;

/** The message type, or 0 when the packet is too short or the reserved bytes are not zero. */
export function messageType(data: Uint8Array): number {
  if (data.length < 4) return 0;
  const t = readU32(data, 0);
  return t >= 1 && t <= 4 ? t : 0;
}
