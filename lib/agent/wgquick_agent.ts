/**
 * Turns a parsed wg-quick file into agent options, resolving endpoint host names, and refuses
 * the keys that cannot be honoured where the agent will run, naming them: nothing in a file is
 * accepted and then ignored.
 * @module
 */

import type { AgentMode, AgentOptions, UnderlayKind } from "./agent.ts";
import { findExecutable } from "./commands.ts";
import type { PeerConfig } from "../device/device.ts";
import type { WgQuickConfig, WgQuickEndpoint } from "../config/wgquick.ts";
import { ConfigError } from "../config/config_error.ts";
import { isIP } from "../net/ip.ts";
import { formatHostPort } from "../net/hostport.ts";

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
  return formatHostPort({ host, port: ep.port });
}

/** The agent options a wg-quick file describes. */
export type WgQuickAgentOptions = Pick<
  AgentOptions,
  "privateKey" | "addresses" | "listenPort" | "mtu" | "peers" | "table" | "fwMark"
>;

/**
 * The agent options a wg-quick file describes (addresses, port, MTU, peers, `Table`, `FwMark`).
 * Check the file with {@linkcode checkWgQuickSupport} first: the hooks, `DNS` and `SaveConfig`
 * are not agent options but the steps around it ({@linkcode WgQuickUp} runs them).
 */
export async function agentOptionsFromWgQuick(cfg: WgQuickConfig): Promise<WgQuickAgentOptions> {
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
  const out: WgQuickAgentOptions = {
    privateKey: cfg.interface.privateKey,
    addresses: cfg.interface.addresses,
    listenPort: cfg.interface.listenPort ?? 0,
    mtu: cfg.interface.mtu,
    peers,
  };
  if (cfg.interface.table !== undefined) out.table = cfg.interface.table;
  if (cfg.interface.fwMark !== undefined) out.fwMark = cfg.interface.fwMark;
  return out;
}

/** Where a wg-quick file is to run, for {@linkcode checkWgQuickSupport}. */
export interface WgQuickRunContext {
  /** `tun` (a kernel interface) or `userspace`. */
  mode: AgentMode;
  /** The UDP implementation; default `linux` on Linux, else `deno`. */
  underlay?: UnderlayKind;
  /** The file, named in errors and written back by `SaveConfig`; absent for text from elsewhere. */
  file?: string;
  /** Finds a program (`bash`, `resolvconf`) by name; default: the directories of `PATH`. */
  findTool?: (name: string) => string | null;
}

// Default routes need wg-quick's fwmark policy routing, or they would swallow the underlay.
const DEFAULT_ROUTE = /\/0$/;

/**
 * Throws {@linkcode ConfigError} naming the first key of `cfg` that cannot be honoured in
 * `ctx`: a key that needs a kernel interface in userspace mode (`Table`, `DNS`, the hooks),
 * `FwMark` without the linux underlay, `DNS` without `resolvconf`, hooks without `bash`,
 * `SaveConfig` without a file, and a default route (`AllowedIPs = 0.0.0.0/0`) with `Table =
 * auto` without the linux underlay (its policy routing marks the UDP socket, as `FwMark`).
 *
 * @example
 * ```ts run
 * import { checkWgQuickSupport } from "@weft/weft/agent";
 * import { ConfigError, parseWgQuick } from "@weft/weft/config";
 * import { generateKeyPair } from "@weft/weft";
 * const text = `[Interface]\nPrivateKey = ${generateKeyPair().privateKey}\n` +
 *   "Address = 10.9.0.1/24\nDNS = 10.9.0.53\n";
 * const cfg = parseWgQuick(text, { file: "wg0.conf" });
 * try {
 *   checkWgQuickSupport(cfg, { mode: "userspace", file: "wg0.conf" });
 * } catch (e) {
 *   if (e instanceof ConfigError) console.log(e.message); // prints: wg0.conf: ...DNS...
 * }
 * ```
 */
export function checkWgQuickSupport(cfg: WgQuickConfig, ctx: WgQuickRunContext): void {
  const it = cfg.interface;
  const refuse = (reason: string): never => {
    throw new ConfigError(reason, { file: ctx.file });
  };
  const findTool = ctx.findTool ?? findExecutable;
  const underlay = ctx.underlay ?? (Deno.build.os === "linux" ? "linux" : "deno");
  const hooks = [
    ["PreUp", it.preUp],
    ["PostUp", it.postUp],
    ["PreDown", it.preDown],
    ["PostDown", it.postDown],
  ] as const;
  const table = it.table ?? "auto";
  if (ctx.mode === "userspace") {
    const noKernel = "needs a kernel interface, which userspace mode (--userspace) does not have";
    if (table !== "auto" && table !== "off") refuse(`Table = ${table}: routes ${noKernel}`);
    if (it.dns.length + it.dnsSearch.length > 0) {
      refuse(`DNS: pointing the system's resolvers into the tunnel ${noKernel}`);
    }
    for (const [key, cmds] of hooks) {
      if (cmds.length > 0) refuse(`${key}: hooks run around an interface (%i); this ${noKernel}`);
    }
  }
  if (ctx.mode === "tun" && table === "auto" && underlay !== "linux") {
    const route = cfg.peers.flatMap((p) => p.allowedIPs).find((c) => DEFAULT_ROUTE.test(c));
    if (route !== undefined) {
      refuse(
        `Table = auto with AllowedIPs ${route}: the default route's policy routing marks the ` +
          `UDP socket (SO_MARK), which needs the linux underlay, not ${underlay}`,
      );
    }
  }
  if (it.fwMark !== undefined && underlay !== "linux") {
    refuse(`FwMark: marking the UDP socket (SO_MARK) needs the linux underlay, not ${underlay}`);
  }
  if (it.dns.length + it.dnsSearch.length > 0 && findTool("resolvconf") === null) {
    refuse(
      "DNS: setting the system's resolvers needs resolvconf, which is not installed " +
        "(install resolvconf or openresolv, or remove the DNS line)",
    );
  }
  for (const [key, cmds] of hooks) {
    if (cmds.length > 0 && findTool("bash") === null) {
      refuse(`${key}: hooks run with bash, which is not installed`);
    }
  }
  if (it.saveConfig && ctx.file === undefined) {
    refuse("SaveConfig = true: there is no file to write the configuration back to");
  }
}
