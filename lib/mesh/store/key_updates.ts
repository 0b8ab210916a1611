/**
 * The document after one revision of its keys (another leader's commit, brought by a watch), made
 * from the document before by what that revision changed: the same document `fromKeys` gives for
 * the whole key set after it (./keys.ts), at a cost of the keys changed and one pass over the
 * member list, not every key parsed again (36 ms at 10,000 members, for a commit of a few joins).
 *
 * The document before is not edited: the result is a new document sharing its unchanged records
 * (records are replaced, never edited: ../state/leader_json.ts), its member and token lists
 * copied, its join records a fork of the old ones, settled (../state/record_map.ts). Lists keep
 * the key set's order: a key put again keeps its place, a new key goes last, as the cached keys
 * (and a store's range by creation) list them.
 *
 * Only what a leader's commit writes is taken this way: one revision that puts `meta` (with the
 * fields a leader writes there), keys of known kinds named once each, values that parse and pass
 * the checks `fromKeys` makes (the records changed, and every `alloc/` key agreeing with its
 * member, checked for the members and addresses touched). Anything else is null, and the caller
 * parses the whole key set, which says what is wrong.
 * @module
 */

import type { Member } from "../../members/member.ts";
import type { StoredToken } from "../join/token.ts";
import {
  checkLeaderFile,
  type JoinRecord,
  type LeaderFile,
  type LeftRecord,
} from "../state/state.ts";
import { type KeyValues, META_KEY } from "./keys.ts";

/** One key's change at a revision (relative to the document's prefix): its value, null if gone. */
export type KeyChange = readonly [key: string, value: string | null];

/** The fields a leader writes in `meta` (./keys.ts's `metaValue`). */
const META_FIELDS = new Set(["format", "network", "network6", "version"]);

/** Kinds of keys that are one key each (no `/`). */
const SINGLE = new Set([META_KEY, "policy", "leases", "lan-key"]);

/** An `alloc/` key that is not there (a value of JSON null is there, and wrong). */
const FREE = Symbol("free");

/** Not a leader's commit, or not one that follows from the document before: parse the whole. */
class Unexpected extends Error {}

/**
 * The document after `changes` (one revision's, each key once) on `prev`, whose keys are `keys`
 * (not edited; the caller applies the changes to them): what `fromKeys` gives for the keys after,
 * or null when the changes are not a leader's commit that this can follow (see the module docs).
 */
export function docAfterChanges(
  prev: LeaderFile,
  keys: KeyValues,
  changes: readonly KeyChange[],
  where: string,
): LeaderFile | null {
  try {
    return docAfter(prev, keys, changes, where);
  } catch {
    // A value that does not parse, a record the checks refuse, or an unexpected change.
    return null;
  }
}

function unexpected(): never {
  throw new Unexpected();
}

/** An object that is not an array (a record, as JSON has them). */
function record(v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) unexpected();
  return v as Record<string, unknown>;
}

// Keys a plain object lists before the others (array indices) or treats apart (its prototype):
// the join records' map keeps insertion order, a plain object would not.
const SPECIAL_PROPERTY = /^(0|[1-9]\d{0,9}|__proto__)$/;

