/**
 * Join tokens as the leader's service makes them for its operator: what a new token grants
 * (with the defaults: a day, unlimited uses), and the token text a node joins with, naming this
 * leader and every other leader online so the token joins through any of them.
 * @module
 */

import type { Member } from "../../members/member.ts";
import { encodeToken, type TokenLeader } from "../join/token.ts";
import type { TokenRequest } from "./token_edits.ts";

/** A token as `createToken` makes it. */
export interface CreatedToken {
  /** Its id (for `token revoke`). */
  id: string;
  /** The token text a node joins with. */
  token: string;
  /** Unix ms when it expires. */
  expiresAt: number;
}

/** What a new join token grants and allows. */
export interface TokenOptions {
  /** How long it is valid, ms (default 24 h). */
  ttlMs?: number;
  /** How many joins it allows (null or absent: unlimited). */
  uses?: number | null;
  /** Labels granted to nodes joining with it. */
  labels?: Record<string, string>;
  /** Service names nodes joining with it may offer (a name any grant lists is closed to others). */
  services?: string[];
  /** Nodes joining with it may relay for others (when started with `--relay`). */
  relay?: boolean;
  /**
   * Routes nodes joining with it may carry without a `route approve` (prefixes, and `exit`), as
   * Tailscale's auto-approvers.
   */
  approveRoutes?: string[];
  /**
   * The name the node joining with it gets, whatever it asks for (a name another member holds,
   * a reserved one or a service's is refused); absent: the joiner's own, suffixed (`-2`) when
   * another claim is on it.
   */
  hostname?: string;
}

/** The default validity of a token: a day. */
export const DEFAULT_TOKEN_TTL_MS = 24 * 3600_000;

/** What the leader's core is asked for `opts`, the defaults filled in. */
export function tokenRequest(opts: TokenOptions): TokenRequest {
  return {
    ttlMs: opts.ttlMs ?? DEFAULT_TOKEN_TTL_MS,
    uses: opts.uses ?? null,
    labels: opts.labels ?? {},
    services: opts.services ?? [],
    relay: opts.relay ?? false,
    approveRoutes: opts.approveRoutes ?? [],
    ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
  };
}

/** Another leader as a token names it: its TCP port only when not its endpoints' port. */
function tokenLeader(m: Member): TokenLeader {
  const port = Number(m.endpoints[0]?.slice(m.endpoints[0].lastIndexOf(":") + 1));
  return {
    key: m.publicKey,
    endpoints: m.endpoints,
    ...(m.tcpPort !== undefined && m.tcpPort !== port ? { tcpPort: m.tcpPort } : {}),
  };
}

/**
 * The text of the token `t` made by the leader `self` of the mesh in `network`: `self`, then
 * every other of `leaders` online with endpoints. `underlay` is this leader's ports: the token
 * carries its TCP port when it is not the UDP port's number (joiners try TCP on their endpoints'
 * port numbers unless told otherwise).
 */
export function tokenText(
  t: { id: string; secret: string },
  self: Member,
  leaders: readonly Member[],
  network: string,
  underlay?: { listenPort: number; tcpPort: number | null },
): string {
  const u = underlay;
  const tcpPort = u?.tcpPort && u.tcpPort !== u.listenPort ? { tcpPort: u.tcpPort } : {};
  return encodeToken({
    leaderKey: self.publicKey,
    endpoints: self.endpoints,
    network,
    id: t.id,
    secret: t.secret,
    ...tcpPort,
    leaders: [
      self,
      ...leaders.filter((m) => m.publicKey !== self.publicKey && !m.offline && m.endpoints.length),
    ].map(tokenLeader),
  });
}
