/**
 * The leader's edits of member names (./names.ts has the rules): the claims on names in a state
 * (members, services, held names of removed members, names tokens pin), the name a joiner gets,
 * and `weft node free-name`. Plain functions over a copy of the state (./edit_context.ts).
 * @module
 */

import type { JoinRequest } from "../join/request.ts";
import { type StoredToken, tokenProblem } from "../join/token.ts";
import type { LeaderFile } from "../state/state.ts";
import type { Edit } from "./changes.ts";
import type { EditContext } from "./edit_context.ts";
import { LeaderNotFoundError } from "./errors.ts";
import { assignName, heldNames, type NameBook, nameProblem } from "./names.ts";

/** The claims on names in `d` at `now`, for ./names.ts. */
export function nameBook(ctx: EditContext, d: LeaderFile, now: number): NameBook {
  const ix = ctx.index(d);
  const restricted = ctx.restricted(d);
  let held: Map<string, { key: string; until: number }> | undefined;
  let pinned: Map<string, string> | undefined;
  return {
    holder: (name) => ix.byName(name)?.publicKey,
    isService: (name) => ix.offersService(name) || restricted.has(name),
    held: (name) => (held ??= heldNames(d.left, now, ctx.nameHoldMs)).get(name),
    pinnedBy: (name) => {
      if (!pinned) {
        pinned = new Map();
        for (const t of d.tokens) {
          if (t.hostname !== undefined && tokenProblem(t, now) === null) {
            pinned.set(t.hostname, t.id);
          }
        }
      }
      return pinned.get(name);
    },
  };
}

/**
 * The name a joiner gets (./names.ts): the one its token pins, or refused; else the one it had
 * before (a removed node joining again) when it may have it back; else the one it asks for,
 * suffixed when another claim is on it.
 */
export function nameFor(
  ctx: EditContext,
  d: LeaderFile,
  req: JoinRequest,
  token: StoredToken,
  now: number,
): { name: string } | { error: string } {
  const book = nameBook(ctx, d, now);
  if (token.hostname !== undefined) {
    const p = nameProblem(token.hostname, req.publicKey, book, token.id);
    return p === undefined
      ? { name: token.hostname }
      : { error: `the name this token gives, "${token.hostname}", ${p}` };
  }
  const previous = req.previousName;
  if (previous !== undefined && nameProblem(previous, req.publicKey, book) === undefined) {
    return { name: previous };
  }
  return assignName(req.hostname, req.publicKey, book);
}

/**
 * Frees a removed member's name held at `now` (`weft node free-name`): the next joiner asking
 * for it may have it. A {@link LeaderNotFoundError} when no removed member holds it.
 */
export function freeName(ctx: EditContext, d: LeaderFile, name: string, now: number): Edit<void> {
  const keys = Object.entries(d.left ?? {})
    .filter(([, r]) => r.name === name && now < r.at + ctx.nameHoldMs).map(([k]) => k);
  if (!keys.length) throw new LeaderNotFoundError(`no removed member's name "${name}" is held`);
  for (const k of keys) {
    const { name: _, ...rest } = d.left![k];
    d.left![k] = rest;
  }
  return { result: undefined, write: true };
}