function docAfter(
  prev: LeaderFile,
  keys: KeyValues,
  changes: readonly KeyChange[],
  where: string,
): LeaderFile {
  let meta: Record<string, unknown> | null = null;
  // Members and tokens whose key exists (replaced, or null: gone), and new ones in order.
  const memberEdits = new Map<string, Member | null>();
  const newMembers: Member[] = [];
  const tokenEdits = new Map<string, StoredToken | null>();
  const newTokens: StoredToken[] = [];
  const allocEdits = new Map<string, unknown>();
  const joinEdits: [string, JoinRecord | null][] = [];
  const leftEdits: [string, LeftRecord | null][] = [];
  const single = new Map<string, unknown>();
  const seen = new Set<string>();
  for (const [k, v] of changes) {
    if (seen.has(k)) unexpected();
    seen.add(k);
    const had = keys.has(k);
    // A delete names a key that was there (a store reports no delete of a missing key).
    if (v === null && !had) unexpected();
    const slash = k.indexOf("/");
    const kind = slash < 0 ? k : k.slice(0, slash);
    if (SINGLE.has(kind) !== (slash < 0)) unexpected();
    const id = k.slice(slash + 1);
    // A value of JSON null is a value (the checks refuse it as a record), not a delete.
    const value = v === null ? undefined : JSON.parse(v);
    switch (kind) {
      case META_KEY:
        meta = record(value);
        for (const f in meta) if (!META_FIELDS.has(f)) unexpected();
        break;
      case "members": {
        if (v === null) memberEdits.set(id, null);
        else {
          if (record(value).publicKey !== id) unexpected();
          if (had) memberEdits.set(id, value);
          else newMembers.push(value);
        }
        break;
      }
      case "tokens":
        if (v === null) tokenEdits.set(id, null);
        else {
          if (record(value).id !== id) unexpected();
          if (had) tokenEdits.set(id, value);
          else newTokens.push(value);
        }
        break;
      case "alloc":
        allocEdits.set(id, v === null ? FREE : value);
        break;
      case "joins":
        if (SPECIAL_PROPERTY.test(id)) unexpected();
        joinEdits.push([id, v === null ? null : record(value) as unknown as JoinRecord]);
        break;
      case "left":
        if (id === "__proto__") unexpected();
        leftEdits.push([id, v === null ? null : record(value) as unknown as LeftRecord]);
        break;
      case "policy":
      case "leases":
      case "lan-key":
        // A value of null is kept as JSON has it (`fromKeys` takes it so); a delete is gone.
        single.set(kind, value);
        break;
      default:
        unexpected();
    }
  }
  // Every commit of a leader puts meta (its revision is the document's).
  if (meta === null) unexpected();

  // The records changed pass the checks the whole document's would.
  const puts = <V>(edits: [string, V | null][]) =>
    Object.fromEntries(edits.filter((e): e is [string, V] => e[1] !== null));
  checkLeaderFile({
    ...meta,
    members: [...memberEdits.values()].filter((m) => m !== null).concat(newMembers),
    tokens: [],
    joins: puts(joinEdits),
    left: puts(leftEdits),
    ...(single.get("lan-key") !== undefined ? { lanKey: single.get("lan-key") } : {}),
    ...(single.get("leases") !== undefined ? { leases: single.get("leases") } : {}),
  }, where);

  const members = edited(prev.members, memberEdits, newMembers, (m) => m.publicKey);
  checkAllocs(keys, memberEdits, newMembers, members.old, allocEdits);
  const tokens = edited(prev.tokens, tokenEdits, newTokens, (t) => t.id).list;

  let joins = prev.joins;
  if (joinEdits.length) {
    joins = prev.joins.fork();
    for (const [id, r] of joinEdits) {
      if (r === null) joins.delete(id);
      else joins.set(id, r);
    }
    // The new document is the one to copy from now: the fork takes the whole map over.
    joins.settle();
  }
  let left = prev.left;
  if (leftEdits.length) {
    left = { ...prev.left };
    for (const [id, r] of leftEdits) {
      if (r === null) delete left[id];
      else left[id] = r;
    }
  }

  const doc = { ...meta, members: members.list, tokens, joins } as unknown as LeaderFile;
  if (left !== undefined && !empty(left)) doc.left = left;
  const policy = single.has("policy") ? single.get("policy") : prev.policy;
  if (policy !== undefined) doc.policy = policy as LeaderFile["policy"];
  const leases = single.has("leases") ? single.get("leases") : prev.leases;
  if (leases !== undefined) doc.leases = leases as LeaderFile["leases"];
  const lanKey = single.has("lan-key") ? single.get("lan-key") : prev.lanKey;
  if (lanKey !== undefined) doc.lanKey = lanKey as string;
  return doc;
}

function empty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

/**
 * `list` with the records of `edits` replaced (null: removed) where they are and `added` last:
 * a copy (the list before may be another document's). `old`: the records replaced or removed.
 */
function edited<T>(
  list: readonly T[],
  edits: Map<string, T | null>,
  added: T[],
  keyOf: (t: T) => string,
): { list: T[]; old: T[] } {
  const old: T[] = [];
  if (edits.size === 0 && added.length === 0) return { list: list as T[], old };
  let out: T[];
  if (edits.size === 0) out = list.slice();
  else {
    out = [];
    for (const t of list) {
      const e = edits.get(keyOf(t));
      if (e === undefined) out.push(t);
      else {
        old.push(t);
        if (e !== null) out.push(e);
      }
    }
    // Each key replaced or removed was in the list once (its key was in the key set).
    if (old.length !== edits.size) unexpected();
  }
  for (const t of added) out.push(t);
  return { list: out, old };
}

/**
 * Checks that every `alloc/` key still agrees with its member, as `fromKeys` checks for all of
 * them: each address is the key of the member at it, and each member's address has its key. The
 * keys before agreed, so only the members and addresses touched can disagree: each member touched
 * has its address's key; each address touched, or left by a member touched, is free or held by
 * the member it names; an address touched whose member was not is still that member's.
 */
function checkAllocs(
  keys: KeyValues,
  memberEdits: Map<string, Member | null>,
  newMembers: Member[],
  oldMembers: Member[],
  allocEdits: Map<string, unknown>,
): void {
  const before = (a: string): unknown => {
    const v = keys.get(`alloc/${a}`);
    return v === undefined ? FREE : JSON.parse(v);
  };
  const after = (a: string): unknown => allocEdits.has(a) ? allocEdits.get(a) : before(a);
  const touched = new Map<string, Member | null>(memberEdits);
  for (const m of newMembers) touched.set(m.publicKey, m);
  for (const [key, m] of touched) if (m !== null && after(m.address) !== key) unexpected();
  const addresses = new Set(allocEdits.keys());
  for (const m of oldMembers) addresses.add(m.address);
  for (const a of addresses) {
    const holder = after(a);
    const was = before(a);
    // Its member before kept its record: so it kept the address.
    if (typeof was === "string" && !touched.has(was) && holder !== was) unexpected();
    if (holder === FREE) continue;
    if (typeof holder !== "string") unexpected();
    if (touched.has(holder)) {
      if (touched.get(holder)?.address !== a) unexpected();
    } else if (holder !== was) unexpected();
  }
}
