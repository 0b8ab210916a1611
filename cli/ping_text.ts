/**
 * What `weft ping` prints for a reply: who answered, the path the peer had then (direct and its
 * endpoint, or which relay; over TCP when so) and the round trip, as `tailscale ping` says it.
 * @module
 */

import type { PeerPath } from "../mod.ts";

/**
 * One reply's line: `pong from db (10.200.0.5) via direct 192.0.2.7:51820 in 1.2 ms`,
 * `... via relay lead in 3.4 ms`, `... over tcp` (`through http://proxy:3128` where an HTTP
 * proxy carries it). `name` is the member's name when known (the
 * one pinged, else the peer's); without a path (no peer routes the address) the route is left out.
 */
export function pongText(
  address: string,
  name: string | undefined,
  path: PeerPath | null,
  rttMs: number,
): string {
  const who = name || path?.name;
  let text = who ? `pong from ${who} (${address})` : `pong from ${address}`;
  if (path !== null) {
    if (path.path === "relay") text += ` via relay ${path.via ?? "(unknown)"}`;
    else if (path.endpoint !== null && path.path !== "none" && path.path !== "idle") {
      text += ` via direct ${path.endpoint}`;
    } else if (path.path !== undefined) text += ` (path ${path.path})`;
    if (path.transport === "tcp") text += " over tcp";
    if (path.transport === "tcp" && path.proxy !== undefined) text += ` through ${path.proxy}`;
  }
  return `${text} in ${formatRtt(rttMs)} ms`;
}

/** A round trip in ms: 2 decimals under 10 ms, 1 under 100, whole above. */
function formatRtt(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);
}
