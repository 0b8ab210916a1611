/**
 * The agent's plaintext side: the device handed in, the userspace stack, or a TUN, and in front
 * of it, with `control`, the split that sets aside weft's own ports for an in-process stack.
 * @module
 */

import type { PacketDevice } from "../io/driver.ts";
import type { Logger } from "../log/logger.ts";
import { SplitDevice } from "../../drivers/split.ts";
import { UserspaceStack } from "../../drivers/userspace.ts";
import { CONTROL_PORT, PQ_PORT, SERVICES_PORT } from "../members/ports.ts";
import { openTunDevice } from "./tun_mode.ts";
import { closeQuietly } from "./rollback.ts";

/** What {@link openPacketSide} opens. */
export interface PacketSideOptions {
  /** A ready device (AgentOptions.packets), used instead of opening one. */
  given?: PacketDevice;
  /** Without a device given: the userspace stack, or a TUN. */
  mode: "userspace" | "tun";
  /** The overlay MTU. */
  mtu: number;
  /** This node's overlay addresses, one per family, without prefix. */
  own: { ipv4?: string; ipv6?: string };
  /** How the TUN is opened in tun mode (see openTunDevice). */
  tun: Omit<Parameters<typeof openTunDevice>[0], "mtu">;
  /** Set aside the control and service ports for an in-process stack (AgentOptions.control). */
  control?: boolean;
  /** Wraps the TUN (the latency trace). */
  wrapTun?: (tun: PacketDevice) => PacketDevice;
  /** Where the stacks' first errors are logged. */
  logger: Logger;
}

/** An opened plaintext side. */
export interface PacketSide {
  /** What the device reads and writes; closing it closes everything below. */
  packets: PacketDevice;
  /** The userspace stack, when that is the device (userspace mode, none given). */
  userspace: UserspaceStack | null;
  /** The control-port stack, with `control`. */
  control: UserspaceStack | null;
}

/** Opens the plaintext side; a failure closes the TUN if it opened (not a device given). */
export async function openPacketSide(o: PacketSideOptions): Promise<PacketSide> {
  await using stack = new AsyncDisposableStack();
  let userspace: UserspaceStack | null = null;
  let packets: PacketDevice;
  if (o.given) packets = o.given;
  else if (o.mode === "userspace") {
    packets = userspace = new UserspaceStack({
      ...o.own,
      mtu: o.mtu,
      onError: firstOnly(o.logger, "userspace stack error"),
    });
  } else {
    packets = await openTunDevice({ ...o.tun, mtu: o.mtu });
    stack.defer(closeQuietly(packets));
    if (o.wrapTun) packets = o.wrapTun(packets);
  }
  let control: UserspaceStack | null = null;
  if (o.control) {
    // The service layer (lib/services) and the post-quantum exchange (lib/mesh/pq) share the
    // control stack, each on its own port.
    const split = new SplitDevice(
      packets,
      o.own,
      [CONTROL_PORT, SERVICES_PORT, PQ_PORT],
      firstOnly(o.logger, "control stack error"),
    );
    packets = split;
    control = split.control;
  }
  stack.move();
  return { packets, userspace, control };
}

/**
 * A stack's error handler: its errors (its datagram listeners' exceptions, packets the device
 * refused) are counted (weft_listener_errors_total, drops); the first is logged with its cause,
 * the rest would only repeat it, as often as a peer's traffic makes them.
 */
function firstOnly(logger: Logger, event: string): (e: unknown) => void {
  let said = false;
  return (e: unknown) => {
    if (said) return;
    said = true;
    logger.error(event, { error: e instanceof Error ? e.stack ?? e.message : String(e) });
  };
}
