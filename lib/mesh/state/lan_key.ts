/**
 * The mesh's LAN key: 32 random bytes the leader makes once and keeps in `leader.json`, sends to
 * the nodes inside the tunnels, and the nodes keep in `node.json`. It authenticates LAN
 * announcements (lib/nat/announce.ts), so that members restarted on one LAN find each other
 * while the leader is down. It is a secret of the mesh: never logged, never in a view or a status.
 * @module
 */

import { decodeBase64, encodeBase64 } from "../../crypto/base64.ts";
import { hash } from "../../crypto/blake2s.ts";

/** Bytes of a LAN key. */
export const LAN_KEY_SIZE = 32;

/** A fresh random LAN key, base64. */
export function newLanKey(): string {
  return encodeBase64(crypto.getRandomValues(new Uint8Array(LAN_KEY_SIZE)));
}

/** The key of a base64 text, or null when it is not 32 bytes of base64. */
export function decodeLanKey(text: unknown): Uint8Array | null {
  if (typeof text !== "string") return null;
  const raw = decodeBase64(text);
  return raw !== null && raw.length === LAN_KEY_SIZE ? raw : null;
}

/**
 * A short name of a key (the first 8 hex digits of its BLAKE2s hash): what a hello says it
 * holds, so the leader knows whether to send it, without the key itself going anywhere.
 */
export function lanKeyId(key: Uint8Array): string {
  const h = hash(key);
  let s = "";
  for (let i = 0; i < 4; i++) s += h[i].toString(16).padStart(2, "0");
  return s;
}
