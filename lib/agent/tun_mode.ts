/**
 * `tun` mode: a Linux TUN interface configured with the agent's addresses and a route for every
 * peer's allowed IPs (in the main table, another table, or none, as wg-quick's `Table`).
 * @module
 */

import type { PacketDevice } from "../io/driver.ts";
import { LinuxTun } from "../../drivers/linux/tun.ts";
import type { Poller } from "../../drivers/linux/poller.ts";
import type { Logger } from "../log/logger.ts";

/** Opens and configures the TUN interface; closes it again if configuring fails. */
export async function openTunDevice(opts: {
  name: string;
  mtu: number;
  addresses: string[];
  routes: string[];
  /** Where the routes go: `auto` (default, the main table), `off` (none), or a table. */
  table?: string;
  poller?: Poller;
  onError?: (e: unknown) => void;
  /** Where the TUN logs that the kernel refused its offloads. */
  logger?: Logger;
  /** Called once when the interface is deleted under the agent (LinuxTunOptions.onGone). */
  onGone?: () => void;
}): Promise<PacketDevice> {
  if (Deno.build.os !== "linux") throw new Error("TUN mode needs Linux; use --userspace");
  const tun = await LinuxTun.open({
    name: opts.name,
    mtu: opts.mtu,
    poller: opts.poller,
    onError: opts.onError,
    logger: opts.logger,
    onGone: opts.onGone,
  });
  try {
    const table = opts.table ?? "auto";
    await tun.configure({
      addresses: opts.addresses,
      routes: table === "off" ? [] : opts.routes,
      table: table === "auto" ? undefined : table,
    });
  } catch (e) {
    await tun.close();
    throw e;
  }
  return tun;
}
