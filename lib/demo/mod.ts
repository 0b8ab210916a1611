/**
 * `weft demo`: a local mesh of agents on loopback, in userspace mode, that needs no root and no
 * configuration.
 *
 * @example Three agents: print their status and pings, then stop
 * ```ts
 * import { runDemo } from "@weft/weft/demo";
 * import { createLogger } from "@weft/weft";
 *
 * const demo = await runDemo({ nodes: 3, basePort: 52820, logger: createLogger({ level: "warn" }) });
 * await demo.stop();
 * ```
 * @module
 */

export { type Demo, type DemoOptions, runDemo } from "./demo.ts";
