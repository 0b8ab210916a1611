/**
 * How far behind the device reads: each datagram comes with how long it waited in the socket's
 * receive queue (DatagramSink.datagram's `waitedMs`, where the transport knows it). A device that
 * reads datagrams a second old or more is behind: what its peers sent since is in the queue too.
 *
 * Two things follow. An initiation that waited longer than its sender waits before resending
 * (REKEY_TIMEOUT and its jitter) is shed before any MAC or DH: the sender has sent a newer one,
 * with a new ephemeral key, and takes a response only to that one (or gave up), so answering costs
 * four DHs and a response for nothing. And while behind the device starts no handshake (they
 * wait, in order, for the pace: initiation_pace.ts): the responses to its initiations, the
 * handshakes of its peers and their packets that would have made one unneeded are in its own
 * queue, and what it sends now only adds to that queue. Nothing else is shed by age: transport
 * data (hellos, views: the layers above judge what is still worth it), responses (they answer
 * one of ours, which a device keeps until it sends the next) and cookie replies are cheap to look
 * at and may be the only copy.
 * @module
 */

import type { DeviceState } from "./state.ts";

/** A datagram that waited this long in the receive queue means the device is behind, ms. */
export const LAG_MS = 1000;

/** The device counts as behind until this long after it read such a datagram, ms. */
export const LAG_HOLD_MS = 1000;

/** Takes note of a datagram's wait in the receive queue (ms; 0 when not known). */
export function noteWait(s: DeviceState, waitedMs: number): void {
  if (waitedMs >= LAG_MS) s.lagUntil = s.clock.now() + LAG_HOLD_MS;
}

/** Whether the device is behind at `now` (monotonic ms, the device's clock). */
export function lagging(s: DeviceState, now: number): boolean {
  return now < s.lagUntil;
}

/**
 * Whether an initiation that waited `waitedMs` in the receive queue is past answering: its
 * sender has resent it (REKEY_TIMEOUT and the most jitter have passed) or given up.
 */
export function lateInitiation(s: DeviceState, waitedMs: number): boolean {
  return waitedMs > s.timers.rekeyTimeout + s.timers.rekeyJitter;
}
