/**
 * Routes through the overlay interface on Linux, with `ip route` (argument arrays, never a
 * shell): the routes a member accepts from subnet routers, in the main table or the one given
 * (wg-quick's `Table`).
 * @module
 */

import type { KernelRoutes } from "../../lib/routes/forwarding.ts";
import { Cidr } from "../../lib/net/cidr.ts";

/** Runs `ip` with `args`; the exit code, stdout and stderr. */
export type IpRunner = (
  args: string[],
) => Promise<{ code: number; stderr: string; stdout?: string }>;

const runIp: IpRunner = async (args) => {
  const out = await new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr).trim() };
};

/** {@link KernelRoutes} on the interface `iface` with `ip route`. */
export class LinuxKernelRoutes implements KernelRoutes {
  readonly #iface: string;
  readonly #table: string[];
  readonly #run: IpRunner;

  /** Routes into `iface`, in `table` (default the main table); `run` replaces `ip` in tests. */
  constructor(iface: string, opts: { table?: string; run?: IpRunner } = {}) {
    if (!/^[^\s/:]{1,15}$/.test(iface)) throw new Error(`invalid interface name "${iface}"`);
    if (opts.table !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(opts.table)) {
      throw new Error(`invalid routing table "${opts.table}"`);
    }
    this.#iface = iface;
    this.#table = opts.table === undefined ? [] : ["table", opts.table];
    this.#run = opts.run ?? runIp;
  }

  /**
   * Adds the route to `prefix` through the interface. A route the host has to the same prefix
   * already is left as it is (never replaced: removing ours later would lose it) and refused.
   */
  async add(prefix: string): Promise<void> {
    const { family, text } = checked(prefix);
    const args = [family, "route", "add", text, "dev", this.#iface, ...this.#table];
    const r = await this.#run(args);
    if (r.code === 0) return;
    if (/File exists/.test(r.stderr)) {
      const show = await this.#run([family, "route", "show", text, ...this.#table]);
      // Ours already (a view applied twice): nothing to do.
      if (
        show.code === 0 && show.stderr === "" && new RegExp(` dev ${this.#iface}( |$)`).test(
          show.stdout ?? "",
        )
      ) return;
      throw new Error(`the host already routes ${text} elsewhere: left as it is`);
    }
    throw new Error(`ip ${args.join(" ")}: ${r.stderr || `exit ${r.code}`}`);
  }

  /** Removes the route to `prefix` through the interface; one already gone is no error. */
  async remove(prefix: string): Promise<void> {
    const { family, text } = checked(prefix);
    const args = [family, "route", "del", text, "dev", this.#iface, ...this.#table];
    const r = await this.#run(args);
    // Gone already (the interface went, or someone removed it): what was wanted.
    if (r.code !== 0 && !/No such process|Cannot find device|No such device/.test(r.stderr)) {
      throw new Error(`ip ${args.join(" ")}: ${r.stderr || `exit ${r.code}`}`);
    }
  }
}

function checked(prefix: string): { family: string; text: string } {
  const c = Cidr.tryParse(prefix);
  if (c === null || c.hasHostBits || c.toString() !== prefix) {
    throw new Error(`invalid route "${prefix}": expected a canonical prefix`);
  }
  return { family: c.family === 4 ? "-4" : "-6", text: c.toString() };
}
