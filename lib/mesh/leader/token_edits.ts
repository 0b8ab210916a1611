/**
 * The leader's edits of join tokens: a new token checked and made (the secret stored only
 * hashed), added (a name it pins checked against the claims on names, offers of names it
 * restricts withdrawn), revoked, listed. Plain functions over a copy of the state
 * (./edit_context.ts).
 * @module
 */

import { grantedLabelsProblem } from "../../members/labels.ts";
import { grantedServicesProblem } from "../../members/services.ts";
import { parseApprovals } from "../../routes/prefixes.ts";
import { hashSecret, newTokenSecret, type StoredToken, type TokenView } from "../join/token.ts";
import type { LeaderFile } from "../state/state.ts";
import type { Edit, Touch } from "./changes.ts";
import type { EditContext } from "./edit_context.ts";
import { LeaderError, LeaderNotFoundError } from "./errors.ts";
import { nameBook } from "./name_edits.ts";
import { nameProblem } from "./names.ts";
import { withdrawUngranted } from "./service_edits.ts";

/** The shortest and longest a token may be valid: 1 s to 365 days. */
export const TOKEN_TTL_RANGE_MS = { min: 1000, max: 365 * 86_400_000 } as const;

/** What a new token grants and allows, as LeaderCore.createToken takes it. */
export interface TokenRequest {
  /** How long it is valid, ms ({@link TOKEN_TTL_RANGE_MS}). */
  ttlMs: number;
  /** How many joins it allows (null: unlimited). */
  uses: number | null;
  /** Labels granted to its nodes. */
  labels: Record<string, string>;
  /** Service names its nodes may offer (a name any grant lists is closed to others). */
  services?: string[];
  /** Its nodes may relay for others. */
  relay?: boolean;
  /** Routes its nodes may carry without approval (prefixes, and `exit`). */
  approveRoutes?: string[];
  /** The name its node gets, whatever it asks for (./names.ts). */
  hostname?: string;
}

/** A token made, before it is added: the stored record and the secret only its caller sees. */
export interface NewToken {
  /** The record kept (the secret hashed). */
  token: StoredToken;
  /** The secret. */
  secret: string;
}

/** Checks `req` and makes the token it asks for, valid from `now`; a bad field is a LeaderError. */
export function newToken(req: TokenRequest, now: number): NewToken {
  const { min, max } = TOKEN_TTL_RANGE_MS;
  // Beyond the range an expiry is no longer a date (and a year is plenty for a join token).
  if (!(req.ttlMs >= min && req.ttlMs <= max)) {
    throw new LeaderError(`ttl must be from 1s to 365d (${min} to ${max} ms), got ${req.ttlMs} ms`);
  }
  const labelProblem = grantedLabelsProblem(req.labels);
  if (labelProblem !== undefined) throw new LeaderError(labelProblem);
  const services = req.services ?? [];
  const serviceProblem = grantedServicesProblem(services);
  if (serviceProblem !== undefined) throw new LeaderError(serviceProblem);
  if (req.uses !== null && !(Number.isInteger(req.uses) && req.uses > 0)) {
    throw new LeaderError("uses must be a positive integer");
  }
  let approveRoutes: string[];
  try {
    approveRoutes = parseApprovals(req.approveRoutes ?? []);
  } catch (e) {
    throw new LeaderError(`approve-routes: ${(e as Error).message}`);
  }
  const { id, secret } = newTokenSecret();
  const token: StoredToken = {
    id,
    secretHash: hashSecret(secret),
    createdAt: now,
    expiresAt: now + req.ttlMs,
    usesLeft: req.uses,
    labels: { ...req.labels },
    ...(services.length ? { services: [...services] } : {}),
    ...(req.relay ? { relay: true as const } : {}),
    ...(approveRoutes.length ? { approveRoutes } : {}),
    ...(req.hostname !== undefined ? { hostname: req.hostname } : {}),
    revoked: false,
  };
  return { token, secret };
}

/**
 * Adds the token made at `now` to `d`: a name it pins must be one its node could have (it is
 * never suffixed), and members offering a name it restricts without a grant lose the offer now.
 * Its id, secret and expiry.
 */
export function addToken(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  made: NewToken,
  now: number,
): Edit<{ id: string; secret: string; expiresAt: number }> {
  const t = made.token;
  const services = t.services ?? [];
  if (t.hostname !== undefined) {
    // A pinned name is never suffixed: one its node could not have is refused now.
    const book = nameBook(ctx, d, now);
    const p = nameProblem(t.hostname, "", {
      ...book,
      isService: (n) => book.isService(n) || services.includes(n),
    });
    if (p !== undefined) throw new LeaderError(`hostname "${t.hostname}" ${p}`);
  }
  // A copy: the queue may run this edit again (another leader wrote first), and `d`'s tokens
  // are edited in place (a use, a revocation).
  d.tokens.push({ ...t });
  // A name this token restricts is no longer open: members offering it without a grant
  // lose it now rather than at their next hello.
  const refused = services.length ? withdrawUngranted(ctx, d, touch) : 0;
  return {
    result: { id: t.id, secret: made.secret, expiresAt: t.expiresAt },
    write: true,
    after: () => {
      ctx.counts.servicesRefused += refused;
      ctx.tokensChanged();
    },
  };
}

/** Revokes the token `id` in `d`; a {@link LeaderNotFoundError} when there is none. */
export function revokeToken(d: LeaderFile, id: string): Edit<void> {
  const t = d.tokens.find((x) => x.id === id);
  if (!t) throw new LeaderNotFoundError(`no token "${id}"`);
  t.revoked = true;
  return { result: undefined, write: true };
}

/** The tokens of `d`, without their hashes, each saying whether it has expired at `now`. */
export function tokenViews(d: LeaderFile, now: number): TokenView[] {
  return d.tokens.map(({ secretHash: _, ...t }) => ({ ...t, expired: now >= t.expiresAt }));
}

/** Every token's id and secret hash in `d`: what the join gate derives its mac1 keys from. */
export function tokenKeys(d: LeaderFile): { id: string; secretHash: string }[] {
  return d.tokens.map(({ id, secretHash }) => ({ id, secretHash }));
}
