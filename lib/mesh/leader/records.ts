/**
 * What the leader's bookkeeping derives from its records: whether two member records say the
 * same, what a token grants, and the bounded memory of departed keys. Pure functions over the
 * records, apart from the change queue and the core that uses them.
 * @module
 */

import type { Member, MemberGrants } from "../../members/member.ts";
import type { StoredToken } from "../join/token.ts";
import type { LeaderFile, LeftRecord } from "../state/state.ts";

/** Whether two records of a member say the same (what a hello can change, and the grants). */
export function sameRecord(a: Member, b: Member): boolean {
  const key = (x: Member) =>
    JSON.stringify([
      x.endpoints,
      x.observed ?? "",
      x.services,
      x.labels,
      x.nodeLabels ?? {},
      x.lan ?? [],
      x.relay ?? false,
      x.tcpPort ?? 0,
      x.grants ?? {},
      x.offline ?? false,
      x.advertisedRoutes ?? [],
      x.routes ?? [],
      x.exitNode ?? false,
      x.run ?? "",
    ]);
  return key(a) === key(b);
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
