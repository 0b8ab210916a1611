/**
 * The leader's document as keys, for a store of keys and values (etcd): one key per member,
 * address, token, join record and departed key, and one each for the network and version, the
 * policy, the leases and the LAN key (docs/design/leader-store.md). A commit writes only the keys
 * that changed, and two leaders' commits that claim one address write one `alloc/` key. Keys are
 * relative to the store's prefix; values are JSON.
 *
 * The keys a commit changes come from what its batch changed ({@link keyChanges}): turning the
 * whole document into keys and comparing them with the store's ({@link toKeys}, {@link diffKeys})
 * cost 15 ms a commit at 10,000 members, for a batch of a few joins.
 * @module
 */

import { checkLeaderFile, type LeaderFile } from "../state/state.ts";
import { recordJson } from "../state/leader_json.ts";
import { keyedChanges, memberChanges } from "../state/doc_changes.ts";

/** The document's keys and their values (JSON), in the order the document lists them. */
export type KeyValues = Map<string, string>;

/** The key of the network, IPv6 network and membership version. */
export const META_KEY = "meta";

/** The value of {@link META_KEY}: the network, IPv6 network and membership version. */
export function metaValue(d: LeaderFile): string {
  return JSON.stringify({
    format: d.format,
    network: d.network,
    ...(d.network6 ? { network6: d.network6 } : {}),
    version: d.version,
  });
}

/** The document as keys: members, tokens and records in their order, each list's key prefix. */
export function toKeys(d: LeaderFile): KeyValues {
  const kv: KeyValues = new Map();
  const put = (k: string, v: unknown) => kv.set(k, JSON.stringify(v));
  kv.set(META_KEY, metaValue(d));
  // Records are replaced, never edited: each one's text is made once (leader_json.ts).
  for (const m of d.members) {
    kv.set(`members/${m.publicKey}`, recordJson(m));
    put(`alloc/${m.address}`, m.publicKey);
  }
  for (const t of d.tokens) put(`tokens/${t.id}`, t);
  for (const [k, r] of d.joins) kv.set(`joins/${k}`, recordJson(r));
  for (const [k, r] of Object.entries(d.left ?? {})) kv.set(`left/${k}`, recordJson(r));
  if (d.policy) put("policy", d.policy);
  if (d.leases) put("leases", d.leases);
  if (d.lanKey !== undefined) put("lan-key", d.lanKey);
  return kv;
}

/**
 * The document from its keys, members and tokens in the order given (a store lists them by
 * creation: etcd's range sorted by create revision). Checked as `leader.json` is: a missing
 * `meta`, a value that does not parse or an `alloc/` key that disagrees with its member is an
 * error naming `where`.
 */
export function fromKeys(kv: KeyValues, where: string): LeaderFile {
  const parse = (k: string, v: string): unknown => {
    try {
      return JSON.parse(v);
    } catch {
      throw new Error(`${where}: corrupt state (${k} is not JSON)`);
    }
  };
  const meta = kv.get(META_KEY);
  if (meta === undefined) throw new Error(`${where}: corrupt state (no ${META_KEY})`);
  const d = { ...(parse(META_KEY, meta) as object), members: [], tokens: [] } as
    & Record<string, unknown>
    & { members: unknown[]; tokens: unknown[] };
  const allocs = new Map<string, unknown>();
  for (const [k, v] of kv) {
    const slash = k.indexOf("/");
    const [kind, id] = slash < 0 ? [k, ""] : [k.slice(0, slash), k.slice(slash + 1)];
    if (kind === "members") d.members.push(parse(k, v));
    else if (kind === "tokens") d.tokens.push(parse(k, v));
    else if (kind === "alloc") allocs.set(id, parse(k, v));
    else if (kind === "joins" || kind === "left") {
      ((d[kind] ??= {}) as Record<string, unknown>)[id] = parse(k, v);
    } else if (kind === "policy" || kind === "leases") d[kind] = parse(k, v);
    else if (kind === "lan-key") d.lanKey = parse(k, v);
    else if (kind !== META_KEY) throw new Error(`${where}: corrupt state (unknown key ${k})`);
  }
  d.joins ??= {};
  const file = checkLeaderFile(d, where);
  for (const m of file.members) {
    if (allocs.get(m.address) !== m.publicKey) {
      throw new Error(`${where}: corrupt state (alloc/${m.address} is not ${m.name}'s)`);
    }
    allocs.delete(m.address);
  }
  if (allocs.size) {
    throw new Error(`${where}: corrupt state (alloc/${[...allocs.keys()][0]} has no member)`);
  }
  return file;
}

