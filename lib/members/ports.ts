/**
 * The ports of the mesh: where members listen on the underlay, and the ports of the control plane
 * (membership sync, probes) and of the service layer (requests, events) on their overlay
 * addresses.
 * @module
 */

/** The UDP port weft's control plane uses on overlay addresses. */
export const CONTROL_PORT = 51821;

/** The default UDP port for encrypted traffic (WireGuard's). */
export const DEFAULT_LISTEN_PORT = 51820;

/**
 * The UDP port of the service layer (requests, responses, events: lib/services) on overlay
 * addresses. Not 51822, which LAN discovery uses on the underlay.
 */
export const SERVICES_PORT = 51823;

/**
 * The UDP port of the post-quantum key exchange between members (lib/mesh/pq) on overlay
 * addresses.
 */
export const PQ_PORT = 51824;
