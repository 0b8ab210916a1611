/**
 * The HTTP proxy a node's TCP dials go through, made from its parsed setting (lib/net/proxy.ts):
 * one place for the agent's underlay and the join's transport. Integration seam for other
 * stream transports (a WebSocket dial, issue 49): open the byte stream with
 * `proxyConnector(setting).dial({ hostname, port })`, then speak on it.
 * @module
 */

import { bypassesProxy, proxyAuthorization, proxyLabel, type ProxySetting } from "../net/proxy.ts";
import { ProxyConnector } from "../../drivers/proxy_connect.ts";

/** A CONNECT dialer for `setting`: its proxy, credentials and `NO_PROXY` list. */
export function proxyConnector(setting: ProxySetting): ProxyConnector {
  const { url, bypass } = setting;
  const authorization = proxyAuthorization(url);
  return new ProxyConnector({
    host: url.host,
    port: url.port,
    label: proxyLabel(url),
    ...(authorization !== undefined ? { authorization } : {}),
    ...(bypass.length
      ? { bypass: (host: string, port: number) => bypassesProxy(bypass, host, port) }
      : {}),
  });
}
