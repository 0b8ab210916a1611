/**
 * What a commit changed of the leader's document, record by record: the member records of the
 * next list that are new or replaced and those of the previous list that are gone, and likewise
 * for a plain object of records by key (the departures). Records are replaced, never edited
 * (./leader_json.ts), so they are compared by identity. The journal's line (./leader_journal.ts)
 * and a shared store's keys (../store/keys.ts) both write only these.
 *
 * The leader edits a copy of its list in place (records replaced where they are, joins appended,
 * a removal moving the later ones down), so the lists are walked side by side while their keys
 * agree: a commit of a few joins costs a pass of identity checks, not a map of every member
 * (10,000 entries for each batch, straight into V8's old generation). Past the first place the
 * keys differ, by key.
 * @module
 */

import type { Member } from "../../members/member.ts";

/** One member record of the next list that the previous one did not hold. */
export interface MemberSet {
  /** The record the previous list held for its key (undefined: a new member). */
  was: Member | undefined;
  /** The next list's record. */
  now: Member;
}

/** What changed from one list of members to the next. */
export interface MemberChanges {
  /** Records new or replaced, in the next list's order. */
  set: MemberSet[];
  /** Records of the previous list whose key the next one does not hold, in its order. */
  gone: Member[];
}

/** The members new, replaced (compared by identity) and gone from `prev` to `next`. */
export function memberChanges(prev: readonly Member[], next: readonly Member[]): MemberChanges {
  const set: MemberSet[] = [];
  let i = 0;
  const same = Math.min(prev.length, next.length);
  for (; i < same && prev[i].publicKey === next[i].publicKey; i++) {
    if (prev[i] !== next[i]) set.push({ was: prev[i], now: next[i] });
  }
  if (i === prev.length) {
    for (let j = i; j < next.length; j++) set.push({ was: undefined, now: next[j] });
    return { set, gone: [] };
  }
  const before = new Map<string, Member>();
  for (let j = i; j < prev.length; j++) before.set(prev[j].publicKey, prev[j]);
  let kept = 0;
  for (let j = i; j < next.length; j++) {
    const was = before.get(next[j].publicKey);
    if (was !== undefined) kept++;
    if (was !== next[j]) set.push({ was, now: next[j] });
  }
  if (kept === before.size) return { set, gone: [] };
  const now = new Set<string>();
  for (let j = i; j < next.length; j++) now.add(next[j].publicKey);
  return { set, gone: [...before.values()].filter((m) => !now.has(m.publicKey)) };
}

/** What changed from one object of records by key to the next. */
export interface KeyedChanges<V> {
  /** Records new or replaced, by key, in the next object's order. */
  set: [string, V][];
  /** Keys of the previous object the next one does not hold, in its order. */
  removed: string[];
}

/**
 * The records of `next` new or replaced (by identity), and the keys of `prev` gone. The same
 * object twice changed nothing; otherwise both are walked (the departures: at most a few
 * thousand identity checks).
 */
export function keyedChanges<V>(
  prev: Readonly<Record<string, V>> | undefined,
  next: Readonly<Record<string, V>> | undefined,
): KeyedChanges<V> {
  const set: [string, V][] = [];
  if (prev === next) return { set, removed: [] };
  let kept = 0;
  let prevSize = 0;
  for (const _ in prev ?? {}) prevSize++;
  for (const k in next ?? {}) {
    const v = next![k];
    if (v === undefined) continue;
    const old = prev?.[k];
    if (old !== undefined) kept++;
    if (old !== v) set.push([k, v]);
  }
  const removed = kept < prevSize ? Object.keys(prev!).filter((k) => next?.[k] === undefined) : [];
  return { set, removed };
}
