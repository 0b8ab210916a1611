/**
 * Base64 for control payloads (small): strict decoding that rejects what is not base64.
 * @module
 */

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// Each base64 character's 6-bit value by its char code (-1: not one).
const VALUE = new Int8Array(128).fill(-1);
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
for (let i = 0; i < 64; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

/**
 * The first three bytes of standard base64 `text` as one 24-bit number, read from its first four
 * characters without decoding the rest or allocating; -1 when those are not four base64 digits.
 */
export function base64Head24(text: string): number {
  if (text.length < 4) return -1;
  let v = 0;
  for (let i = 0; i < 4; i++) {
    const c = text.charCodeAt(i);
    const d = c < 128 ? VALUE[c] : -1;
    if (d < 0) return -1;
    v = v << 6 | d;
  }
  return v;
}

/** Standard base64 with padding. */
export function encodeBase64(data: Uint8Array): string {
  let s = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    s += String.fromCharCode(...data.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Decodes standard base64; null when the text is not valid base64. */
export function decodeBase64(text: string): Uint8Array | null {
  if (!BASE64.test(text)) return null;
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