/** What a commit writes: the keys to put (new or changed) and the keys to delete. */
export interface KeyChanges {
  /** Keys new or changed, with their values. */
  put: [string, string][];
  /** Keys gone. */
  delete: string[];
  /** Of `put`, the keys that are new (a transaction requires they do not exist yet). */
  created: string[];
}

/** The keys that differ between two documents' keys. */
export function diffKeys(before: KeyValues, after: KeyValues): KeyChanges {
  const put: [string, string][] = [];
  const created: string[] = [];
  for (const [k, v] of after) {
    const old = before.get(k);
    if (old === v) continue;
    put.push([k, v]);
    if (old === undefined) created.push(k);
  }
  return { put, created, delete: [...before.keys()].filter((k) => !after.has(k)) };
}

/**
 * The keys that differ between `prev`'s keys (`keys`, as the store holds them) and `next`'s,
 * from what changed: what {@link diffKeys} gives for `keys` and `toKeys(next)`, at a cost of what
 * the batch changed. `next` must be a batch's copy of `prev` (lib/mesh/leader/changes.ts): its
 * lists copied, its records replaced and never edited, its join records a fork of `prev`'s
 * (../state/record_map.ts); and neither document edited in place since `keys` were `prev`'s.
 * Null when `next`'s join records are not a fork of `prev`'s (not a copy of it: compare whole).
 *
 * The member and departure lists are walked by identity (a pass of comparisons), the join
 * records are the fork's own, the tokens (a few, copied by each batch) and the other fields are
 * compared as text.
 */
export function keyChanges(prev: LeaderFile, next: LeaderFile, keys: KeyValues): KeyChanges | null {
  const joins = next.joins.changesFrom(prev.joins);
  if (joins === null) return null;
  // Each key the change may touch, with its value after (null: gone). What is gone is listed
  // first: a key freed and taken again in one batch (an address) ends with the value taken.
  const after = new Map<string, string | null>();
  const members = memberChanges(prev.members, next.members);
  for (const m of members.gone) {
    after.set(`members/${m.publicKey}`, null);
    after.set(`alloc/${m.address}`, null);
  }
  for (const { was, now } of members.set) {
    if (was !== undefined && was.address !== now.address) after.set(`alloc/${was.address}`, null);
  }
  const tokenIds = new Set(next.tokens.map((t) => t.id));
  for (const t of prev.tokens) if (!tokenIds.has(t.id)) after.set(`tokens/${t.id}`, null);
  for (const k of joins.removed) after.set(`joins/${k}`, null);
  const left = keyedChanges(prev.left, next.left);
  for (const k of left.removed) after.set(`left/${k}`, null);
  after.set(META_KEY, metaValue(next));
  for (const { now } of members.set) {
    after.set(`members/${now.publicKey}`, recordJson(now));
    after.set(`alloc/${now.address}`, JSON.stringify(now.publicKey));
  }
  for (const t of next.tokens) after.set(`tokens/${t.id}`, JSON.stringify(t));
  for (const [k, r] of joins.set) after.set(`joins/${k}`, recordJson(r));
  for (const [k, r] of left.set) after.set(`left/${k}`, recordJson(r));
  if (next.policy !== prev.policy) {
    after.set("policy", next.policy ? JSON.stringify(next.policy) : null);
  }
  if (next.leases !== prev.leases) {
    after.set("leases", next.leases ? JSON.stringify(next.leases) : null);
  }
  after.set("lan-key", next.lanKey !== undefined ? JSON.stringify(next.lanKey) : null);
  const put: [string, string][] = [];
  const created: string[] = [];
  const gone: string[] = [];
  for (const [k, v] of after) {
    const old = keys.get(k);
    if (v === null) {
      if (old !== undefined) gone.push(k);
    } else if (old !== v) {
      put.push([k, v]);
      if (old === undefined) created.push(k);
    }
  }
  return { put, created, delete: gone };
}

/**
 * Makes `keys` the keys after `changes` (in place): a key put keeps its place, a new one goes
 * last, as a store lists keys by creation.
 */
export function applyKeyChanges(keys: KeyValues, changes: KeyChanges): void {
  for (const k of changes.delete) keys.delete(k);
  for (const [k, v] of changes.put) keys.set(k, v);
}
