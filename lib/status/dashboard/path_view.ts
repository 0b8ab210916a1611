/**
 * The page's model of a peer's path: how the path is shown (the link's style, its label, the
 * table cells, the tooltip line). Kept apart from the drawing so that tests run it without a
 * browser.
 * @module
 */

import type { PeerDoc } from "./types.ts";

/** How a peer's path is shown. */
export interface PathView {
  /** The link's data-path (its style); empty outside a mesh. */
  path: string;
  /** The relay's name when relayed. */
  via: string;
  /** Tagged with its transport: "tcp" or "websocket" (udp is the default, not marked). */
  tcp: boolean;
  /** `udp`, `tcp`, `websocket`, or empty when unknown. */
  transport: string;
  /** The TCP or WebSocket path goes through an HTTP proxy: tagged `via proxy`. */
  proxied: boolean;
  /** The proxy (`http://host:port`, never its credentials) when named; else empty. */
  proxy: string;
  /** Beside the RTT on the link. */
  label: string;
  /** The table's Path column. */
  cell: string;
  /** The tooltip line. */
  tip: string;
}

/** How the peer's path is shown. */
export function pathView(p: PeerDoc): PathView {
  const path = typeof p.path === "string" ? p.path : "";
  const transport = p.transport === "tcp" || p.transport === "udp" || p.transport === "websocket"
    ? p.transport
    : "";
  const v: PathView = {
    path,
    via: "",
    tcp: transport === "tcp" || transport === "websocket",
    transport,
    // Only a stream goes through a proxy; a flag on anything else is not believed.
    proxied: p.proxied === true && (transport === "tcp" || transport === "websocket"),
    proxy: "",
    label: "",
    cell: path || "–",
    tip: "",
  };
  if (path === "relay") {
    v.via = p.via ? String(p.via) : "";
    v.label = v.via ? "via " + v.via : "via a relay";
    v.cell = "relay " + v.label;
    v.tip = "path relay, " + v.label;
  } else if (path === "none") {
    // With relays, none means neither a direct path nor a relay works.
    v.label = v.cell = v.tip = "no path";
  } else if (path === "idle") {
    // Sessions on demand: nothing asked for a path yet; not a failure.
    v.label = v.cell = "idle";
    v.tip = "idle: no session until there is traffic";
  } else if (path === "direct") {
    const c = (p.candidates || []).filter((x) => x && x.chosen)[0];
    v.tip = "path direct" + (c ? " to " + c.endpoint + " (" + c.kind + ")" : "");
  } else if (path) {
    v.tip = "path " + path;
  }
  if (v.proxied && typeof p.proxy === "string") v.proxy = p.proxy;
  if (v.tip && transport && path !== "none" && path !== "idle") {
    v.tip += ", over " + transport +
      (v.proxied ? " via proxy" + (v.proxy ? " " + v.proxy : "") : "");
  }
  return v;
}
