/**
 * `weft wireguard <interface>`: weft as the userspace WireGuard that wg-quick starts when the
 * kernel has no WireGuard module (`WG_QUICK_USERSPACE_IMPLEMENTATION=<program> wg-quick up wg0`
 * runs `<program> wg0`), behaving as wireguard-go does. {@linkcode WireguardInterface} is the
 * interface: a TUN with weft's data path (offloads, GSO/GRO, crypto workers) and no addresses,
 * routes or key, and the UAPI socket `/var/run/wireguard/<interface>.sock`, through which
 * `wg setconf` sets the key, listen port, fwmark and peers (wg-quick then adds the addresses,
 * MTU and routes with `ip`); it ends when the interface is deleted (`wg-quick down` runs
 * `ip link delete`) or it is closed. {@linkcode startInBackground} runs a command detached and
 * returns once it reports that both exist ({@linkcode reportReady}), as wireguard-go returns to
 * wg-quick; {@linkcode wireguardLogLevel} reads `LOG_LEVEL` as wireguard-go does.
 * @module
 */

import { Agent, type AgentOptions } from "./agent.ts";
import { ConfigError } from "../config/config_error.ts";
import { createLogger, type Logger, type LogLevel, nullLogger } from "../log/logger.ts";

/** How a {@linkcode WireguardInterface} ended: its interface was deleted, or it was closed. */
export type WireguardEnd = "deleted" | "closed";

/** What {@linkcode WireguardInterface.start} takes. */
export interface WireguardOptions extends Pick<AgentOptions, "crypto" | "cryptoWorkers"> {
  /** The interface name: 1 to 15 characters of A-Z a-z 0-9 _ . - (checkInterfaceName). */
  interfaceName: string;
  /** Where events are logged; default: errors only, on stderr (wireguard-go's default). */
  logger?: Logger;
  /** The UAPI socket's directory; default `/var/run/wireguard`, the only one `wg` reads. */
  uapiDir?: string;
}

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * Checks an interface name as the TUN and the UAPI socket take it (1 to 15 characters of
 * A-Z a-z 0-9 _ . -, not `.` or `..`) and returns it; a ConfigError says what is wrong.
 */
export function checkInterfaceName(name: string): string {
  if (!IFNAME_RE.test(name) || name === "." || name === "..") {
    throw new ConfigError(
      `invalid interface name "${name}": 1 to 15 characters of A-Z a-z 0-9 _ . -`,
    );
  }
  return name;
}

/**
 * A userspace WireGuard interface as wireguard-go makes one for wg-quick: the TUN (up, MTU
 * 1420 until `ip link set mtu`, no addresses, no routes) and its UAPI socket, with a device that
 * has no private key until `wg setconf`/`wg set` gives it one, and whose key, listen port
 * (first one the kernel picks) and fwmark `set` may change.
 *
 * @example The interface wg-quick configures, until `ip link delete` (or close)
 * ```ts check: needs root, a TUN device and /var/run/wireguard
 * import { WireguardInterface } from "@weft/weft/agent";
 *
 * const wg = await WireguardInterface.start({ interfaceName: "wg0" });
 * // Now: wg setconf wg0 wg0.conf; ip address add 10.9.0.1/24 dev wg0; ip link set wg0 up
 * console.log(await wg.ended); // "deleted" after `ip link delete wg0`
 * ```
 */
export class WireguardInterface {
  /** The agent behind it: its device, the TUN and the UAPI server. */
  readonly agent: Agent;
  /** The interface name. */
  readonly name: string;
  /** Resolves, once everything is closed and the socket removed, with why it ended. */
  readonly ended: Promise<WireguardEnd>;
  readonly #logger: Logger;
  #resolve!: (why: WireguardEnd) => void;
  #ending: Promise<void> | null = null;

