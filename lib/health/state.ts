/**
 * The health states a peer can be in, as the tracker decides them and status, metrics, DNS and
 * the dashboard show them.
 * @module
 */

/** A peer's health as seen from this node. */
export type HealthState = "up" | "degraded" | "down" | "unknown";
