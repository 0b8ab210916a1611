/**
 * The device's events and internal failures: listeners hear of handshakes, give-ups, roaming and
 * wiped keys; a listener that throws, or a crypto backend that does, is counted and reported
 * instead of breaking the packet path.
 * @module
 */

import type { DeviceState } from "./state.ts";
import type { DeviceErrorSource, DeviceEvent } from "./types.ts";

/** Tells every listener of `e`; one that throws is counted, and the others still hear it. */
export function emit(s: DeviceState, e: DeviceEvent): void {
  for (const l of s.listeners) {
    try {
      l(e);
    } catch (err) {
      // A listener's failure must not break the packet path, nor go unnoticed.
      internalError(s, "listener", err);
    }
  }
}

/** Counts a failure that is ours, not the network's, and reports it. */
export function internalError(s: DeviceState, source: DeviceErrorSource, error: unknown): void {
  if (source === "crypto") s.drops.add("crypto-error");
  else s.listenerErrors++;
  try {
    s.onError?.(source, error);
  } catch {
    // The reporter itself failed: the count above still shows it.
  }
}
