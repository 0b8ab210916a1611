/**
 * The leader's edits of grants and services: which service names a grant restricts, which of a
 * member's offers it may keep, and `weft node set` (relaying, labels). Plain functions over a
 * copy of the state (./edit_context.ts).
 * @module
 */

import type { Member, ServiceSpec } from "../../members/member.ts";
import type { LeaderFile } from "../state/state.ts";
import type { Edit, Touch } from "./changes.ts";
import type { EditContext } from "./edit_context.ts";
import { LeaderError, LeaderNotFoundError } from "./errors.ts";
import { type GrantChange, withGrantChange } from "./grants.ts";
import { nameBook } from "./name_edits.ts";
import { type NameBook, nameProblem } from "./names.ts";
import { reassign } from "./route_edits.ts";
import { routesMatter } from "./routes.ts";

/**
 * The service names some grant mentions in `d` (a token's or a member's). Tokens are only ever
 * added (a revoked one stays), and a member's granted names are its token's: the names change
 * with the tokens, or with another leader's state (what the core's cache of it follows).
 */
export function restrictedNames(d: LeaderFile): Set<string> {
  const names = new Set<string>();
  for (const t of d.tokens) for (const n of t.services ?? []) names.add(n);
  for (const m of d.members) for (const n of m.grants?.services ?? []) names.add(n);
  return names;
}

/**
 * {@link restrictedNames}, cached: they change only with the tokens (their count and newest: a
 * token is never removed) or with another leader's state (the epoch the caller moves then).
 */
export class RestrictedNames {
  #cached: { tokens: string; epoch: number; names: Set<string> } | null = null;

  /** The restricted names in `d`, a state of `epoch`. */
  of(d: LeaderFile, epoch: number): Set<string> {
    const tokens = `${d.tokens.length}:${d.tokens.at(-1)?.id}`;
    const cached = this.#cached;
    if (cached !== null && cached.tokens === tokens && cached.epoch === epoch) return cached.names;
    const names = restrictedNames(d);
    this.#cached = { tokens, epoch, names };
    return names;
  }
}

/**
 * The services among `offered` that `m` may offer: all for the leader; otherwise those whose
 * name no grant restricts (no token and no member's grants name it: open, as in a mesh
 * without grants) and those it was granted. The others are left out.
 */
export function grantedServices(
  ctx: EditContext,
  d: LeaderFile,
  m: Member,
  offered: ServiceSpec[],
): ServiceSpec[] {
  if (m.role === "leader" || offered.length === 0) return offered;
  const restricted = ctx.restricted(d);
  const mine = m.grants?.services ?? [];
  let book: NameBook | undefined;
  // Counted by the callers, once for the run committed (an edit may run again). An open offer
  // (no grant names it) may not take a name the zone answers otherwise, as a joiner may not
  // (services answer before host names there): another member's, a reserved or address name,
  // a pinned or held one (./names.ts nameProblem; a service's own name is no claim on it). One
  // the record holds already passed that when it came, and no name can be given to it since:
  // not asked again (a hello repeats its offers).
  const had = m.services.length ? new Set(m.services.map((s) => s.name)) : null;
  const open = (name: string) => {
    book ??= { ...nameBook(ctx, d, Date.now()), isService: () => false };
    return nameProblem(name, m.publicKey, book) === undefined;
  };
  return offered.filter((s) =>
    mine.includes(s.name) || (!restricted.has(s.name) && (had?.has(s.name) || open(s.name)))
  );
}

/**
 * Which of `m`'s offered service names the grants in `d` refuse: empty for the leader and for
 * names no grant restricts.
 */
export function ungrantedServices(
  ctx: EditContext,
  d: LeaderFile,
  m: Member,
  offered: ServiceSpec[],
): string[] {
  if (m.role === "leader") return [];
  const kept = new Set(grantedServices(ctx, d, m, offered).map((s) => s.name));
  return offered.map((s) => s.name).filter((n) => !kept.has(n));
}

/**
 * Takes from every member the offers the grants in `d` no longer allow (a token restricted
 * names they offered): at once rather than at their next hello. How many offers it took.
 */
export function withdrawUngranted(ctx: EditContext, d: LeaderFile, touch: Touch): number {
  const ix = ctx.index(d);
  let refused = 0;
  for (const m of [...d.members]) {
    const kept = grantedServices(ctx, d, m, m.services);
    if (kept.length === m.services.length) continue;
    refused += m.services.length - kept.length;
    ix.replace({ ...m, services: kept });
    touch(m.publicKey);
  }
  return refused;
}

/**
 * Changes what the leader granted the node `nameOrAddress` (`weft node set`: relaying, labels),
 * field by field: route approvals and service grants are kept (./grants.ts). The member as it
 * is now; what it carries is decided again with the change.
 */
export function setGrants(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  nameOrAddress: string,
  change: GrantChange,
): Edit<Member> {
  const ix = ctx.index(d);
  const old = ix.byAddressOrName(nameOrAddress);
  if (!old) throw new LeaderNotFoundError(`no node "${nameOrAddress}"`);
  const m = withGrantChange(old, change);
  if (typeof m === "string") throw new LeaderError(m);
  if (JSON.stringify(m) === JSON.stringify(old)) return { result: old, write: false };
  ix.replace(m);
  touch(m.publicKey);
  // What it carries is decided again with the change, not at some later hello.
  if (routesMatter(m)) reassign(ctx, d, touch);
  return { result: ix.byKey(m.publicKey) ?? m, write: true };
}
