/**
 * The systemd service unit that runs the mesh agent (`weft install-service`): its text, made from
 * the executable, the configuration file and the state directory, and its installation, written
 * atomically and never over a different file unless asked. The repository's
 * `packaging/systemd/weft.service` is this text with the defaults (a test holds them equal).
 *
 * The agent runs as root with only the network capabilities (CAP_NET_ADMIN, CAP_NET_RAW,
 * CAP_NET_BIND_SERVICE) and the hardening that still lets it open `/dev/net/tun`, change routes,
 * rules, iptables and `/proc/sys/net`, and rewrite `/etc/resolv.conf` (`--accept-dns`);
 * docs/deployment.md says why each setting is what it is.
 * @module
 */

import { basename, dirname, isAbsolute, normalize, resolve } from "node:path";
import { writeFileAtomic } from "./atomic.ts";
import { InputTooLargeError, readTextFileBounded } from "./bounded_read.ts";
import { ConfigError } from "./config_error.ts";
import { exists } from "../io/files.ts";

/** Where `weft install-service` writes the unit by default. */
export const DEFAULT_UNIT_PATH = "/etc/systemd/system/weft.service";
/** The executable the unit runs when no other is known. */
export const DEFAULT_UNIT_BINARY = "/usr/local/bin/weft";
/** The configuration file the unit's agent reads by default. */
export const DEFAULT_UNIT_CONFIG = "/etc/weft/weft.yaml";
/** The unit's state directory by default (systemd's `StateDirectory=weft`). */
export const DEFAULT_UNIT_STATE_DIR = "/var/lib/weft";

/** The largest existing unit file read to compare it with the new text. */
const MAX_UNIT_BYTES = 1024 * 1024;

/** What the unit runs: {@link systemdUnit}'s options. */
export interface SystemdUnitOptions {
  /** The weft executable `ExecStart=` runs, an absolute path. Default `/usr/local/bin/weft`. */
  binary?: string;
  /** The YAML configuration file given as `--config`, an absolute path. Default `/etc/weft/weft.yaml`. */
  config?: string;
  /** The state directory given as `--state-dir`, an absolute path. Default `/var/lib/weft`. */
  stateDir?: string;
  /**
   * `ProtectHome=`: `yes` hides /home, /root and /run/user; `read-only` shows them read-only, for
   * an executable that is a script running deno (`deno install`), whose cache is in root's home.
   * Default `yes`.
   */
  protectHome?: "yes" | "read-only";
}

/** Options of {@link installSystemdUnit}: the unit's, where it goes, and whether to replace. */
export interface InstallSystemdUnitOptions extends SystemdUnitOptions {
  /** The unit file; a relative path is taken from the working directory. Default `/etc/systemd/system/weft.service`. */
  path?: string;
  /** Replace an existing file that holds other text. Default false: it is refused. */
  force?: boolean;
  /** Write nothing: only work out the unit (`weft install-service --print`). Default false. */
  dryRun?: boolean;
}

/** What {@link installSystemdUnit} did. */
export interface InstalledSystemdUnit {
  /** The unit file, absolute. */
  path: string;
  /** The unit's text. */
  text: string;
  /** The options the text was made from, every one resolved. */
  unit: Required<SystemdUnitOptions>;
  /** `written`, `unchanged` (the file already held this text) or `dry-run` (nothing written). */
  outcome: "written" | "unchanged" | "dry-run";
  /** Whether the executable exists and is executable now (systemd cannot start it otherwise). */
  binaryExecutable: boolean;
  /** Whether the configuration file exists now (the agent refuses to start without it). */
  configExists: boolean;
}

/** The unit file exists and holds other text; `force` replaces it. */
export class SystemdUnitExistsError extends Error {
  /** The unit file. */
  readonly path: string;

  /** The file at `path` differs from the unit to write. */
  constructor(path: string) {
    super(`${path} exists and holds another unit`);
    this.name = "SystemdUnitExistsError";
    this.path = path;
  }
}

/**
 * The unit's text: `ExecStart=BINARY --config CONFIG --state-dir STATE_DIR`, restart on failure,
 * root with only the network capabilities, and the hardening that leaves the agent what it needs.
 * A path that is not absolute, or holds a control character, is a {@link ConfigError}.
 *
 * @example
 * ```ts run
 * import { systemdUnit } from "@weft/weft/config";
 *
 * const unit = systemdUnit({ binary: "/opt/weft/bin/weft" });
 * console.log(unit.split("\n").find((l) => l.startsWith("ExecStart="))); // prints: ExecStart=/opt/weft/bin/weft --config /etc/weft/weft.yaml --state-dir /var/lib/weft
 * console.log(unit.includes("CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW")); // prints: true
 * ```
 */
