/**
 * `weft demo`: a local mesh on loopback.
 * @module
 */

import type { Command } from "npm:@commander-js/extra-typings@^15.1.0";
import { intArg } from "./args.ts";
import { logFormatOption, loggerFrom, logLevelOption } from "./options.ts";
import { untilSignal } from "./process.ts";

/** Adds `weft demo` to `program`. */
export function addDemoCommand(program: Command): void {
  program.command("demo").description(
    "run a local demo mesh on loopback in userspace mode (no root, no config)",
  )
    .option("--nodes <n>", "how many agents", intArg(2, 16), 3)
    .option(
      "--base-port <port>",
      "first UDP and TCP port, one per agent (default: 52820, or a next range when taken); " +
        "status ports are the system's choice",
      intArg(1024, 60000),
    )
    .option("--once", "print the status and pings, then stop")
    .addOption(logLevelOption())
    .addOption(logFormatOption())
    .action(async (opts) => {
      // The demo's agents, loaded when it runs rather than for every `weft`.
      const { runDemo } = await import("../lib/demo/mod.ts");
      const logger = loggerFrom(opts);
      const demo = await runDemo({ nodes: opts.nodes, basePort: opts.basePort, logger });
      if (opts.once) {
        await demo.stop();
        return;
      }
      console.log("");
      console.log(`dashboard: http://${demo.statusAddresses[0]}/ (the leader's)`);
      console.log(`state and logs: ${demo.dir} (removed when the demo stops)`);
      console.log("demo mesh running; Ctrl-C to stop");
      await untilSignal(() => demo.stop());
    });
}
