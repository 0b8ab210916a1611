/**
 * {@link SystemDns} on Linux: systemd-resolved through `resolvectl` (per-link DNS server and
 * domains on weft's interface, not the default route: only the zone's names come to weft),
 * `resolvconf` (a record for the interface), or `/etc/resolv.conf` rewritten in place. In place,
 * because the file may be a bind mount (`ip netns exec`, containers, Docker) that a rename would
 * fail on or escape from. What is changed is saved (through the keep, atomically) before the
 * host is touched, so the next start undoes what a crashed run left.
 * @module
 */

import {
  chooseSystemDnsMode,
  type HostResolvers,
  parseResolvConfText,
  resolvconfRecord,
  resolvConfText,
  resolvconfText,
  type SavedSystemDns,
  searchWithZone,
  type SystemDns,
  type SystemDnsKeep,
  type SystemDnsMode,
  type SystemDnsRestored,
  type SystemDnsSettings,
} from "../../lib/net/system_dns.ts";
import { Buffer } from "node:buffer";
import { exists } from "../../lib/io/files.ts";
import {
  type CommandResult,
  type CommandRunner,
  runCommand,
  SerialQueue,
} from "./host_commands.ts";

/** Options of {@link LinuxSystemDns}; all but `keep` default to the real host. */
export interface LinuxSystemDnsOptions {
  /** Where what is changed is kept until it is put back (the state directory). */
  keep: SystemDnsKeep;
  /** The resolver file; default `/etc/resolv.conf`. */
  path?: string;
  /** systemd-resolved's runtime directory, present while it runs; default `/run/systemd/resolve`. */
  resolvedRuntime?: string;
  /** Debian resolvconf's interface order; default `/etc/resolvconf/interface-order`. */
  interfaceOrder?: string;
  /** Finds a program on the `PATH` (`resolvectl`, `resolvconf`); null when missing. */
  findTool?: (name: string) => string | null;
  /** Runs `resolvectl` and `resolvconf`; default `Deno.Command`. */
  run?: CommandRunner;
}

/** The host's resolver file. */
export const RESOLV_CONF_PATH = "/etc/resolv.conf";

/** Points a Linux host's resolver at weft and back. */
export class LinuxSystemDns implements SystemDns {
  readonly #keep: SystemDnsKeep;
  readonly #path: string;
  readonly #runtime: string;
  readonly #order: string;
  readonly #find: (name: string) => string | null;
  readonly #run: CommandRunner;
  readonly #queue = new SerialQueue();

  /** A configurator that changes nothing until {@link apply}. */
  constructor(opts: LinuxSystemDnsOptions) {
    this.#keep = opts.keep;
    this.#path = opts.path ?? RESOLV_CONF_PATH;
    this.#runtime = opts.resolvedRuntime ?? "/run/systemd/resolve";
    this.#order = opts.interfaceOrder ?? "/etc/resolvconf/interface-order";
    this.#find = opts.findTool ?? findOnPath;
    this.#run = opts.run ?? runCommand;
  }

