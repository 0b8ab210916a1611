/**
 * `weft up <file.conf>`: an agent brought up and down from a wg-quick file with wg-quick's
 * steps around it, in wg-quick's order. Up: PreUp hooks, the interface (addresses, routes into
 * `Table`, the socket's `FwMark`), `DNS` through resolvconf, PostUp hooks. Down: PreDown hooks,
 * `SaveConfig`, the interface removed, DNS removed, PostDown hooks.
 * @module
 */

import { Agent, type AgentMode, type AgentOptions } from "./agent.ts";
import { runHooks } from "./hooks.ts";
import { InterfaceDns } from "./resolvconf.ts";
import type { Device } from "../device/device.ts";
import { uapiState } from "../uapi/server.ts";
import { encodeKey } from "../crypto/keys.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { writeFileAtomic } from "../config/atomic.ts";
import {
  parseEndpoint,
  serializeWgQuick,
  type WgQuickConfig,
  type WgQuickPeer,
} from "../config/wgquick.ts";
import { agentOptionsFromWgQuick, checkWgQuickSupport } from "./wgquick_agent.ts";
import type { DefaultRouting } from "../routes/forwarding.ts";
import { firstFreeTable, LinuxDefaultRouting } from "../../drivers/linux/default_route.ts";

/** How to bring up a wg-quick file: the file's own settings plus the agent's run options. */
export interface WgQuickUpOptions
  extends
    Pick<AgentOptions, "crypto" | "cryptoWorkers" | "timers" | "underlay" | "uapi" | "logger"> {
  /** The parsed file. */
  config: WgQuickConfig;
  /** The interface name (wg-quick takes it from the file name: `wg0.conf` is `wg0`). */
  interfaceName: string;
  /** The file's path: named in errors, and where `SaveConfig = true` writes back. */
  file?: string;
  /** `tun` (default: a kernel interface, as wg-quick) or `userspace`. */
  mode?: AgentMode;
  /** Overrides the file's `ListenPort`. */
  listenPort?: number;
  /**
   * The host's policy routing for default routes (`AllowedIPs = 0.0.0.0/0` with `Table = auto`);
   * default Linux's (`ip rule`, `ip route`), as wg-quick.
   */
  defaultRouting?: DefaultRouting;
}

/** The families whose default route (`/0`) a peer routes in `cfg`. */
function defaultFamilies(cfg: WgQuickConfig): (4 | 6)[] {
  const all = cfg.peers.flatMap((p) => p.allowedIPs);
  return [
    ...(all.some((c) => c.trim() === "0.0.0.0/0") ? [4 as const] : []),
    ...(all.some((c) => c.trim() === "::/0") ? [6 as const] : []),
  ];
}

/**
 * The configuration of a running interface as wg-quick's `SaveConfig` writes it: the
 * `[Interface]` settings of `original` (addresses, DNS, MTU, Table, hooks, SaveConfig) with the
 * device's key, listen port and mark, and the device's peers as they are now (peers and allowed
 * IPs changed with `wg set`, endpoints that roamed).
 */
export function runningWgQuickConfig(
  original: WgQuickConfig,
  device: Device,
  fwMark = 0,
): WgQuickConfig {
  const state = uapiState(device, fwMark);
  try {
    const it = { ...original.interface, privateKey: encodeKey(state.privateKey) };
    it.listenPort = state.listenPort;
    delete it.fwMark;
    if (fwMark !== 0) it.fwMark = fwMark;
    const peers = state.peers.map((p): WgQuickPeer => {
      const peer: WgQuickPeer = { publicKey: encodeKey(p.publicKey), allowedIPs: p.allowedIps };
      if (p.presharedKey.some((b) => b !== 0)) peer.presharedKey = encodeKey(p.presharedKey);
      if (p.endpoint !== null) {
        const ep = parseEndpoint(p.endpoint);
        if (typeof ep !== "string") peer.endpoint = ep;
      }
      if (p.persistentKeepalive > 0) peer.persistentKeepalive = p.persistentKeepalive;
      return peer;
    });
    return { interface: it, peers };
  } finally {
    state.privateKey.fill(0);
  }
}

/**
 * An interface brought up from a wg-quick file; {@linkcode WgQuickUp.down} takes it down.
 *
 * @example
 * ```ts run
 * import { generateKeyPair } from "@weft/weft";
 * import { WgQuickUp } from "@weft/weft/agent";
 * import { loadWgQuickFile } from "@weft/weft/config";
 * const file = `${await Deno.makeTempDir()}/wg0.conf`; // usually /etc/wireguard/wg0.conf
 * const peer = generateKeyPair().publicKey;
 * await Deno.writeTextFile(
 *   file,
 *   `[Interface]\nPrivateKey = ${generateKeyPair().privateKey}\nAddress = 10.9.0.1/24\n` +
 *     `ListenPort = 52001\n\n[Peer]\nPublicKey = ${peer}\nAllowedIPs = 10.9.0.2/32\n`,
 * );
 * const config = await loadWgQuickFile(file);
 * // `weft up wg0.conf --userspace`; the default mode, `tun`, makes a kernel interface (root).
 * const up = await WgQuickUp.start({ config, interfaceName: "wg0", file, mode: "userspace" });
 * const { node, peers } = up.agent.status();
 * console.log(node.listenPort, peers[0].allowedIps); // prints: 52001 [ "10.9.0.2/32" ]
 * await up.down();
 * ```
 */
