/**
 * The leader's journal: what each commit changed, one JSON line appended to `leader.journal` and
 * synced, beside the whole document in `leader.json`. Writing the whole document at every commit
 * costs the size of the mesh (megabytes at 10,000 members, made, encoded and written for each
 * batch of joins); a line costs what changed. The document is written whole again (and the
 * journal emptied) once the journal outgrows it, and at a clean stop; reading replays the journal
 * onto the document.
 *
 * A line holds the member, join and departure records that are new or replaced (compared by
 * identity: the leader replaces such records, never edits them, see ./leader_json.ts), the keys
 * removed, and every other field of the document that is not the same object as before (tokens,
 * policy, version, leases: small). Replaying every line in order onto the document gives the
 * state after the last one; lines the document already holds (a crash after the document was
 * written, before the journal was emptied) change nothing, since each sets values to what they
 * were at its commit and the last one's are the document's. A line cut short by a crash is the
 * last one, of a commit never answered: it is dropped. A bad line anywhere else is corruption and
 * refused, as a bad `leader.json` is.
 * @module
 */

import type { Member } from "../../members/member.ts";
import { recordJson } from "./leader_json.ts";
import { keyedChanges, memberChanges } from "./doc_changes.ts";
import type { RecordMap } from "./record_map.ts";

/** What the journal reads of the leader's document (./state.ts's `LeaderFile`). */
export interface JournaledDoc {
  /** Every member. */
  members: Member[];
  /** Join records by key. */
  joins: RecordMap<object>;
  /** Departure records by key. */
  left?: Record<string, object>;
}

/** What a line is applied to: the document as read, its records in plain objects. */
export interface ReadDoc {
  /** Every member. */
  members: Member[];
  /** Join records by key. */
  joins?: Record<string, object>;
  /** Departure records by key. */
  left?: Record<string, object>;
}

/** The fields of the document a line carries record by record. */
type Keyed = "members" | "joins" | "left";

/** One commit's change. */
export interface JournalEntry {
  /** Member records new or replaced. */
  m?: Member[];
  /** Public keys of the members removed. */
  mx?: string[];
  /** Join records new or replaced, by key. */
  j?: Record<string, unknown>;
  /** Join records removed. */
  jx?: string[];
  /** Departure records new or replaced, by key. */
  l?: Record<string, unknown>;
  /** Departure records removed. */
  lx?: string[];
  /** The other fields that changed, whole. */
  f?: Record<string, unknown>;
  /** The other fields that are gone. */
  fx?: string[];
}

/** The line of what changed from `prev` to `next` (both documents the leader committed). */
export function journalLine(prev: JournaledDoc, next: JournaledDoc): string {
  const parts: string[] = [];
  memberParts(parts, prev.members, next.members);
  joinParts(parts, prev.joins, next.joins);
  keyedParts(parts, "l", prev.left, next.left);
  const fields: string[] = [];
  const unset: string[] = [];
  const p = prev as unknown as Record<string, unknown>;
  const n = next as unknown as Record<string, unknown>;
  for (const k of Object.keys(n)) {
    if (isKeyed(k) || n[k] === p[k]) continue;
    if (n[k] === undefined) unset.push(k);
    else fields.push(`${JSON.stringify(k)}:${JSON.stringify(n[k])}`);
  }
  for (const k of Object.keys(p)) {
    if (!isKeyed(k) && p[k] !== undefined && !(k in n)) unset.push(k);
  }
  if (fields.length) parts.push(`"f":{${fields.join(",")}}`);
  if (unset.length) parts.push(`"fx":${JSON.stringify(unset)}`);
  return `{${parts.join(",")}}\n`;
}

/** The member records of `next` that are new or replaced, and the keys of `prev` gone. */
function memberParts(parts: string[], prev: Member[], next: Member[]): void {
  const { set, gone } = memberChanges(prev, next);
  if (set.length) parts.push(`"m":[${set.map((s) => recordJson(s.now)).join(",")}]`);
  if (gone.length) parts.push(`"mx":${JSON.stringify(gone.map((m) => m.publicKey))}`);
}

