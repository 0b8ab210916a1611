/**
 * `weft demo`: a local mesh of agents on loopback, in userspace mode, that needs no root and no
 * configuration.
 *
 * @example Three agents: start them, ask one for its status, then stop
 * ```ts run
 * import { runDemo } from "@weft/weft/demo";
 * import { createLogger } from "@weft/weft";
 * import { ControlClient } from "@weft/weft/control";
 *
 * const shown: string[] = []; // what `weft demo` prints (default: to stdout)
 * const demo = await runDemo({
 *   nodes: 3,
 *   logger: createLogger({ level: "warn" }),
 *   print: (line) => shown.push(line),
 * });
 * console.log(demo.statusAddresses.length); // prints: 3
 * const { peers } = await new ControlClient(demo.statusAddresses[0]).status();
 * console.log(peers.length); // prints: 2
 * await demo.stop(); // the agents stop, and their folder is removed
 * ```
 * @module
 */

export { type Demo, type DemoOptions, runDemo } from "./demo.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type { LogFields, Logger, LogLevel } from "../log/logger.ts";
