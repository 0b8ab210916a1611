/**
 * Why packets are dropped, counted per reason: hostile or broken input is never an exception on
 * the packet path, only a number that moves.
 * @module
 */

import { ReasonCounter } from "../metrics/reasons.ts";

/** Every reason the device drops a packet. */
export const DROP_REASONS = [
  "short",
  "bad-size",
  "unknown-type",
  "mac1",
  "cookie-required",
  "cookie-reply-limited",
  "handshake-rate-limited",
  "cookie-invalid",
  "handshake-invalid",
  "handshake-unknown-peer",
  "handshake-replay",
  "late-initiation",
  "unknown-index",
  "bad-counter",
  "expired-session",
  "decrypt",
  "crypto-error",
  "replay",
  "malformed-ip",
  "source-not-allowed",
  "no-route",
  "multicast",
  "oversize",
  "staged-overflow",
  "handshake-timeout",
  "policy",
  "pq-required",
] as const;

/** A reason the device drops a packet. */
export type DropReason = typeof DROP_REASONS[number];

/** Counters by drop reason. */
export class DropCounters extends ReasonCounter<DropReason> {
  /** Every reason at zero. */
  constructor() {
    super(DROP_REASONS);
  }
}
