/**
 * The HTTP proxy a node's TCP dials go through, made from its parsed setting (lib/net/proxy.ts):
 * one place for the agent's underlay and the join's transport. Integration seam for other
 * stream transports (a WebSocket dial, issue 49): open the byte stream with
 * `proxyConnector(setting).dial({ hostname, port })`, then speak on it.
 * @module
 */

import { bypassesProxy, proxyAuthorization, proxyLabel, type ProxySetting } from "../net/proxy.ts";
import { ProxyConnector, type ProxyStats } from "../../drivers/proxy_connect.ts";
import { type Collector, counter, sampleCounts } from "../metrics/registry.ts";
import type { Endpoint } from "../io/driver.ts";

/** A CONNECT dialer for `setting`: its proxy, credentials and `NO_PROXY` list. */
export function proxyConnector(setting: ProxySetting): ProxyConnector {
  const { url, bypass } = setting;
  const authorization = proxyAuthorization(url);
  return new ProxyConnector({
    host: url.host,
    port: url.port,
    label: proxyLabel(url),
    ...(authorization !== undefined ? { authorization } : {}),
    // Also with no NO_PROXY: this host's loopback is never proxied.
    bypass: (host: string, port: number) => bypassesProxy(bypass, host, port),
  });
}

/**
 * For status: the proxy's label when the connection to a TCP endpoint was dialled through
 * `connector`, else null.
 */
export function proxiedVia(connector: ProxyConnector): (ep: Endpoint) => string | null {
  return (ep) => connector.proxied(ep.address, ep.port) ? connector.label : null;
}

const PROXY_CONNECTS = counter(
  "weft_proxy_connects_total",
  "Tunnels the HTTP proxy opened for TCP dials (CONNECT answered 2xx).",
);
const PROXY_FAILURES = counter(
  "weft_proxy_failures_total",
  "TCP dials through the HTTP proxy that failed, by reason.",
  ["reason"],
);
const PROXY_BYPASSED = counter(
  "weft_proxy_bypassed_total",
  "TCP dials that went straight to their target, not through the proxy (NO_PROXY).",
);

/** `/metrics` families of the proxy's counters (read live at each scrape). */
export function proxyCollector(stats: ProxyStats): Collector {
  return (out) => {
    out.sample(PROXY_CONNECTS, {}, stats.connects);
    sampleCounts(out, PROXY_FAILURES, "reason", stats.failures);
    out.sample(PROXY_BYPASSED, {}, stats.bypassed);
  };
}
