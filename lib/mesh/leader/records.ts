/**
 * What the leader's bookkeeping derives from its records: whether two of their values' JSON texts
 * say the same, what a token grants, and the bounded memory of departed keys. Pure functions over the
 * records, apart from the change queue and the core that uses them.
 * @module
 */

import type { Member, MemberGrants } from "../../members/member.ts";
import type { StoredToken } from "../join/token.ts";
import type { LeaderFile, LeftRecord } from "../state/state.ts";

/**
 * Whether `JSON.stringify` would write `a` and `b` alike (plain data: arrays, plain objects,
 * strings, numbers, booleans, null), without writing them: an object's keys in their order,
 * those whose values JSON leaves out skipped; a value it cannot write, in an array, as null.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const ja = jsonAtom(a);
  const jb = jsonAtom(b);
  if (ja !== OBJECT || jb !== OBJECT) return ja === jb;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameElement(a[i], bb[i])) return false;
    return true;
  }
  const ka = writtenKeys(a as Record<string, unknown>);
  const kb = writtenKeys(b as Record<string, unknown>);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i]) return false;
    if (!sameJson((a as Record<string, unknown>)[ka[i]], (b as Record<string, unknown>)[kb[i]])) {
      return false;
    }
  }
  return true;
}

// Two values as elements of an array: what JSON leaves out of an object is null there.
function sameElement(a: unknown, b: unknown): boolean {
  return sameJson(jsonAtom(a) === SKIPPED ? null : a, jsonAtom(b) === SKIPPED ? null : b);
}

const OBJECT = Symbol("object");
const SKIPPED = Symbol("skipped");

// What JSON writes for a value that is no array or object (null for a number it cannot write),
// OBJECT for one that is, SKIPPED for one it leaves out (undefined, a function, a symbol).
function jsonAtom(v: unknown): unknown {
  switch (typeof v) {
    case "number":
      return Number.isFinite(v) ? v : null;
    case "string":
    case "boolean":
      return v;
    case "object":
      return v === null ? null : OBJECT;
    default:
      return SKIPPED;
  }
}

function writtenKeys(o: Record<string, unknown>): string[] {
  return Object.keys(o).filter((k) => jsonAtom(o[k]) !== SKIPPED);
}

/** The public keys of the members added, changed or removed between two member lists. */
export function changedMembers(before: Member[], after: Member[]): string[] {
  // Records are replaced, never edited, and a commit keeps the list's order: the same objects
  // at the start and at the end are unchanged, and only the records between them are compared
  // (not a map of every member, at each commit another leader made). Keys are unique in a list,
  // so none of those between is one of theirs.
  let start = 0;
  while (start < before.length && start < after.length && before[start] === after[start]) start++;
  let b = before.length;
  let a = after.length;
  while (b > start && a > start && before[b - 1] === after[a - 1]) {
    b--;
    a--;
  }
  const old = new Map<string, Member>();
  for (let i = start; i < b; i++) old.set(before[i].publicKey, before[i]);
  const keys: string[] = [];
  for (let i = start; i < a; i++) {
    const m = after[i];
    const o = old.get(m.publicKey);
    old.delete(m.publicKey);
    if (o !== m && JSON.stringify(o) !== JSON.stringify(m)) keys.push(m.publicKey);
  }
  return [...keys, ...old.keys()];
}

/** What a token grants its nodes besides labels, as a member record holds it; null for nothing. */
export function tokenGrants(t: StoredToken): MemberGrants | null {
  const g: MemberGrants = {
    ...(t.services?.length ? { services: [...t.services] } : {}),
    ...(t.relay ? { relay: true as const } : {}),
    ...(t.approveRoutes?.length ? { routes: [...t.approveRoutes] } : {}),
  };
  return g.services || g.relay || g.routes ? g : null;
}

/** How many departed keys the leader remembers (removals are rare: the oldest go first). */
export const MAX_LEFT = 4096;

/**
 * Remembers a departed key, forgetting the oldest past {@link MAX_LEFT}: among the keys that
 * merely left (joins released unheard, which a token holder can make many of: the new one itself
 * when no older one is left), and among the removed ones, which keep a removed node out, only
 * for another removal. Returns how many it forgot.
 */
export function remember(d: LeaderFile, key: string, rec: LeftRecord): number {
  const left = d.left ??= {};
  delete left[key];
  left[key] = rec;
  const over = Object.keys(left).length - MAX_LEFT;
  let forgotten = 0;
  for (const k of Object.keys(left)) {
    if (forgotten >= over) return forgotten;
    if (left[k].removedToken !== undefined) continue;
    delete left[k];
    forgotten++;
  }
  if (rec.removedToken === undefined) return forgotten;
  for (const k of Object.keys(left)) {
    if (forgotten >= over) break;
    if (k === key) continue;
    delete left[k];
    forgotten++;
  }
  return forgotten;
}