  private constructor(agent: Agent, name: string, logger: Logger) {
    this.agent = agent;
    this.name = name;
    this.#logger = logger;
    this.ended = new Promise((resolve) => this.#resolve = resolve);
  }

  /**
   * Creates the TUN and serves the UAPI socket; resolves once both exist. Fails when the
   * interface exists already (served by another process), or without root (CAP_NET_ADMIN).
   */
  static async start(opts: WireguardOptions): Promise<WireguardInterface> {
    const name = checkInterfaceName(opts.interfaceName);
    const logger = opts.logger ?? createLogger({ level: "error" });
    let self: WireguardInterface | null = null;
    let goneEarly = false;
    const agent = await Agent.start({
      mode: "tun",
      interfaceName: name,
      // wg-quick adds the addresses, the MTU and the routes with `ip` after `wg setconf`.
      addresses: [],
      table: "off",
      // Any port until `wg setconf` says which, as wireguard-go binds before it knows.
      listenPort: 0,
      underlay: "linux",
      crypto: opts.crypto,
      cryptoWorkers: opts.cryptoWorkers,
      uapi: opts.uapiDir ?? true,
      uapiDeviceChanges: true,
      onInterfaceGone: () => {
        if (self === null) goneEarly = true;
        else void self.#end("deleted");
      },
      logger,
    });
    self = new WireguardInterface(agent, name, logger);
    if (goneEarly) void self.#end("deleted");
    return self;
  }

  /** Closes the device, the TUN (which deletes the interface) and the UAPI socket. */
  async close(): Promise<void> {
    await this.#end("closed");
  }

  #end(why: WireguardEnd): Promise<void> {
    this.#ending ??= (async () => {
      if (why === "deleted") this.#logger.info("interface deleted", { interface: this.name });
      try {
        await this.agent.close();
      } finally {
        this.#resolve(why);
      }
    })();
    return this.#ending;
  }
}

/**
 * `LOG_LEVEL` as wireguard-go reads it: `verbose` or `debug` is weft's `debug`, `error` is
 * `error`, `silent` logs nothing; weft's own `info` and `warn` are taken too; unset or anything
 * else is `error`, wireguard-go's default.
 */
export function wireguardLogLevel(value: string | undefined): LogLevel | "silent" {
  switch (value?.trim().toLowerCase()) {
    case "verbose":
    case "debug":
      return "debug";
    case "info":
      return "info";
    case "warn":
    case "warning":
      return "warn";
    case "silent":
      return "silent";
    default:
      return "error";
  }
}

/** A logger at a {@linkcode wireguardLogLevel} (nothing for `silent`), on stderr. */
export function wireguardLogger(level: LogLevel | "silent"): Logger {
  return level === "silent" ? nullLogger : createLogger({ level });
}

/**
 * The environment variable {@linkcode startInBackground} sets for the command it starts, which
 * then reports on its standard output ({@linkcode reportReady}, {@linkcode reportFailure}).
 */
export const READY_ENV = "WEFT_REPORT_READY";

const READY_LINE = "ready";
const ERROR_PREFIX = "error: ";

/** Whether this process was started by {@linkcode startInBackground} and reports to it. */
function reporting(): boolean {
  try {
    return Deno.env.get(READY_ENV) === "1";
  } catch {
    return false; // no --allow-env
  }
}

function report(line: string): void {
  if (!reporting()) return;
  try {
    Deno.stdout.writeSync(new TextEncoder().encode(`${line}\n`));
  } catch { /* the parent is gone: nobody to tell */ }
}

/**
 * In a process {@linkcode startInBackground} started: says it is ready (one line on standard
 * output, which the process must not write again), so the parent returns. Nothing otherwise.
 */
export function reportReady(): void {
  report(READY_LINE);
}

/**
 * In a process {@linkcode startInBackground} started: says why it failed to start, which the
 * parent throws. Nothing otherwise.
 */
export function reportFailure(message: string): void {
  report(ERROR_PREFIX + message.replaceAll("\n", " "));
}

