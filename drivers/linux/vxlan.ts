/**
 * Layer 2 segments with the kernel's VXLAN ({@link SegmentDriver} `vxlan`): per segment a bridge
 * `br-<name>` and a VXLAN port `vx-<name>` on it, bound to this member's overlay address and the
 * overlay interface, so its UDP (port 4789) travels only inside the tunnels. Flooding is
 * head-end replication: one all-zeros FDB entry per other member of the segment; MAC learning is
 * the kernel's. An iptables rule drops VXLAN that arrives other than through the overlay
 * interface, so nobody on the underlay can put frames on a bridge; what arrives through it is
 * checked against the segment's members by the policy filter.
 *
 * Needs the `vxlan` and `bridge` kernel modules (or built in), `ip` and `bridge` from iproute2,
 * and iptables. The devices carry the alias `weft <iface>` so a sweep finds what a crashed run
 * left. Commands run as argument arrays, never through a shell; the runner can be replaced in
 * tests.
 * @module
 */

import {
  bridgeName,
  type SegmentDriver,
  type SegmentPlan,
  tunnelName,
} from "../../lib/segments/segments.ts";
import {
  type CommandResult,
  type CommandRunner,
  runCommand,
  SerialQueue,
} from "./host_commands.ts";

/** VXLAN's UDP port (RFC 7348). */
export const VXLAN_UDP_PORT = 4789;
/** The flooding entry's MAC: frames for unknown and broadcast addresses. */
const FLOOD_MAC = "00:00:00:00:00:00";

/** Options of {@link LinuxVxlanSegments}. */
export interface LinuxVxlanOptions {
  /** The overlay interface (`weft0`): the VXLAN ports' lower device, named in the guard rule. */
  iface: string;
  /** Runs `ip`, `bridge` and `iptables`; default `Deno.Command`. */
  run?: CommandRunner;
}

/** The iptables chain guarding the VXLAN port of segments on `iface`. */
export const guardChain = (iface: string): string => `WEFT-SEG-${iface}`;

interface Installed {
  plan: SegmentPlan;
  /** Whether this driver made the bridge (one that was there stays at close). */
  madeBridge: boolean;
}

/** {@link SegmentDriver} on Linux with VXLAN devices and bridges; calls run one at a time. */
export class LinuxVxlanSegments implements SegmentDriver {
  readonly name = "vxlan";
  readonly #iface: string;
  readonly #run: CommandRunner;
  readonly #queue = new SerialQueue();
  readonly #installed = new Map<string, Installed>();
  #guarded = false;

  /** A driver that changes nothing until {@link apply}. */
  constructor(opts: LinuxVxlanOptions) {
    this.#iface = opts.iface;
    this.#run = opts.run ?? runCommand;
  }

  /** The segments set up now. */
  get installed(): SegmentPlan[] {
    return [...this.#installed.values()].map((i) => i.plan);
  }

  /** Makes the host carry exactly `plans`. */
  apply(plans: readonly SegmentPlan[]): Promise<void> {
    return this.#queue.run(async () => {
      const wanted = new Map(plans.map((p) => [p.name, p]));
      for (const [name, inst] of [...this.#installed]) {
        const p = wanted.get(name);
        if (!p || p.vni !== inst.plan.vni || p.local !== inst.plan.local) {
          await this.#remove(inst);
        }
      }
      if (plans.length > 0) await this.#guard();
      for (const p of plans) {
        const inst = this.#installed.get(p.name);
        if (!inst) await this.#add(p);
        else await this.#update(inst, p);
      }
      if (plans.length === 0) await this.#unguard();
    });
  }

  /** Removes every segment set up, and the guard. */
  close(): Promise<void> {
    return this.#queue.run(async () => {
      for (const inst of [...this.#installed.values()]) await this.#remove(inst);
      await this.#unguard();
    });
  }

