/**
 * etcd's JSON gateway encoding: keys and values are base64, 64-bit numbers are decimal text and
 * zero values are left out. These helpers turn the gateway's objects into {@link KeyValue}s and
 * numbers, and refuse anything else with a `protocol` {@link StoreError}.
 * @module
 */

import { Buffer } from "node:buffer";
import type { KeyValue } from "../../lib/store/kv.ts";
import { StoreError } from "../../lib/store/kv.ts";

const enc = new TextEncoder();

/** A `protocol` error naming what was wrong in the answer. */
export function malformed(what: string): StoreError {
  return new StoreError("protocol", "etcd", what);
}

/** Text as the gateway's base64. */
export function b64(text: string): string {
  return Buffer.from(enc.encode(text)).toString("base64");
}

/** The gateway's base64 as text (a missing field is the empty text). */
export function unb64(value: unknown, what: string): string {
  if (value === undefined) return "";
  if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
    throw malformed(`${what} is not base64`);
  }
  return Buffer.from(value, "base64").toString("utf8");
}

/**
 * The end of the range of keys starting with `prefix`, as base64: the prefix with its last byte
 * below 0xff raised by one (trailing 0xff bytes dropped); `\0` (every key from the prefix on) when
 * there is none.
 */
export function prefixEnd(prefix: string): string {
  const bytes = enc.encode(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] < 0xff) {
      const end = bytes.slice(0, i + 1);
      end[i]++;
      return Buffer.from(end).toString("base64");
    }
  }
  return "AA==";
}

/** A gateway number (decimal text, a number, or missing for 0) up to 2^53. */
export function num(value: unknown, what: string): number {
  if (value === undefined) return 0;
  const n = typeof value === "string" && /^-?[0-9]{1,16}$/.test(value)
    ? Number(value)
    : typeof value === "number"
    ? value
    : NaN;
  if (!Number.isSafeInteger(n)) throw malformed(`${what} is not a number`);
  return n;
}

/** A 64-bit id (a lease's) as decimal text; "" for a missing one (0). */
export function id(value: unknown, what: string): string {
  if (value === undefined) return "";
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  if (typeof value !== "string" || !/^-?[0-9]{1,20}$/.test(value)) {
    throw malformed(`${what} is not an id`);
  }
  return value === "0" ? "" : value;
}

/** `value` as an object, or a protocol error. */
export function obj(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed(`${what} is not an object`);
  }
  return value as Record<string, unknown>;
}

/** `value` as an array (missing: empty), or a protocol error. */
export function arr(value: unknown, what: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw malformed(`${what} is not a list`);
  return value;
}

/** A gateway `mvccpb.KeyValue`. */
export function keyValue(value: unknown): KeyValue {
  const o = obj(value, "a key-value");
  return {
    key: unb64(o.key, "a key"),
    value: unb64(o.value, "a value"),
    createRevision: num(o.create_revision, "create_revision"),
    modRevision: num(o.mod_revision, "mod_revision"),
    version: num(o.version, "version"),
    lease: id(o.lease, "lease"),
  };
}

/** The revision in an answer's header. */
export function headerRevision(answer: Record<string, unknown>): number {
  return num(obj(answer.header, "the header").revision, "the header's revision");
}