/**
 * The join records of `next` that are new or replaced, and those gone. A batch's copy forks its
 * map from the state's (./record_map.ts), so its own entries are what changed: a commit costs
 * what it changed, not two passes over every member's record. Other maps are compared whole.
 */
function joinParts(parts: string[], prev: RecordMap<object>, next: RecordMap<object>): void {
  if (prev === next) return;
  const changes = next.changesFrom(prev);
  const set: string[] = [];
  let gone: string[] = [];
  if (changes) {
    for (const [k, v] of changes.set) set.push(`${JSON.stringify(k)}:${recordJson(v)}`);
    gone = changes.removed;
  } else {
    for (const [k, v] of next) {
      if (prev.get(k) !== v) set.push(`${JSON.stringify(k)}:${recordJson(v)}`);
    }
    if (next.size !== prev.size || set.length) {
      for (const k of prev.keys()) if (!next.has(k)) gone.push(k);
    }
  }
  if (set.length) parts.push(`"j":{${set.join(",")}}`);
  if (gone.length) parts.push(`"jx":${JSON.stringify(gone)}`);
}

function isKeyed(k: string): k is Keyed {
  return k === "members" || k === "joins" || k === "left";
}

// The records of the departures' map that are new or replaced, and those gone.
function keyedParts(
  parts: string[],
  tag: "l",
  prev: Record<string, object> | undefined,
  next: Record<string, object> | undefined,
): void {
  const { set, removed } = keyedChanges(prev, next);
  if (set.length) {
    parts.push(
      `"${tag}":{${set.map(([k, v]) => `${JSON.stringify(k)}:${recordJson(v)}`).join(",")}}`,
    );
  }
  if (removed.length) parts.push(`"${tag}x":${JSON.stringify(removed)}`);
}

/** Applies one line's change to a document being read (edited in place). */
export function applyEntry(d: ReadDoc, e: JournalEntry): void {
  if (e.m || e.mx) {
    const byKey = new Map(d.members.map((m) => [m.publicKey, m]));
    for (const k of e.mx ?? []) byKey.delete(k);
    for (const m of e.m ?? []) byKey.set(m.publicKey, m);
    d.members = [...byKey.values()];
  }
  applyKeyed(d, "joins", e.j, e.jx);
  applyKeyed(d, "left", e.l, e.lx);
  const doc = d as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(e.f ?? {})) doc[k] = v;
  for (const k of e.fx ?? []) delete doc[k];
}

function applyKeyed(
  d: ReadDoc,
  field: "joins" | "left",
  set: Record<string, unknown> | undefined,
  gone: string[] | undefined,
): void {
  if (!set && !gone) return;
  const map = (d[field] ?? {}) as Record<string, unknown>;
  for (const k of gone ?? []) delete map[k];
  for (const [k, v] of Object.entries(set ?? {})) map[k] = v;
  (d as unknown as Record<string, unknown>)[field] = map;
}

/**
 * The entries of a journal's text, in order. A last line that does not parse (cut short by a
 * crash) is dropped; any other that does not is corruption: an error naming `file` and the line.
 */
export function parseJournal(text: string, file: string): JournalEntry[] {
  const lines = text.split("\n");
  // A complete journal ends with a newline: the last piece is empty, or the torn last line.
  const torn = lines.pop();
  const out: JournalEntry[] = [];
  for (const [i, line] of lines.entries()) {
    const e = parseEntry(line);
    if (!e) throw new Error(`${file}: corrupt state (line ${i + 1})`);
    out.push(e);
  }
  if (torn) {
    const e = parseEntry(torn);
    // A whole entry without its newline was synced whole (the newline is in the same write).
    if (e) out.push(e);
  }
  return out;
}

function parseEntry(line: string): JournalEntry | null {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) return null;
  const e = o as Record<string, unknown>;
  const strings = (v: unknown) =>
    v === undefined || (Array.isArray(v) && v.every((s) => typeof s === "string"));
  const record = (v: unknown) =>
    v === undefined || (typeof v === "object" && v !== null && !Array.isArray(v));
  return Array.isArray(e.m ?? []) && strings(e.mx) && record(e.j) && strings(e.jx) &&
      record(e.l) && strings(e.lx) && record(e.f) && strings(e.fx)
    ? e as JournalEntry
    : null;
}