export function systemdUnit(options: SystemdUnitOptions = {}): string {
  const binary = absolutePath("the executable", options.binary ?? DEFAULT_UNIT_BINARY);
  const config = absolutePath("the configuration file", options.config ?? DEFAULT_UNIT_CONFIG);
  const stateDir = absolutePath("the state directory", options.stateDir ?? DEFAULT_UNIT_STATE_DIR);
  const protectHome = options.protectHome ?? "yes";
  if (protectHome !== "yes" && protectHome !== "read-only") {
    throw new ConfigError(
      `protectHome: expected yes or read-only, got ${JSON.stringify(protectHome)}`,
    );
  }
  const exec = [binary, "--config", config, "--state-dir", stateDir].map(execArg).join(" ");
  const stateDirectory = stateDirectoryName(stateDir);
  const state = stateDirectory === null
    ? [
      `# ${stateDir} is outside /var/lib: the agent makes it (it must be writable under the`,
      "# protections below, so not under /usr, /boot, /home or /root).",
    ]
    : [`StateDirectory=${stateDirectory.replaceAll("%", "%%")}`, "StateDirectoryMode=0700"];
  const home = protectHome === "yes" ? ["ProtectHome=yes"] : [
    "# This weft is a script that runs deno, whose cache is in a home directory: read-only.",
    "ProtectHome=read-only",
  ];
  return [
    "# weft's mesh agent as a systemd service, as `weft install-service` writes it.",
    `# Its options go in ${config} (\`leader: true\`, or \`join: <token>\`); then`,
    "#   systemctl daemon-reload && systemctl enable --now weft",
    "# Change it with a drop-in (`systemctl edit weft`) rather than here. Why each setting is what",
    "# it is: docs/deployment.md in weft's repository.",
    "",
    "[Unit]",
    "Description=weft mesh agent",
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=exec",
    `ExecStart=${exec}`,
    "Restart=on-failure",
    "RestartSec=5s",
    "# Exit code 2 is bad usage or configuration, a refused join or a node the leader removed:",
    "# started again, it would fail again.",
    "RestartPreventExitStatus=2",
    ...state,
    "",
    "# Root, for root's files (/run/wireguard, /etc/resolv.conf, /run/xtables.lock), but with only",
    "# these capabilities: TUN devices, addresses, routes, rules, iptables, /proc/sys/net and",
    "# SO_MARK (CAP_NET_ADMIN), iptables' raw sockets (CAP_NET_RAW), DNS on port 53",
    "# (CAP_NET_BIND_SERVICE). Ambient too, for a drop-in that sets User= to a user of its own.",
    `CapabilityBoundingSet=${CAPABILITIES.join(" ")}`,
    `AmbientCapabilities=${CAPABILITIES.join(" ")}`,
    "NoNewPrivileges=yes",
    "# /dev/net/tun and the standard pseudo-devices only (PrivateDevices= would hide the TUN device).",
    "DevicePolicy=closed",
    "DeviceAllow=/dev/net/tun rw",
    "# /usr and /boot read-only. /etc stays writable (--accept-dns rewrites /etc/resolv.conf in",
    "# place where nothing else manages it), as does /proc/sys (IP forwarding, src_valid_mark): no",
    "# ProtectSystem=full or strict, no ProtectKernelTunables=.",
    "ProtectSystem=true",
    ...home,
    "PrivateTmp=yes",
    "PrivateMounts=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "SystemCallFilter=~@cpu-emulation @debug @mount @obsolete @raw-io @reboot @swap",
    "SystemCallErrorNumber=EPERM",
    "# No MemoryDenyWriteExecute=: V8 compiles JavaScript to machine code as it runs.",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** The capabilities the agent keeps. */
const CAPABILITIES = ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"] as const;

/**
 * The weft executable running now when it is a compiled binary (`deno compile`), else
 * `/usr/local/bin/weft` (under `deno run` the executable is deno itself).
 *
 * @example
 * ```ts run
 * import { runningWeftBinary } from "@weft/weft/config";
 *
 * // This program runs under deno, not as a compiled weft.
 * console.log(runningWeftBinary()); // prints: /usr/local/bin/weft
 * ```
 */
export function runningWeftBinary(): string {
  const exe = Deno.execPath();
  return /(^|[\\/])deno(\.exe)?$/.test(exe) ? DEFAULT_UNIT_BINARY : exe;
}

/**
 * Writes the unit file (atomically, mode 0644) for {@link systemdUnit}'s options, relative paths
 * taken from the working directory: the executable defaults to {@link runningWeftBinary}, and
 * `protectHome` to `read-only` when it is a script (`#!`, as `deno install` writes) else `yes`.
 * A file that already holds the same text is left alone; one that holds other text is a
 * {@link SystemdUnitExistsError} unless `force`. It never runs systemctl.
 *
 * @example
 * ```ts run
 * import { installSystemdUnit } from "@weft/weft/config";
 *
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/weft.service`;
 * const first = await installSystemdUnit({ path, binary: "/usr/local/bin/weft" });
 * console.log(first.outcome); // prints: written
 * const again = await installSystemdUnit({ path, binary: "/usr/local/bin/weft" });
 * console.log(again.outcome); // prints: unchanged
 * const other = await installSystemdUnit({ path, binary: "/usr/local/bin/weft", stateDir: "/srv/weft" })
 *   .catch((e) => e.name);
 * console.log(other); // prints: SystemdUnitExistsError
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function installSystemdUnit(
  options: InstallSystemdUnitOptions = {},
): Promise<InstalledSystemdUnit> {
  const path = resolve(noControl("the unit file", options.path ?? DEFAULT_UNIT_PATH));
  if (!basename(path).endsWith(".service") || basename(path) === ".service") {
    throw new ConfigError(`the unit file ${path}: a service unit's name ends in .service`);
  }
  const binary = resolve(noControl("the executable", options.binary ?? runningWeftBinary()));
  const unit: Required<SystemdUnitOptions> = {
    binary,
    config: resolve(noControl("the configuration file", options.config ?? DEFAULT_UNIT_CONFIG)),
    stateDir: resolve(noControl("the state directory", options.stateDir ?? DEFAULT_UNIT_STATE_DIR)),
    protectHome: options.protectHome ?? (await isScript(binary) ? "read-only" : "yes"),
  };
  const text = systemdUnit(unit);
  const result = {
    path,
    text,
    unit,
    binaryExecutable: await isExecutable(binary),
    // A path it may not look at counts as missing: this is only a warning, never a refusal.
    configExists: await exists(unit.config).catch(() => false),
  };
  if (options.dryRun) return { ...result, outcome: "dry-run" };
  const existing = await readExisting(path);
  if (existing === text) return { ...result, outcome: "unchanged" };
  if (existing !== null && !options.force) throw new SystemdUnitExistsError(path);
  try {
    await writeFileAtomic(path, text, { mode: 0o644 });
  } catch (e) {
    throw new Error(`cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
  return { ...result, outcome: "written" };
}

/** The text of an existing file; null when there is none; "" stands for one too large to hold ours. */
async function readExisting(path: string): Promise<string | null> {
  try {
    return await readTextFileBounded(path, MAX_UNIT_BYTES);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      // Checked here rather than left to the write, whose error would name its temporary file.
      if (!(await exists(dirname(path)).catch(() => false))) {
        throw new Error(`cannot write ${path}: ${dirname(path)} does not exist`);
      }
      return null;
    }
    if (e instanceof InputTooLargeError) return "";
    throw new Error(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** `value`, refused when it holds a control character (a newline would start a new setting). */
function noControl(what: string, value: string): string {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) {
    throw new ConfigError(`${what} ${JSON.stringify(value)} holds a control character`);
  }
  if (value === "") throw new ConfigError(`${what}: the path is empty`);
  return value;
}

/** `value` normalized, refused unless absolute (systemd runs the service from /). */
function absolutePath(what: string, value: string): string {
  noControl(what, value);
  if (!isAbsolute(value)) {
    throw new ConfigError(`${what} ${JSON.stringify(value)} is not an absolute path`);
  }
  const n = normalize(value);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/**
 * One word of `ExecStart=`: `%` and `$` doubled (systemd's specifiers and variables), and in
 * double quotes, with `\` and `"` escaped, when it holds a space, a quote, a backslash or `;`.
 */
function execArg(word: string): string {
  const w = word.replaceAll("%", "%%").replaceAll("$", () => "$$");
  if (!/[\s"'\\;]/.test(w)) return w;
  return `"${w.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** `StateDirectory=`'s value for a directory under /var/lib (`weft`); null for any other. */
function stateDirectoryName(dir: string): string | null {
  const m = /^\/var\/lib\/(.+)$/.exec(dir);
  if (m === null) return null;
  // A list of names separated by spaces: a name with a space, or `..`, cannot be given.
  if (!/^[A-Za-z0-9._@+%-]+(\/[A-Za-z0-9._@+%-]+)*$/.test(m[1])) return null;
  if (m[1].split("/").some((p) => p === "." || p === "..")) return null;
  return m[1];
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    const st = await Deno.stat(path);
    return st.isFile && (st.mode === null || (st.mode & 0o111) !== 0);
  } catch {
    return false;
  }
}

/** Whether the file starts with `#!` (a script: `deno install` writes one that runs deno). */
async function isScript(path: string): Promise<boolean> {
  try {
    using f = await Deno.open(path, { read: true });
    const buf = new Uint8Array(2);
    let n = 0;
    while (n < 2) {
      const got = await f.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    return n === 2 && buf[0] === 0x23 && buf[1] === 0x21;
  } catch {
    return false;
  }
}
