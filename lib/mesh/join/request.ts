/**
 * A join's request and its outcome: what a joiner sends inside the encrypted join request and
 * what the leader answers. Their own module so the join client and server and the leader's
 * bookkeeping share them without importing each other.
 * @module
 */

import type { Member, ServiceSpec } from "../../members/member.ts";

/** What a joiner asks for (inside the encrypted join request). */
export interface JoinRequest {
  /** Token id. */
  tokenId: string;
  /** Token secret (base64). */
  secret: string;
  /** Joiner's WireGuard public key. */
  publicKey: string;
  /** Joiner's host name. */
  hostname: string;
  /**
   * The name the joiner had before (a removed node joining again without a name given): granted
   * instead of `hostname` when no member holds it. Older leaders ignore it.
   */
  previousName?: string;
  /**
   * Labels the joiner asserts about itself: only keys under `node.weft/` are kept (apart from the
   * token's labels, which are the member's granted labels); others are dropped.
   */
  labels: Record<string, string>;
  /** Services the joiner advertises. */
  services: ServiceSpec[];
  /** Endpoints the joiner advertises. */
  endpoints: string[];
  /** The joiner relays for others (`--relay`). */
  relay?: true;
  /** The joiner's TCP port, when it has TCP and knows the port before it starts. */
  tcpPort?: number;
  /**
   * The routes the joiner offers to carry (`--advertise-routes`, the default routes as an exit
   * node), canonical and sorted; used as far as the leader approves them. Older leaders ignore it.
   */
  routes?: string[];
  /**
   * The joiner's run id (lib/members/run_id.ts), in its record from the join, so that its first
   * hello changes nothing. Older leaders ignore it.
   */
  run?: string;
  /**
   * When the joiner made the request (its Unix ms): per key, each new request must be later
   * than the last one accepted, so a captured request cannot be replayed.
   */
  time: number;
  /**
   * Proof that the joiner holds the key it names, for this request (./key_proof.ts; base64):
   * without it, a request naming a member's key is refused. Older leaders ignore it.
   */
  keyProof?: string;
}

/** A join's outcome. */
export type JoinResult =
  | {
    ok: true;
    member: Member;
    leader: Member;
    network: string;
    network6?: string;
    version: number;
  }
  | {
    ok: false;
    error: string;
    /**
     * The leader's store refused the write (no quorum, unreachable): `error` is the store's
     * message, and another leader may still take the join.
     */
    store?: true;
    /**
     * The refusal is of what the joiner was given: its token (unknown, expired, revoked, used up,
     * the one it was removed with, its pinned name taken) or its flags (a host name that is no
     * DNS label, a malformed request, a leader's key). The same join again would be refused the same way: the joiner
     * exits with code 2. Without it the cause is the leader's state or the clocks (exit code 1).
     */
    usage?: true;
  };
