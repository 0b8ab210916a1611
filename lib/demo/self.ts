/**
 * How to start another `weft` process: {@linkcode selfCommand}, which lives with the agent
 * (lib/agent/self.ts); re-exported here for the demo, the tests and the benchmarks.
 * @module
 */

export { selfCommand } from "../agent/self.ts";