  /** Removes the devices carrying this interface's alias, and the guard chain. */
  sweep(): Promise<void> {
    return this.#queue.run(async () => {
      const r = await this.#exec("ip", ["-j", "-d", "link", "show"]).catch(() => null);
      if (r === null) return;
      if (r.code !== 0) return;
      let links: { ifname?: string; ifalias?: string; linkinfo?: { info_kind?: string } }[];
      try {
        links = JSON.parse(r.stdout);
      } catch {
        return;
      }
      const ours = links.filter((l) => l.ifalias === this.#alias() && l.ifname);
      // Tunnel ports first: a bridge goes with its ports detached.
      ours.sort((a, b) =>
        (a.linkinfo?.info_kind === "vxlan" ? 0 : 1) - (b.linkinfo?.info_kind === "vxlan" ? 0 : 1)
      );
      for (const l of ours) await this.#exec("ip", ["link", "del", "dev", l.ifname!]);
      // A host without iptables had no guard to leave behind (and needs none without segments).
      this.#guarded = true;
      await this.#unguard().catch(() => {});
    });
  }

  #alias(): string {
    return `weft ${this.#iface}`;
  }

  async #add(p: SegmentPlan): Promise<void> {
    const br = bridgeName(p.name);
    const vx = tunnelName(p.name);
    const made = await this.#exec("ip", ["link", "add", "dev", br, "type", "bridge"]);
    if (made.code !== 0 && !/exists/i.test(made.stderr)) {
      throw new Error(`segment ${p.name}: cannot make the bridge ${br}: ${firstLine(made)}`);
    }
    const inst: Installed = { plan: { ...p, remotes: [] }, madeBridge: made.code === 0 };
    try {
      if (inst.madeBridge) {
        await this.#must("ip", ["link", "set", "dev", br, "alias", this.#alias()]);
      }
      const vxlan = await this.#exec("ip", [
        "link",
        "add",
        "dev",
        vx,
        "type",
        "vxlan",
        "id",
        String(p.vni),
        "local",
        p.local,
        "dev",
        this.#iface,
        "dstport",
        String(VXLAN_UDP_PORT),
      ]);
      if (vxlan.code !== 0) {
        throw new Error(
          `segment ${p.name}: cannot make the VXLAN port ${vx}: ${firstLine(vxlan)}` +
            (/unknown device type|not supported/i.test(vxlan.stderr)
              ? " (the kernel has no VXLAN: load the vxlan module)"
              : ""),
        );
      }
      this.#installed.set(p.name, inst);
      await this.#must("ip", ["link", "set", "dev", vx, "alias", this.#alias()]);
      await this.#must("ip", ["link", "set", "dev", vx, "mtu", String(p.mtu), "master", br]);
      await this.#must("ip", ["link", "set", "dev", br, "mtu", String(p.mtu), "up"]);
      await this.#must("ip", ["link", "set", "dev", vx, "up"]);
      await this.#update(inst, p);
    } catch (e) {
      await this.#remove(inst).catch(() => {});
      throw e;
    }
  }

  async #update(inst: Installed, p: SegmentPlan): Promise<void> {
    const vx = tunnelName(p.name);
    if (p.mtu !== inst.plan.mtu) {
      await this.#must("ip", ["link", "set", "dev", vx, "mtu", String(p.mtu)]);
      await this.#must("ip", ["link", "set", "dev", bridgeName(p.name), "mtu", String(p.mtu)]);
      inst.plan.mtu = p.mtu;
    }
    const had = new Set(inst.plan.remotes);
    const want = new Set(p.remotes);
    for (const r of want) {
      if (had.has(r)) continue;
      await this.#must("bridge", ["fdb", "append", FLOOD_MAC, "dev", vx, "dst", r]);
      inst.plan.remotes.push(r);
    }
    const gone = [...had].filter((r) => !want.has(r));
    if (gone.length) {
      // The flooding entries and what was learned behind those members: frames for a member
      // that left the segment go nowhere at once, not until the entries age out.
      await this.#forget(vx, new Set(gone));
      inst.plan.remotes = inst.plan.remotes.filter((r) => want.has(r));
    }
  }

  async #forget(vx: string, gone: Set<string>): Promise<void> {
    const r = await this.#exec("bridge", ["-j", "fdb", "show", "dev", vx]);
    let entries: { mac?: string; dst?: string }[] = [];
    try {
      entries = r.code === 0 ? JSON.parse(r.stdout) : [];
    } catch {
      entries = [];
    }
    for (const e of entries) {
      if (!e.mac || !e.dst || !gone.has(e.dst)) continue;
      await this.#exec("bridge", ["fdb", "del", e.mac, "dev", vx, "dst", e.dst]);
    }
  }

  async #remove(inst: Installed): Promise<void> {
    this.#installed.delete(inst.plan.name);
    await this.#exec("ip", ["link", "del", "dev", tunnelName(inst.plan.name)]);
    if (inst.madeBridge) await this.#exec("ip", ["link", "del", "dev", bridgeName(inst.plan.name)]);
  }

  async #guard(): Promise<void> {
    if (this.#guarded) return;
    const chain = guardChain(this.#iface);
    // A chain left by a crashed run is emptied and used again.
    const made = await this.#exec("iptables", ["-w", "-N", chain]);
    if (made.code !== 0 && !/exists/i.test(made.stderr)) {
      throw new Error(`segments: iptables -N ${chain}: ${firstLine(made)}`);
    }
    await this.#must("iptables", ["-w", "-F", chain]);
    await this.#must("iptables", [
      "-w",
      "-A",
      chain,
      "-p",
      "udp",
      "--dport",
      String(VXLAN_UDP_PORT),
      "!",
      "-i",
      this.#iface,
      "-j",
      "DROP",
    ]);
    const jump = ["INPUT", "-j", chain];
    if ((await this.#exec("iptables", ["-w", "-C", ...jump])).code !== 0) {
      await this.#must("iptables", ["-w", "-I", ...jump]);
    }
    this.#guarded = true;
  }

  async #unguard(): Promise<void> {
    if (!this.#guarded) return;
    this.#guarded = false;
    const chain = guardChain(this.#iface);
    while ((await this.#exec("iptables", ["-w", "-D", "INPUT", "-j", chain])).code === 0) {
      // Every jump goes (a crashed run and this one may both have added one).
    }
    await this.#exec("iptables", ["-w", "-F", chain]);
    await this.#exec("iptables", ["-w", "-X", chain]);
  }

  async #must(cmd: string, args: string[]): Promise<void> {
    const r = await this.#exec(cmd, args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${firstLine(r)}`);
  }

  async #exec(cmd: string, args: string[]): Promise<CommandResult> {
    try {
      return await this.#run(cmd, args);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(
          `segments need ${cmd} (${cmd === "iptables" ? "iptables" : "iproute2"}), not installed`,
        );
      }
      throw e;
    }
  }
}

function firstLine(r: CommandResult): string {
  return r.stderr.trim().split("\n")[0] || `exit code ${r.code}`;
}
