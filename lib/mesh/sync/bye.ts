/**
 * A stopping node's bye: once to every other member online it holds a session with, and to the
 * leader in use up to three times within the wait until it answers (its change is written by
 * then), never longer; and how long that wait is by default, by the mesh's size.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { MembershipView } from "../../members/member.ts";
import type { ControlPort } from "./control_channel.ts";

/** How long a stopping node waits for its bye's answer at least, ms. */
export const BYE_WAIT_MS = 1000;
/** How long a stopping node waits for its bye's answer at most, ms. */
export const BYE_WAIT_MAX_MS = 5000;

/**
 * How long a stopping node in a mesh of `members` waits for the leader's answer to its bye by
 * default, ms: the longer of a second and a fifth of a millisecond a member (2 s at 10,000), at
 * most {@link BYE_WAIT_MAX_MS}. The leader answers once the node's change is written, in its next
 * batch of changes, and tells every member after; a batch on a busy leader of 10,000 takes longer
 * than a second.
 */
export function byeWaitFor(members: number): number {
  return Math.min(BYE_WAIT_MAX_MS, Math.max(BYE_WAIT_MS, Math.ceil(members / 5)));
}

/** What saying bye needs of the node (its sync's deps give it). */
export interface ByeDeps {
  /** The control channel the byes go out on. */
  channel: Pick<ControlPort, "send">;
  /** The logger: one line, whether the leader answered or not. */
  logger: Logger;
  /** This node's public key. */
  publicKey: string;
  /** The view held now: the members the bye goes straight to. */
  view: () => MembershipView;
  /** Whether this node holds a session with a member (default: yes for all). */
  inSession?: (publicKey: string) => boolean;
}

/**
 * Says bye: once to every other member online in session, then to the leader at `leader` up to
 * three times within `waitMs` until `answered` resolves (the leader's `bye-ok`); says which.
 */
export async function sayBye(
  d: ByeDeps,
  leader: string,
  answered: Promise<void>,
  waitMs: number,
): Promise<void> {
  const bye = { t: "bye" as const, k: d.publicKey };
  // The other members with a session hear it first, once each: their calls stop coming and
  // their sessions are wiped even before the leader's change arrives, and when the leader is
  // down. The leader's answer is waited for.
  for (const m of d.view().members) {
    if (
      m.publicKey !== d.publicKey && m.address !== leader && !m.offline &&
      (d.inSession?.(m.publicKey) ?? true)
    ) {
      d.channel.send(m.address, bye);
    }
  }
  const tries = 3;
  for (let i = 0; i < tries; i++) {
    d.channel.send(leader, bye);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), waitMs / tries);
    });
    const ok = await Promise.race([answered.then(() => true), waited]);
    clearTimeout(timer);
    if (ok) {
      d.logger.info("left the mesh: the leader took this node out of rotation", {});
      return;
    }
  }
  d.logger.warn(
    "the leader did not answer this node's bye (down, or an older version): its peers were " +
      "told directly; the leader lists it as running until its health says otherwise",
    { leader },
  );
}