  /** Reads the resolver file and which programs manage it. */
  detect(): Promise<HostResolvers> {
    return this.#queue.run(async () => {
      const text = await readText(this.#path);
      const mode = chooseSystemDnsMode({
        text,
        resolved: this.#find("resolvectl") !== null &&
          (await exists(this.#runtime).catch(() => false)),
        resolvconf: this.#find("resolvconf") !== null,
      });
      return { mode, nameservers: parseResolvConfText(text).nameservers };
    });
  }

  /** Points the host at `settings.server` the way `mode` says; the change is saved first. */
  apply(settings: SystemDnsSettings, mode: SystemDnsMode): Promise<void> {
    return this.#queue.run(async () => {
      switch (mode) {
        case "resolved":
          await this.#keep.save({ mode, iface: settings.iface });
          await this.#resolvectl(["dns", settings.iface, settings.server]);
          // `~zone` routes the zone's names here, and only as a routing domain: resolved asks
          // every link's search domains at once and takes the first answer, so a search domain
          // here would let a member named `vault` win the host's `vault.lab.example`. Short
          // names of members need the host's own search list (docs/concepts.md).
          await this.#resolvectl(["domain", settings.iface, `~${settings.zone}`]);
          // Not the default route: every other name keeps going where it went.
          await this.#resolvectl(["default-route", settings.iface, "false"]);
          return;
        case "resolvconf": {
          const order = await readText(this.#order).catch(() => "");
          const record = resolvconfRecord(settings.iface, order || null);
          // The host's own search domains go first in weft's record, which resolvconf puts
          // first: the zone after them, so a member's name never captures a name of theirs.
          const own = parseResolvConfText(await readText(this.#path)).search;
          await this.#keep.save({ mode, iface: settings.iface, record });
          await this.#resolvconf(
            ["-a", record, "-m", "0", "-x"],
            resolvconfText([settings.server], searchWithZone(own, settings.zone)),
          );
          return;
        }
        case "file": {
          const original = await readBytes(this.#path);
          const written = new TextEncoder().encode(
            resolvConfText(new TextDecoder().decode(original), settings),
          );
          await this.#keep.save({
            mode,
            iface: settings.iface,
            path: this.#path,
            original: toBase64(original),
            written: toBase64(written),
          });
          await writeInPlace(this.#path, written);
          return;
        }
      }
    });
  }

  /** Puts back what the keep says was changed (this run or a crashed one); null if nothing. */
  restore(): Promise<SystemDnsRestored | null> {
    return this.#queue.run(async () => {
      const saved = await this.#keep.load();
      if (saved === null) return null;
      const out = await this.#undo(saved);
      await this.#keep.clear();
      return out;
    });
  }

  async #undo(saved: SavedSystemDns): Promise<SystemDnsRestored> {
    switch (saved.mode) {
      case "resolved": {
        // The link's settings go with the link; a link already gone has nothing to revert.
        const r = await this.#exec("resolvectl", ["revert", saved.iface]);
        if (r.code !== 0 && !/not found|No such/i.test(r.stderr)) {
          throw new Error(`resolvectl revert ${saved.iface}: ${firstLine(r.stderr)}`);
        }
        return { mode: "resolved" };
      }
      case "resolvconf":
        await this.#resolvconf(["-d", saved.record ?? saved.iface, "-f"]);
        return { mode: "resolvconf" };
      case "file": {
        const path = saved.path ?? this.#path;
        const written = fromBase64(saved.written);
        const now = await readBytes(path).catch(() => null);
        if (now === null || !sameBytes(now, written)) {
          return {
            mode: "file",
            leftAlone: `${path} changed since weft wrote it; the new one is kept`,
          };
        }
        await writeInPlace(path, fromBase64(saved.original));
        return { mode: "file" };
      }
    }
  }

  async #resolvectl(args: string[]): Promise<void> {
    const r = await this.#exec("resolvectl", args);
    if (r.code !== 0) throw new Error(`resolvectl ${args.join(" ")}: ${firstLine(r.stderr)}`);
  }

  async #resolvconf(args: string[], input?: string): Promise<void> {
    const r = await this.#exec("resolvconf", args, input);
    if (r.code !== 0) throw new Error(`resolvconf ${args.join(" ")}: ${firstLine(r.stderr)}`);
  }

  async #exec(tool: string, args: string[], input?: string): Promise<CommandResult> {
    const program = this.#find(tool);
    if (program === null) throw new Error(`${tool} is not installed`);
    return await this.#run(program, args, input);
  }
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("base64");
}

function fromBase64(text: string | undefined): Uint8Array {
  return new Uint8Array(Buffer.from(text ?? "", "base64"));
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0] || "failed";
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    // No file is glibc's "nameserver 127.0.0.1": an empty original, written back as such.
    if (e instanceof Deno.errors.NotFound) return new Uint8Array(0);
    throw e;
  }
}

async function readText(path: string): Promise<string> {
  return new TextDecoder().decode(await readBytes(path));
}

/**
 * Writes `bytes` into the file at `path` itself (truncate and write), following a symlink: a bind
 * mount stays mounted and a symlink stays a symlink.
 */
async function writeInPlace(path: string, bytes: Uint8Array): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    let done = 0;
    while (done < bytes.length) done += await f.write(bytes.subarray(done));
    await f.syncData().catch(() => {});
  } finally {
    f.close();
  }
}

/** The path of the executable `name` in `$PATH`, or null. */
function findOnPath(name: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const st = Deno.statSync(`${dir}/${name}`);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return `${dir}/${name}`;
    } catch {
      // Not in this directory.
    }
  }
  return null;
}
