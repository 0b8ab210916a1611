/**
 * The leader's document as JSON, written often and large (10,000 members is megabytes): each
 * member, join and departure record is turned into text once and that text reused by every
 * later write, so a commit costs the joining of the texts, not the whole document's
 * serialisation. This holds because the leader never changes such a record in place: a change
 * replaces it (lib/mesh/leader/core.ts), and records read back from a file or a store are new
 * objects. The text is the same JSON a plain `JSON.stringify` gives, one record a line.
 * @module
 */

import { RecordMap } from "./record_map.ts";

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

/** Records per block of text: a commit that changes one record makes its block's text again. */
const BLOCK = 256;

// The text of a run of records, by its first record, with the records (and their ids) it holds.
const blocks = new WeakMap<object, { records: object[]; ids: string[] | null; text: string }>();

/**
 * The lines of `records` (each `"id":` first when `ids` are given), joined: made from the
 * blocks of the last write where their records are the same objects, so a commit that changed a
 * few records costs a pass of identity checks and those few blocks.
 */
function lines(records: object[], ids: string[] | null): string {
  const out: string[] = [];
  for (let i = 0; i < records.length; i += BLOCK) {
    const run = records.slice(i, i + BLOCK);
    const runIds = ids ? ids.slice(i, i + BLOCK) : null;
    const cached = blocks.get(run[0]);
    if (
      cached && cached.records.length === run.length &&
      cached.records.every((r, j) => r === run[j]) &&
      (runIds === null ? cached.ids === null : cached.ids?.every((id, j) => id === runIds[j]))
    ) {
      out.push(cached.text);
      continue;
    }
    const text = run.map((r, j) =>
      runIds ? `${JSON.stringify(runIds[j])}:${recordJson(r)}` : recordJson(r)
    ).join(",\n");
    blocks.set(run[0], { records: run, ids: runIds, text });
    out.push(text);
  }
  return out.join(",\n");
}

/**
 * The leader document's JSON (state.ts's LeaderFile, taken as any object: state.ts writes with
 * this): the records' text from {@link recordJson}, everything else made now.
 */
export function leaderJson(d: object): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(d)) {
    if (v === undefined) continue;
    const key = JSON.stringify(k);
    if (k === "members" && Array.isArray(v)) {
      parts.push(`${key}:[\n${lines(v, null)}\n]`);
    } else if ((k === "joins" || k === "left") && v !== null && typeof v === "object") {
      const ids: string[] = [];
      const records: object[] = [];
      // Join records are a RecordMap in memory (./record_map.ts), departures a plain object.
      const all = v instanceof RecordMap
        ? v.entries()
        : Object.entries(v as Record<string, object>);
      for (const [id, r] of all) {
        if (r === undefined) continue;
        ids.push(id);
        records.push(r);
      }
      parts.push(`${key}:{\n${lines(records, ids)}\n}`);
    } else parts.push(`${key}:${JSON.stringify(v)}`);
  }
  return `{${parts.join(",\n")}}\n`;
}
