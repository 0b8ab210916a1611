/**
 * `weft wireguard <interface>`: weft as wg-quick's userspace implementation, called as
 * wireguard-go is (`WG_QUICK_USERSPACE_IMPLEMENTATION=<wrapper> wg-quick up wg0`): the interface
 * and its UAPI socket, in the background once both exist, until the interface is deleted or a
 * signal.
 * @module
 */

import type { Command } from "npm:@commander-js/extra-typings@^15.1.0";
import type { WireguardInterface } from "../lib/agent/mod.ts";
import { UsageError } from "./errors.ts";

/** What `LOG_LEVEL` and `WG_PROCESS_FOREGROUND` say, read once (no --allow-env: unset). */
function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Adds `weft wireguard` to `program`. */
export function addWireguardCommand(program: Command): void {
  program.command("wireguard")
    .description(
      "run an interface as wg-quick's userspace WireGuard (WG_QUICK_USERSPACE_IMPLEMENTATION): " +
        "a TUN configured with wg and ip, served on /var/run/wireguard/<interface>.sock",
    )
    .argument("[interface]", "the interface name (1 to 15 characters)")
    .option("-f, --foreground", "stay in the foreground (also WG_PROCESS_FOREGROUND=1)")
    .option(
      "--print-wrapper",
      "print a script that runs this weft's `wireguard`, to name in " +
        "WG_QUICK_USERSPACE_IMPLEMENTATION, and exit",
    )
    .addHelpText(
      "after",
      [
        "",
        "Without --foreground it returns once the interface and its socket exist, and runs on",
        "in the background until the interface is deleted (wg-quick down) or SIGTERM.",
        "LOG_LEVEL=verbose|debug|error|silent as wireguard-go (default error); in the",
        "background the log goes to stderr only when LOG_LEVEL is set.",
      ].join("\n"),
    )
    .action(async (iface, opts) => {
      // The agent part, loaded when the command runs rather than for every `weft`.
      const { selfCommand, startInBackground, WireguardInterface, wireguardWrapper } = await import(
        "../lib/agent/mod.ts"
      );
      const { checkInterfaceName, reportFailure, reportReady, wireguardLogger, wireguardLogLevel } =
        await import("./internal.ts");
      if (opts.printWrapper) {
        await Deno.stdout.write(new TextEncoder().encode(wireguardWrapper(selfCommand())));
        return;
      }
      if (iface === undefined) throw new UsageError("missing argument 'interface'");
      const name = checkInterfaceName(iface);
      const logLevel = env("LOG_LEVEL");
      const level = wireguardLogLevel(logLevel);
      if (!opts.foreground && env("WG_PROCESS_FOREGROUND") !== "1") {
        // As wireguard-go: the same command again, detached, returning once it is up.
        await startInBackground({
          command: [...selfCommand(), "wireguard", "--foreground", name],
          env: { WG_PROCESS_FOREGROUND: "1" },
          stderr: logLevel !== undefined && logLevel !== "" && level !== "silent"
            ? "inherit"
            : "null",
        });
        return;
      }
      const logger = wireguardLogger(level);
      let wg: WireguardInterface;
      try {
        wg = await WireguardInterface.start({ interfaceName: name, logger });
      } catch (e) {
        reportFailure(e instanceof Error ? e.message : String(e));
        throw e;
      }
      const stop = () => void wg.close();
      Deno.addSignalListener("SIGINT", stop);
      Deno.addSignalListener("SIGTERM", stop);
      reportReady();
      logger.info("interface up", { interface: name, pid: Deno.pid });
      try {
        const why = await wg.ended;
        logger.info("shutting down", { interface: name, reason: why });
      } finally {
        Deno.removeSignalListener("SIGINT", stop);
        Deno.removeSignalListener("SIGTERM", stop);
      }
    });
}