export class WgQuickUp {
  /** The running agent. */
  readonly agent: Agent;
  readonly #opts: WgQuickUpOptions;
  readonly #logger: Logger;
  readonly #dns: InterfaceDns | null;
  readonly #routing: DefaultRouting | null;
  #down: Promise<void> | null = null;

  private constructor(
    agent: Agent,
    opts: WgQuickUpOptions,
    logger: Logger,
    dns: InterfaceDns | null,
    routing: DefaultRouting | null,
  ) {
    this.agent = agent;
    this.#opts = opts;
    this.#logger = logger;
    this.#dns = dns;
    this.#routing = routing;
  }

  /**
   * Checks the file against where it runs (a `ConfigError` names a key that cannot be
   * honoured), then brings it up. A failing PreUp or PostUp hook, or resolvconf, stops the start
   * with an error, and whatever was already up is taken down again (without the down hooks, as
   * wg-quick).
   */
  static async start(opts: WgQuickUpOptions): Promise<WgQuickUp> {
    const logger = opts.logger ?? createLogger();
    const mode = opts.mode ?? "tun";
    const name = opts.interfaceName;
    const it = opts.config.interface;
    checkWgQuickSupport(opts.config, { mode, underlay: opts.underlay, file: opts.file });
    const base = await agentOptionsFromWgQuick(opts.config);
    // Default routes with Table = auto: wg-quick's policy routing. The routes go into a table of
    // their own (the first free from 51820, or FwMark's number) that only packets without the
    // socket's mark look up, so the tunnel's own packets still leave by the underlay.
    const families = mode === "tun" && (it.table ?? "auto") === "auto"
      ? defaultFamilies(opts.config)
      : [];
    const mark = families.length ? it.fwMark || await firstFreeTable() : it.fwMark ?? 0;
    const routing = families.length ? opts.defaultRouting ?? new LinuxDefaultRouting() : null;
    await runHooks("PreUp", it.preUp, name, logger);
    const agent = await Agent.start({
      ...base,
      ...(mark ? { fwMark: mark } : {}),
      ...(families.length
        ? { routes: base.peers!.flatMap((p) => p.allowedIps ?? []).filter((c) => !/\/0$/.test(c)) }
        : {}),
      listenPort: opts.listenPort ?? base.listenPort,
      mode,
      interfaceName: name,
      crypto: opts.crypto,
      cryptoWorkers: opts.cryptoWorkers,
      timers: opts.timers,
      underlay: opts.underlay,
      uapi: opts.uapi,
      logger,
    });
    let dns: InterfaceDns | null = null;
    try {
      if (routing) {
        await routing.apply({ iface: name, mark, table: mark, families, keepLocalRoutes: true });
        logger.info("default route through the tunnel", { interface: name, table: mark });
      }
      if (it.dns.length + it.dnsSearch.length > 0) {
        dns = await InterfaceDns.set(name, it.dns, it.dnsSearch);
      }
      await runHooks("PostUp", it.postUp, name, logger);
    } catch (e) {
      await dns?.unset().catch((u) => logger.error("dns not removed", { error: String(u) }));
      await routing?.close().catch((u) => logger.error("rules not removed", { error: String(u) }));
      await agent.close();
      throw e;
    }
    logger.info("interface up", { interface: name });
    return new WgQuickUp(agent, { ...opts, mode }, logger, dns, routing);
  }

  /**
   * Takes the interface down in wg-quick's order. Every step runs even when an earlier one
   * fails (a half-removed interface helps nobody); the failures are logged and thrown together
   * at the end. Calling it again returns the same promise.
   */
  down(): Promise<void> {
    this.#down ??= this.#takeDown();
    return this.#down;
  }

  async #takeDown(): Promise<void> {
    const name = this.#opts.interfaceName;
    const it = this.#opts.config.interface;
    const failures: string[] = [];
    const step = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        this.#logger.error(`${what} failed`, { interface: name, error });
        failures.push(error);
      }
    };
    await step("PreDown", () => runHooks("PreDown", it.preDown, name, this.#logger));
    if (it.saveConfig && this.#opts.file !== undefined) {
      const file = this.#opts.file;
      await step("SaveConfig", async () => {
        const cfg = runningWgQuickConfig(this.#opts.config, this.agent.device, it.fwMark ?? 0);
        // The file holds the private key: readable by its owner only, as wg-quick's umask 077.
        await writeFileAtomic(file, serializeWgQuick(cfg), { mode: 0o600 });
        this.#logger.info("config saved", { interface: name, file });
      });
    }
    if (this.#routing) await step("policy routing removal", () => this.#routing!.close());
    await step("interface removal", () => this.agent.close());
    if (this.#dns) await step("DNS removal", () => this.#dns!.unset());
    await step("PostDown", () => runHooks("PostDown", it.postDown, name, this.#logger));
    if (failures.length > 0) throw new Error(failures.join("; "));
  }
}
