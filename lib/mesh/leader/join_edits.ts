/**
 * The leader's edits of joins and allocations: a join answered (or refused, changing nothing),
 * the node heard from (its allocation kept for good), allocations never heard from released.
 * Plain functions over a copy of the state (./edit_context.ts); LeaderCore.join says what the
 * freshness rules are.
 * @module
 */

import type { Member } from "../../members/member.ts";
import { splitLabels } from "../../members/labels.ts";
import { joinTimeProblem, NOT_KEY_HOLDER, STALE } from "../join/freshness.ts";
import type { JoinRequest, JoinResult } from "../join/request.ts";
import { secretMatches, tokenProblem } from "../join/token.ts";
import type { JoinRecord, LeaderFile } from "../state/state.ts";
import type { Edit, Touch } from "./changes.ts";
import type { EditContext } from "./edit_context.ts";
import { v6For } from "./mesh_edits.ts";
import { nameFor } from "./name_edits.ts";
import { remember, tokenGrants } from "./records.ts";
import { reassign } from "./route_edits.ts";
import { routesMatter } from "./routes.ts";
import { grantedServices } from "./service_edits.ts";

/** The answer to an accepted join of `member` in `d`. */
function accepted(ctx: EditContext, d: LeaderFile, member: Member): JoinResult {
  return {
    ok: true,
    member: { ...member },
    // The leader that answers: the joiner syncs with it first.
    leader: { ...(ctx.index(d).byKey(ctx.own) ?? ctx.ownRecord()) },
    network: d.network,
    ...(d.network6 ? { network6: d.network6 } : {}),
    version: d.version,
  };
}

/**
 * Answers the join `req` at `now` in `d` (LeaderCore.join): a new member at the lowest free
 * address with the name ./name_edits.ts gives it and what its token grants, or a refusal that
 * changes nothing. `observed` is the endpoint the request came from. A key that already holds
 * an allocation gets the same answer again (a retransmission, or a retry after a lost answer)
 * when it presents the token that admitted it, used up or not, or any other usable token (which
 * is not used).
 *
 * Freshness: per key, the leader keeps the latest request time it accepted (on disk, also for
 * keys that were removed or released). A request older than that is refused as stale; one
 * with the same time is a retransmission and gets the same answer while the key holds its
 * allocation; a key removed with `weft node remove` joins again only with a later request and
 * a token other than the one it was admitted with. A request naming a member's key is a resend
 * only when `holdsKey` says it comes from that key's holder (its key proof: a member's key is
 * public), and a time more than 5 minutes ahead of `now` is refused, never kept (it would hold
 * the key out until then; ../join/freshness.ts).
 */
