/**
 * `weft up`: an interface from a wg-quick style file, until a signal.
 * @module
 */

import { type Command, Option } from "npm:@commander-js/extra-typings@^15.1.0";
import type { WgQuickUp } from "../lib/agent/mod.ts";
import type { ControlServer } from "../mod.ts";
import { BACKEND_NAMES, type BackendName } from "../lib/crypto/mod.ts";
import { intArg, timerArg } from "./args.ts";
import { UsageError, withUserspaceHint } from "./errors.ts";
import { logFormatOption, loggerFrom, logLevelOption, statusListenOption } from "./options.ts";
import { SignalWatch } from "./process.ts";
import { ConfigError, defaultStateDir } from "./internal_client.ts";
import type { StateDir } from "./internal.ts";

/** Adds `weft up` to `program`. */
export function addUpCommand(program: Command): void {
  program.command("up")
    .description("bring up an interface from a wg-quick style file")
    .argument("<config>", "the .conf file; the interface is named after it")
    .option("--userspace", "no TUN device: answer pings and carry datagrams in-process")
    .addOption(
      new Option("--crypto <backend>", "force a crypto backend").choices(BACKEND_NAMES),
    )
    .option(
      "--crypto-workers <n>",
      "worker threads that seal and open packets a batch at a time: auto (2 with libsodium " +
        "on 4 cores or more) or 0 to 64",
      (v: string) => v === "auto" ? "auto" as const : intArg(0, 64)(v),
    )
    .addOption(statusListenOption())
    .option("--no-status", "do not start the HTTP status/control server")
    .option(
      "--state-dir <dir>",
      "where the control socket and token go (default: the agent's default state directory)",
    )
    .option("--listen-port <port>", "override ListenPort", intArg(0, 65535))
    .addOption(
      new Option("--underlay <kind>", "UDP implementation (default: linux on Linux)")
        .choices(["linux", "deno"] as const),
    )
    .option("--uapi [dir]", "serve `wg` UAPI (default on with a TUN; dir /var/run/wireguard)")
    .option("--no-uapi", "do not serve the WireGuard UAPI socket")
    .option("--timer <name=ms>", "override a protocol timer (repeatable)", timerArg)
    .addOption(logLevelOption())
    .addOption(logFormatOption())
    .action(async (file, opts) => {
      // From the first line: a signal during the start brings the interface down once it is up.
      const signals = new SignalWatch();
      try {
        // The agent and its configuration, loaded when the command runs rather than for every
        // `weft`.
        const [{ WgQuickUp }, { loadWgQuickFile }, { interfaceNameFromPath, StateDir }] =
          await Promise.all([
            import("../lib/agent/mod.ts"),
            import("../lib/config/mod.ts"),
            import("./internal.ts"),
          ]);
        const logger = loggerFrom(opts);
        let config;
        let name;
        try {
          name = interfaceNameFromPath(file);
          config = await loadWgQuickFile(file);
        } catch (e) {
          if (e instanceof ConfigError || e instanceof Deno.errors.NotFound) {
            throw new UsageError(e.message);
          }
          throw e;
        }
        // The control channel's directory, locked first: a second agent on it fails before it
        // brings anything up.
        const state = opts.status ? new StateDir(opts.stateDir ?? defaultStateDir()) : undefined;
        const lock = await state?.lock();
        let up;
        try {
          up = await WgQuickUp.start({
            config,
            file,
            interfaceName: name,
            mode: opts.userspace ? "userspace" : "tun",
            listenPort: opts.listenPort,
            crypto: opts.crypto as BackendName | undefined,
            cryptoWorkers: opts.cryptoWorkers,
            timers: opts.timer,
            underlay: opts.underlay,
            uapi: opts.uapi,
            logger,
          });
        } catch (e) {
          lock?.release();
          // A key the file sets that cannot be honoured here is a configuration error.
          if (e instanceof ConfigError) throw new UsageError(e.message);
          throw withUserspaceHint(e);
        }
        let server: ControlServer | undefined;
        try {
          if (state && lock) server = await serveLocal(up.agent, state, opts.statusListen);
        } catch (e) {
          lock?.release();
          await up.down();
          throw e;
        }
        if (server) logger.info("status listening", { address: server.address });
        if (signals.signalled) {
          logger.info("a signal came during the start: stopping", { signal: signals.signalled });
        }
        await signals.first;
        let failed: unknown;
        try {
          await state?.removeStatusAddress().catch(() => {});
          await server?.close();
        } finally {
          // The down steps all run; what failed among them makes the exit code 1.
          await up.down().catch((e) => failed = e);
          lock?.release();
        }
        if (failed !== undefined) throw failed;
      } finally {
        signals.close();
      }
    });
}

/**
 * The control server of `weft up`: on `listen`, every control route needs the token kept in the
 * state directory, and on its socket (`weft.sock`) the owner needs none; the address is written
 * there for the commands that find the agent by its directory.
 */
async function serveLocal(
  agent: WgQuickUp["agent"],
  state: StateDir,
  listen: string,
): Promise<ControlServer> {
  const { serveControl } = await import("../mod.ts");
  await state.ensure();
  const server = serveControl(agent, { listen, ...await state.controlServerSecrets() });
  await state.writeStatusAddress(server.address);
  return server;
}
