/**
 * DNS names as text: presentation form (escapes), case folding and conversion to wire labels.
 * @module
 */

import { MAX_LABEL, MAX_NAME_WIRE } from "./message.ts";

const utf8Encoder = new TextEncoder();

/** The presentation text of the `len`-byte label at `start` (`.`, `\`, unprintables escaped). */
export function labelText(buf: Uint8Array, start: number, len: number): string {
  let s = "";
  for (let i = start; i < start + len; i++) {
    const c = buf[i];
    if (c === 0x2e || c === 0x5c) s += "\\" + String.fromCharCode(c);
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += "\\" + (c < 10 ? "00" : c < 100 ? "0" : "") + c;
  }
  return s;
}

/** Lowercases ASCII letters only (DNS names compare case-insensitively in ASCII alone). */
export function asciiLower(text: string): string {
  // Only A-Z: toLowerCase would also fold non-ASCII letters (and U+212A KELVIN SIGN into "k")
  // in names given as raw text, such as configuration.
  return /[A-Z]/.test(text) ? text.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : text;
}

/** A name without its trailing dot and in lower case: the form to compare and index by. */
export function canonicalName(name: string): string {
  const lower = asciiLower(name);
  if (!lower.endsWith(".")) return lower;
  // A final dot preceded by an odd run of backslashes is part of the last label.
  let slashes = 0;
  for (let i = lower.length - 2; i >= 0 && lower.charCodeAt(i) === 0x5c; i--) slashes++;
  return slashes % 2 === 0 ? lower.slice(0, -1) : lower;
}

/**
 * Splits a presentation-form name into wire labels. Throws a RangeError on an empty label, a
 * label over 63 bytes, a name over 255 bytes or a bad escape: the encoder only takes names
 * this program made.
 */
export function nameToLabels(name: string): Uint8Array[] {
  const text = name === "." ? "" : name;
  const labels: Uint8Array[] = [];
  if (text === "") return labels;
  let cur: number[] = [];
  let wire = 1;
  const finish = (last: boolean): void => {
    if (cur.length === 0) {
      if (last) return; // the trailing dot of an absolute name
      throw new RangeError(`empty label in name "${name}"`);
    }
    if (cur.length > MAX_LABEL) throw new RangeError(`label over 63 bytes in "${name}"`);
    wire += cur.length + 1;
    labels.push(Uint8Array.from(cur));
    cur = [];
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x2e) {
      if (i === text.length - 1) {
        finish(true);
        break;
      }
      finish(false);
    } else if (ch === 0x5c) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0x30 && next <= 0x39) {
        const digits = text.slice(i + 1, i + 4);
        if (!/^[0-9]{3}$/.test(digits) || Number(digits) > 255) {
          throw new RangeError(`bad escape in name "${name}"`);
        }
        cur.push(Number(digits));
        i += 3;
      } else if (i + 1 < text.length) {
        cur.push(next);
        i += 1;
      } else {
        throw new RangeError(`dangling escape in name "${name}"`);
      }
    } else if (ch < 0x80) {
      cur.push(ch);
    } else {
      const cp = text.codePointAt(i) ?? ch;
      for (const b of utf8Encoder.encode(String.fromCodePoint(cp))) cur.push(b);
      if (cp > 0xffff) i++;
    }
  }
  if (cur.length > 0) finish(true);
  if (wire > MAX_NAME_WIRE) throw new RangeError(`name over 255 bytes: "${name}"`);
  return labels;
}