/** What {@linkcode startInBackground} runs. */
export interface BackgroundOptions {
  /** The program and its arguments. */
  command: readonly string[];
  /** Variables added to this process's environment for it. */
  env?: Record<string, string>;
  /**
   * Its standard error: this process's (`inherit`), or `/dev/null` (default, so that whoever
   * waits for this process's output is not held by the background one).
   */
  stderr?: "inherit" | "null";
  /** How long to wait for it to report (ms; default 30,000), then it is stopped (SIGTERM). */
  readyTimeoutMs?: number;
}

/**
 * Starts `command` detached from this process (a process group of its own, standard input
 * from /dev/null, standard output a pipe to this process) with {@linkcode READY_ENV} set, and
 * waits for its first line: it resolves with the child's pid once the child reports ready
 * ({@linkcode reportReady}), and then lets go of it (the child outlives this process); it
 * throws the child's error when the child reports one ({@linkcode reportFailure}), exits first
 * or takes longer than `readyTimeoutMs` (then it is stopped).
 *
 * @example
 * ```ts run
 * import { startInBackground } from "@weft/weft/agent";
 * // The child says it is ready, as `weft wireguard` does once its interface exists.
 * const pid = await startInBackground({
 *   command: ["sh", "-c", 'echo ready; sleep 0.2'],
 * });
 * console.log(typeof pid); // prints: number
 * ```
 */
export async function startInBackground(opts: BackgroundOptions): Promise<number> {
  const [program, ...args] = opts.command;
  if (program === undefined) throw new Error("startInBackground: no command");
  const child = new Deno.Command(program, {
    args,
    env: { ...opts.env, [READY_ENV]: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: opts.stderr ?? "null",
    detached: true,
  }).spawn();
  const reader = child.stdout.getReader();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
  }, opts.readyTimeoutMs ?? 30_000);
  let line: string | null = null;
  try {
    line = await firstLine(reader);
  } finally {
    clearTimeout(timer);
  }
  if (line === READY_LINE) {
    // Let go: the child never writes its standard output again, and outlives us.
    await reader.cancel().catch(() => {});
    child.unref();
    return child.pid;
  }
  await reader.cancel().catch(() => {});
  const status = await child.status;
  if (line !== null && line.startsWith(ERROR_PREFIX)) {
    throw new Error(line.slice(ERROR_PREFIX.length));
  }
  if (timedOut) throw new Error(`${program} did not report ready in time; stopped`);
  const how = status.signal !== null ? `signal ${status.signal}` : `code ${status.code}`;
  throw new Error(
    `${program} exited (${how}) before it was ready` +
      (line !== null ? `: ${line.slice(0, 200)}` : ""),
  );
}

/** The first line the stream gives (without its newline), or null at its end without one. */
async function firstLine(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string | null> {
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text === "" ? null : text;
    text += decoder.decode(value, { stream: true });
    const nl = text.indexOf("\n");
    if (nl >= 0) return text.slice(0, nl);
    if (text.length > 4096) return text.slice(0, 4096);
  }
}

/** A word quoted for sh: as it is when safe, else in single quotes. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * A shell script that runs `<command> wireguard <its arguments>`: the one program
 * `WG_QUICK_USERSPACE_IMPLEMENTATION` can name (wg-quick quotes the variable), for `command`
 * the argv that starts weft (selfCommand). `weft wireguard --print-wrapper` prints it.
 *
 * @example
 * ```ts run
 * import { wireguardWrapper } from "@weft/weft/agent";
 * console.log(wireguardWrapper(["/usr/local/bin/weft"]).split("\n").at(-2));
 * // prints: exec /usr/local/bin/weft wireguard "$@"
 * ```
 */
export function wireguardWrapper(command: readonly string[]): string {
  return [
    "#!/bin/sh",
    "# weft as wg-quick's userspace WireGuard:",
    "#   WG_QUICK_USERSPACE_IMPLEMENTATION=<this file> wg-quick up <interface or file>",
    `exec ${command.map(shellQuote).join(" ")} wireguard "$@"`,
    "",
  ].join("\n");
}
