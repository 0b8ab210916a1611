/**
 * The WireGuard UAPI: serves a device on the Unix socket `wg` and `wg-quick` talk to
 * (`/var/run/wireguard/<name>.sock`), so `wg show` and `wg set` work on a weft interface.
 *
 * @example Serve a running agent's device to `wg`
 * ```ts
 * import { serveUapi } from "@weft/weft/uapi";
 * import type { Agent } from "@weft/weft";
 *
 * declare const agent: Agent;
 * const uapi = await serveUapi(agent.device, "wg0", { dir: "/tmp/weft-uapi" });
 * await uapi.close();
 * ```
 * @module
 */

export { DEFAULT_UAPI_DIR, serveUapi, type UapiServer, type UapiServerOptions } from "./server.ts";
