/**
 * The WireGuard UAPI: serves a device on the Unix socket `wg` and `wg-quick` talk to
 * (`/var/run/wireguard/<name>.sock`), so `wg show` and `wg set` work on a weft interface.
 *
 * @example Serve a running agent's device to `wg`, and ask it what `wg show` asks
 * ```ts run
 * import { Agent, generateKeyPair } from "@weft/weft";
 * import { serveUapi } from "@weft/weft/uapi";
 *
 * const agent = await Agent.start({
 *   privateKey: generateKeyPair().privateKey,
 *   addresses: ["10.9.0.1/24"],
 *   listenPort: 52001,
 *   mode: "userspace",
 * });
 * // `wg show weft0` would find it in the default directory, /var/run/wireguard (root's).
 * const uapi = await serveUapi(agent.device, "weft0", { dir: await Deno.makeTempDir() });
 * const conn = await Deno.connect({ transport: "unix", path: uapi.path });
 * await conn.write(new TextEncoder().encode("get=1\n\n"));
 * let answer = ""; // key=value lines, then errno=0 and an empty line
 * const buf = new Uint8Array(4096);
 * while (!answer.endsWith("\n\n")) {
 *   const n = await conn.read(buf);
 *   if (n === null) break;
 *   answer += new TextDecoder().decode(buf.subarray(0, n));
 * }
 * conn.close();
 * console.log(answer.split("\n").filter((l) => /^(listen_port|errno)=/.test(l)));
 * // prints: [ "listen_port=52001", "errno=0" ]
 * await uapi.close();
 * await agent.close();
 * ```
 * @module
 */

export { DEFAULT_UAPI_DIR, serveUapi, type UapiServer, type UapiServerOptions } from "./server.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type { Device } from "../device/device.ts";
export type { DropCounters, DropReason } from "../device/drops.ts";
export type { ReasonCounter } from "../metrics/reasons.ts";
export { DROP_REASONS } from "../device/drops.ts";
export type {
  DeviceEvent,
  DeviceStats,
  HeldPacketSink,
  PacketFilter,
  PeerConfig,
} from "../device/types.ts";
export type { Endpoint } from "../io/driver.ts";
export type { LogFields, Logger, LogLevel } from "../log/logger.ts";
export type { ListenerStats } from "../net/conn_guard.ts";
export type { ProtocolTimers } from "../protocol/constants.ts";
