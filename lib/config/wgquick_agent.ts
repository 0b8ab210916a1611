/**
 * Turns a parsed wg-quick file into agent options, resolving endpoint host names.
 * @module
 */

import type { AgentOptions } from "../agent/agent.ts";
import type { PeerConfig } from "../device/device.ts";
import type { WgQuickConfig, WgQuickEndpoint } from "./wgquick.ts";
import { isIP } from "./wgquick.ts";

/** Resolves an endpoint's host to an IP literal (A first, then AAAA), as `host:port` text. */
export async function resolveEndpoint(ep: WgQuickEndpoint): Promise<string> {
  let host = ep.host.replace(/%.*$/, "");
  if (!isIP(host)) {
    let addrs: string[] = [];
    for (const type of ["A", "AAAA"] as const) {
      try {
        addrs = await Deno.resolveDns(host, type);
      } catch {
        addrs = [];
      }
      if (addrs.length) break;
    }
    if (!addrs.length) throw new Error(`cannot resolve endpoint host "${ep.host}"`);
    host = addrs[0];
  }
  return host.includes(":") ? `[${host}]:${ep.port}` : `${host}:${ep.port}`;
}

/** The agent options a wg-quick file describes (interface, addresses, port, MTU, peers). */
export async function agentOptionsFromWgQuick(
  cfg: WgQuickConfig,
): Promise<Pick<AgentOptions, "privateKey" | "addresses" | "listenPort" | "mtu" | "peers">> {
  const peers: PeerConfig[] = [];
  for (const p of cfg.peers) {
    peers.push({
      publicKey: p.publicKey,
      presharedKey: p.presharedKey,
      endpoint: p.endpoint ? await resolveEndpoint(p.endpoint) : undefined,
      allowedIps: p.allowedIPs,
      persistentKeepalive: p.persistentKeepalive,
    });
  }
  return {
    privateKey: cfg.interface.privateKey,
    addresses: cfg.interface.addresses,
    listenPort: cfg.interface.listenPort ?? 0,
    mtu: cfg.interface.mtu,
    peers,
  };
}
