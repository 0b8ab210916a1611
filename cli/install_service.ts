/**
 * `weft install-service`: writes the systemd unit that runs the mesh agent
 * (`installSystemdUnit`), or prints it; then says what to run. It never runs systemctl.
 * @module
 */

import type { Command } from "npm:@commander-js/extra-typings@^15.1.0";
import {
  DEFAULT_UNIT_BINARY,
  DEFAULT_UNIT_CONFIG,
  DEFAULT_UNIT_PATH,
  DEFAULT_UNIT_STATE_DIR,
} from "./internal_client.ts";

/** Adds `weft install-service` to `program`. */
export function addInstallServiceCommand(program: Command): void {
  program.command("install-service")
    .description(
      "write the systemd unit that runs the mesh agent (root, with only the network " +
        "capabilities); it never runs systemctl",
    )
    .option("--path <file>", "the unit file", DEFAULT_UNIT_PATH)
    .option(
      "--binary <path>",
      `the weft executable the service runs (default: this one when it is a compiled binary, ` +
        `else ${DEFAULT_UNIT_BINARY})`,
    )
    .option("--state-dir <dir>", "the agent's state directory", DEFAULT_UNIT_STATE_DIR)
    .option(
      "--config <file>",
      "the YAML configuration file the agent reads (leader: true, or join: <token>)",
      DEFAULT_UNIT_CONFIG,
    )
    .option("--force", "replace a unit file that holds another unit")
    .option("--print", "print the unit instead of writing it")
    .action(async (opts) => {
      // The configuration part, loaded when the command runs rather than for every `weft`.
      const { installSystemdUnit, SystemdUnitExistsError } = await import("../lib/config/mod.ts");
      let r;
      try {
        r = await installSystemdUnit({
          path: opts.path,
          binary: opts.binary,
          stateDir: opts.stateDir,
          config: opts.config,
          force: opts.force === true,
          dryRun: opts.print === true,
        });
      } catch (e) {
        if (!(e instanceof SystemdUnitExistsError)) throw e;
        throw new Error(
          `${e.path} exists and holds another unit: --force replaces it ` +
            `(--print shows the new one)`,
        );
      }
      if (r.outcome === "dry-run") {
        Deno.stdout.writeSync(new TextEncoder().encode(r.text));
        return;
      }
      console.log(
        r.outcome === "written" ? `wrote ${r.path}` : `${r.path} already holds this unit`,
      );
      if (!r.binaryExecutable) {
        console.error(
          `weft: warning: ${r.unit.binary} is not an executable file yet: the service cannot ` +
            `start until it is (--binary names another)`,
        );
      }
      const name = r.path.split("/").pop()!.replace(/\.service$/, "");
      console.log("next:");
      if (!r.configExists) {
        console.log(
          `  write ${r.unit.config}: the agent's options (leader: true, or join: <token>)`,
        );
      }
      console.log(`  systemctl daemon-reload && systemctl enable --now ${name}`);
    });
}
