/**
 * wg-quick's `DNS`: the interface's resolvers and search domains handed to `resolvconf` while
 * the interface is up (`resolvconf -a <iface> -m 0 -x`, then `resolvconf -d <iface> -f`).
 * @module
 */

import { findExecutable } from "./commands.ts";
import { resolvconfRecord, resolvconfText } from "../net/system_dns.ts";

export { resolvconfRecord, resolvconfText };

/** Where Debian's resolvconf keeps its interface order. */
const INTERFACE_ORDER = "/etc/resolvconf/interface-order";

/** The interface's DNS record, set while the interface is up. */
export class InterfaceDns {
  readonly #program: string;
  readonly #record: string;
  #set = false;

  private constructor(program: string, record: string) {
    this.#program = program;
    this.#record = record;
  }

  /** Sets the record; throws naming `DNS` when resolvconf is missing or fails. */
  static async set(
    interfaceName: string,
    servers: readonly string[],
    search: readonly string[],
  ): Promise<InterfaceDns> {
    const program = findExecutable("resolvconf");
    if (program === null) throw new Error("DNS: resolvconf is not installed");
    let order: string | null = null;
    try {
      order = await Deno.readTextFile(INTERFACE_ORDER);
    } catch {
      // No Debian resolvconf configuration: the record is the interface's name.
    }
    const dns = new InterfaceDns(program, resolvconfRecord(interfaceName, order));
    await dns.#run(["-a", dns.#record, "-m", "0", "-x"], resolvconfText(servers, search));
    dns.#set = true;
    return dns;
  }

  /** Removes the record (once; later calls do nothing). */
  async unset(): Promise<void> {
    if (!this.#set) return;
    this.#set = false;
    await this.#run(["-d", this.#record, "-f"]);
  }

  async #run(args: string[], input?: string): Promise<void> {
    const child = new Deno.Command(this.#program, {
      args,
      stdin: input === undefined ? "null" : "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    if (input !== undefined) {
      const w = child.stdin.getWriter();
      try {
        await w.write(new TextEncoder().encode(input));
        await w.close();
      } catch {
        // It exited without reading: its status and stderr below say why.
      }
    }
    const out = await child.output();
    if (!out.success) {
      const msg = new TextDecoder().decode(out.stderr).trim();
      throw new Error(`DNS: resolvconf ${args.join(" ")} failed: ${msg || `exit ${out.code}`}`);
    }
  }
}
