/**
 * The ports of the mesh: where members listen on the underlay, and the port of the control plane
 * (membership sync, probes) on their overlay addresses.
 * @module
 */

/** The UDP port weft's control plane uses on overlay addresses. */
export const CONTROL_PORT = 51821;

/** The default UDP port for encrypted traffic (WireGuard's). */
export const DEFAULT_LISTEN_PORT = 51820;
