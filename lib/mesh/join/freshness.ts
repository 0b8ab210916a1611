/**
 * What the leader checks of a join request besides its token: its time (replay protection keeps,
 * per key, the latest time accepted, so a time far ahead would hold the key out until then) and,
 * for a request naming a member's key, that it comes from that member (./key_proof.ts). The
 * refusals' words, and the drop each is counted as (`weft_join_drops_total`).
 * @module
 */

import type { JoinDropReason } from "./gate.ts";

/**
 * How far ahead of the leader's clock a request's time may be: 5 minutes, Kerberos' default
 * clock skew. Clocks kept by NTP are far closer; the bound is also how long a forged time can
 * hold out a key no member holds (a key a member holds needs its proof).
 */
export const MAX_JOIN_AHEAD_MS = 5 * 60_000;

/** The refusal of a request older than the latest accepted for its key. */
export const STALE = "stale join request (a replay, or this machine's clock went back)";

/** The refusal of a request naming a member's key that its holder did not make. */
export const NOT_KEY_HOLDER =
  "that key is a member's, and the request does not prove it comes from that member";

const AHEAD = "join request from the future";

/** Why a request made at `time` is refused at the leader's `now`, or undefined. */
export function joinTimeProblem(time: number, now: number): string | undefined {
  if (time - now <= MAX_JOIN_AHEAD_MS) return undefined;
  return `${AHEAD}: its time is ${Math.round((time - now) / 1000)} s ahead of the leader's ` +
    `clock (at most ${MAX_JOIN_AHEAD_MS / 1000} s): check this machine's clock`;
}

/** The drop a refusal is counted as, or null for those the gate does not count. */
export function refusalDrop(error: string): JoinDropReason | null {
  if (error === STALE) return "stale";
  if (error === NOT_KEY_HOLDER) return "not-key-holder";
  if (error.startsWith(AHEAD)) return "future";
  return null;
}