export function join(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  req: JoinRequest,
  observed: string | null,
  now: number,
  holdsKey: () => boolean,
): Edit<JoinResult> {
  // `usage`: refused for what the joiner was given (../join/request.ts JoinResult).
  const refuse = (error: string, usage = true): Edit<JoinResult> => ({
    result: { ok: false, error, ...(usage ? { usage } : {}) },
    write: false,
  });
  const found = d.tokens.find((t) => t.id === req.tokenId);
  if (!found || !secretMatches(found, req.secret)) return refuse("unknown token");
  const token = found;
  const ahead = joinTimeProblem(req.time, now);
  if (ahead !== undefined) return refuse(ahead, false);
  const problem = tokenProblem(token, now);
  const ix = ctx.index(d);
  const existing = ix.byKey(req.publicKey);
  if (existing?.role === "leader") return refuse(problem ?? "that key is a leader's");
  if (existing) {
    if (!holdsKey()) return refuse(NOT_KEY_HOLDER, false);
    const rec = d.joins.get(existing.publicKey);
    if (rec?.time !== undefined && req.time < rec.time) return refuse(STALE, false);
    if (rec?.token === token.id || problem === null) {
      const later = rec !== undefined && (rec.time === undefined || req.time > rec.time);
      if (later) d.joins.set(existing.publicKey, { ...rec, time: req.time });
      return { result: accepted(ctx, d, existing), write: later };
    }
    return refuse(problem);
  }
  const gone = d.left?.[req.publicKey];
  if (gone && req.time <= gone.time) return refuse(STALE, false);
  if (gone?.removedToken === req.tokenId) {
    return refuse("this node was removed: it can join again only with a new token");
  }
  if (problem !== null) return refuse(problem);
  const named = nameFor(ctx, d, req, token, now);
  if ("error" in named) return refuse(named.error);
  const name = named.name;
  const address = ix.lowestFree();
  if (!address) return refuse(`network ${d.network} is exhausted`, false);
  // Granted labels come from the token alone; the joiner's own only under node.weft/.
  const own = splitLabels(req.labels);
  const grants = tokenGrants(token);
  const member: Member = {
    name,
    publicKey: req.publicKey,
    address,
    ...(d.network6 ? { address6: v6For(address, d.network, d.network6) } : {}),
    endpoints: [...new Set([...(observed ? [observed] : []), ...req.endpoints])],
    ...(observed ? { observed } : {}),
    labels: { ...token.labels },
    ...(Object.keys(own.asserted).length ? { nodeLabels: own.asserted } : {}),
    role: "node",
    services: [],
    joinedAt: now,
    ...(grants ? { grants } : {}),
    // Relaying is the leader's grant; the node's --relay says it is willing.
    ...(req.relay && grants?.relay ? { relay: true as const } : {}),
    ...(req.tcpPort !== undefined ? { tcpPort: req.tcpPort } : {}),
    ...(req.routes?.length ? { advertisedRoutes: [...req.routes] } : {}),
    ...(req.run !== undefined ? { run: req.run } : {}),
  };
  member.services = grantedServices(ctx, d, member, req.services);
  ix.add(member);
  if (token.usesLeft !== null) token.usesLeft--;
  d.joins.set(member.publicKey, { token: token.id, at: now, heard: false, time: req.time });
  // Not heard from yet: it carries routes from its first hello (heardFrom).
  if (routesMatter(member)) reassign(ctx, d, touch);
  if (gone) delete d.left![req.publicKey];
  touch(member.publicKey);
  return {
    result: accepted(ctx, d, ix.byKey(member.publicKey) ?? member),
    write: true,
    // Counted once, for the run committed (another leader's commit first runs it again).
    after: () => {
      ctx.counts.labelsDropped += Object.keys(own.granted).length;
      ctx.counts.servicesRefused += req.services.length - member.services.length;
    },
  };
}

/** Notes in `d` that the member `publicKey` was heard from: its allocation is kept for good. */
export function heardFrom(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  publicKey: string,
): Edit<void> {
  const rec = d.joins.get(publicKey);
  if (!rec || rec.heard) return { result: undefined, write: false };
  d.joins.set(publicKey, { ...rec, heard: true });
  // A router carries routes once it is heard from (its join answer arrived).
  if (routesMatter(ctx.index(d).byKey(publicKey))) reassign(ctx, d, touch);
  return { result: undefined, write: true };
}

/** When an allocation nobody has heard from is released. */
function holdUntil(ctx: EditContext, rec: JoinRecord): number {
  // A leader that was down cannot have heard anyone: each node gets the full hold after a start.
  return Math.max(rec.at, ctx.openedAt) + ctx.joinHoldMs;
}

/**
 * Releases at `now` the allocations in `d` of nodes never heard from within the hold time (the
 * name and address are free, the token gets its use back); those `heard` says completed a
 * handshake are kept for good. The members released.
 */
export function releaseUnheard(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  now: number,
  heard: (publicKey: string) => boolean,
): Edit<Member[]> {
  const released: Member[] = [];
  let write = false;
  for (const [key, rec] of [...d.joins]) {
    if (rec.heard) continue;
    if (heard(key)) {
      d.joins.set(key, { ...rec, heard: true });
      write = true;
      if (routesMatter(ctx.index(d).byKey(key))) reassign(ctx, d, touch);
      continue;
    }
    if (now < holdUntil(ctx, rec)) continue;
    write = true;
    d.joins.delete(key);
    // Its request may still be replayed: only a later one may join again.
    if (rec.time !== undefined) {
      ctx.counts.forgotten += remember(d, key, { time: rec.time, at: now });
    }
    const m = ctx.index(d).remove(key);
    if (m) {
      released.push(m);
      touch(key);
      if (routesMatter(m)) reassign(ctx, d, touch);
    }
    const t = d.tokens.find((x) => x.id === rec.token);
    if (t && t.usesLeft !== null) t.usesLeft++;
  }
  return { result: released, write };
}
