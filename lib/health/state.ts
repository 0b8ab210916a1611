/**
 * The health states a peer can be in, as the tracker decides them and status, metrics, DNS and
 * the dashboard show them.
 * @module
 */

/**
 * A peer's health as seen from this node. `idle`: a peer it knows but exchanges no traffic with
 * (sessions on demand), so it keeps no session with it and does not probe it: not `down`.
 */
export type HealthState = "up" | "degraded" | "down" | "unknown" | "idle";

/** Every health state, in the order status and metrics list them. */
export const HEALTH_STATES: readonly HealthState[] = ["up", "degraded", "down", "unknown", "idle"];
