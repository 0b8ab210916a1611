/**
 * When a joiner resends its request: the first at once, then after 250 ms, the wait doubling
 * each time up to {@link JOIN_RESEND_CAP_MS}, each wait made up to half as long again at random
 * (never shorter: a resend sooner would come while the leader handles the request). A
 * leader that falls behind holds seconds of datagrams in its socket's queue: resends at a fixed
 * rate fill that queue with copies (dropped as `resent`, but read and checked all the same), and
 * the joiners that share a burst would resend in step. The join client (./exchange.ts) and the
 * fleet simulator's members both wait so.
 * @module
 */

/** The wait before the first resend, ms (the fast resend a lost datagram wants). */
export const JOIN_RESEND_FIRST_MS = 250;

/** The longest wait between resends, ms. */
export const JOIN_RESEND_CAP_MS = 4000;

/** How much longer a wait may be made at random, a share of it. */
export const JOIN_RESEND_JITTER = 0.5;

/**
 * The longest a joiner still asking waits between two copies of its request, ms: the cap made
 * as long again as the jitter goes (6 s). A copy older than this has a newer one behind it.
 */
export const JOIN_RESEND_LONGEST_MS = JOIN_RESEND_CAP_MS * (1 + JOIN_RESEND_JITTER);

/**
 * The wait before resend number `n` (1 for the first), ms; `random` gives 0 to 1 (default
 * `Math.random`).
 */
export function joinResendDelayMs(n: number, random: () => number = Math.random): number {
  const base = Math.min(JOIN_RESEND_CAP_MS, JOIN_RESEND_FIRST_MS * 2 ** Math.max(0, n - 1));
  return base * (1 + JOIN_RESEND_JITTER * random());
}
