/**
 * The leader's document as JSON, written often and large (10,000 members is megabytes): each
 * member, join and departure record is turned into text once and that text reused by every
 * later write, so a commit costs the joining of the texts, not the whole document's
 * serialisation. This holds because the leader never changes such a record in place: a change
 * replaces it (lib/mesh/leader/core.ts), and records read back from a file or a store are new
 * objects. The text is the same JSON a plain `JSON.stringify` gives, one record a line.
 * @module
 */

import type { LeaderFile } from "./state.ts";

const texts = new WeakMap<object, string>();

/** A record's JSON, made once per record object (records are replaced, never edited). */
export function recordJson(record: object): string {
  let t = texts.get(record);
  if (t === undefined) {
    t = JSON.stringify(record);
    texts.set(record, t);
  }
  return t;
}

/** The document's JSON: the records' from {@link recordJson}, everything else made now. */
export function leaderJson(d: LeaderFile): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(d)) {
    if (v === undefined) continue;
    const key = JSON.stringify(k);
    if (k === "members" && Array.isArray(v)) {
      parts.push(`${key}:[\n${v.map(recordJson).join(",\n")}\n]`);
    } else if ((k === "joins" || k === "left") && v !== null && typeof v === "object") {
      const entries = Object.entries(v as Record<string, object>)
        .filter(([, r]) => r !== undefined)
        .map(([id, r]) => `${JSON.stringify(id)}:${recordJson(r)}`);
      parts.push(`${key}:{\n${entries.join(",\n")}\n}`);
    } else parts.push(`${key}:${JSON.stringify(v)}`);
  }
  return `{${parts.join(",\n")}}\n`;
}
