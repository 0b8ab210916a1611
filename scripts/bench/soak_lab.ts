/**
 * The soak benchmark's mesh (scripts/bench/soak.ts): the NAT lab of tests/fixtures/nat_lab.ts
 * with the real CLI in TUN mode on every host, each agent under `deno run` with its V8 inspector
 * on its namespace's loopback (`--inspect=127.0.0.1:9229`, as the fleet bench's leader), so that
 * scripts/bench/soak_probe.ts can force a full GC and read the heap.
 *
 * - `lead` (203.0.113.1): the leader, and the relay;
 * - `da`, `db` (203.0.113.2, .3): public members, a direct path between them; `db` offers the
 *   service `echo` (tests/fixtures/echo_backend.ts behind `--service-http`);
 * - `ch` (203.0.113.4): the churn host: one member at a time, replaced by a new one;
 * - `sa`, `sb`: each behind its own `--random-fully` NAT (198.51.100.0/26, .64/26): no hole can
 *   be punched between them, so they talk through the leader's relay.
 *
 * Overlay addresses come from 198.18.32.0/24 (the benchmarking range). Every namespace carries
 * the lab's random tag; {@link SoakMesh.close} removes them all and the state directories.
 * @module
 */

import { NatLab } from "../../tests/fixtures/nat_lab.ts";
import { eventually, HANG_GUARD_MS } from "../../tests/fixtures/netns.ts";
import {
  type LabProc,
  nodeList,
  type PeerView,
  peerView,
  waitUp,
  weftIn,
} from "../../tests/fixtures/mesh_lab.ts";
import { selfCommand } from "../../lib/demo/self.ts";

/** The leader's host. */
export const LEADER = "lead";
/** The hosts whose agents run the whole soak and are sampled. */
export const STABLE = [LEADER, "da", "db", "sa", "sb"] as const;
/** The churn host. */
export const CHURN = "ch";
/** Each agent's inspector port, on its namespace's loopback. */
export const INSPECT_PORT = 9229;
/** Each agent's status and control API, in its namespace. */
export const STATUS = "127.0.0.1:51880";
/** The echo backend's port on `db`'s loopback. */
export const BACKEND_PORT = 8080;
/** The overlay network. */
export const CIDR = "198.18.32.0/24";
const WG_PORT = 51820;
const IF_PREFIX = "sk";
const ECHO = new URL("../../tests/fixtures/echo_backend.ts", import.meta.url).pathname;
/** This repository's deno.json, for the Deno programs the soak runs in the namespaces. */
export const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** A lab with the soak's mesh in it; always {@link close} it. */
export class SoakMesh {
  /** Running agents by host. */
  readonly procs: Map<string, LabProc> = new Map();
  /** Overlay addresses by member name. */
  readonly addr: Record<string, string> = {};
  /** Exit codes of stable agents that ended during the run, by host. */
  readonly exits: Map<string, number> = new Map();
  /** The churn member's name now (`ch1`, `ch2`, ...). */
  churnName = "";
  #churns = 0;
  #closing = false;

  private constructor(readonly lab: NatLab, readonly dir: string) {}

  /** Builds the lab and starts the leader. */
  static async create(): Promise<SoakMesh> {
    const lab = await NatLab.create({
      internet: [LEADER, "da", "db", CHURN],
      sites: {
        c: { nat: "random-fully", hosts: ["sa"] },
        d: { nat: "random-fully", hosts: ["sb"] },
      },
    });
    const m = new SoakMesh(lab, await Deno.makeTempDir({ prefix: "weft-soak-" }));
    try {
      await m.#start(LEADER, LEADER, ["--leader", "--advertise", `203.0.113.1:${WG_PORT}`]);
      return m;
    } catch (e) {
      await m.close();
      throw e;
    }
  }

  /** Starts a Deno program of this repository on `host`, in the background. */
  deno(host: string, ...args: string[]): LabProc {
    return this.lab.spawn(host, Deno.execPath(), ["run", "-A", "--config", CONFIG, ...args]);
  }

  /** Starts the agent of `host`, named `name`, with `args`, and waits until it answers. */
  async #start(host: string, name: string, args: string[]): Promise<LabProc> {
    const [cmd, run, ...pre] = selfCommand();
    if (run !== "run") throw new Error("the soak needs weft run by `deno run` (its inspector)");
    const p = this.lab.spawn(host, cmd, [
      run,
      `--inspect=127.0.0.1:${INSPECT_PORT}`,
      ...pre,
      ...args,
      "--state-dir",
      `${this.dir}/${host}`,
      "--hostname",
      name,
      "--interface",
      `${IF_PREFIX}${host.slice(0, 2)}${this.lab.tag}`,
      "--cidr",
      CIDR,
    ]);
    this.procs.set(host, p);
    p.child.status.then((s) => {
      if (host !== CHURN && !this.#closing) this.exits.set(host, s.code);
    });
    await waitUp(this.lab, host, this.dir, p);
    return p;
  }

  /** A join token of the leader for `uses` joins. */
  async token(uses: number): Promise<string> {
    const r = await weftIn(this.lab, LEADER, this.dir, "token", "create", "--uses", String(uses));
    if (r.code !== 0) throw new Error(`token create: ${r.stderr}`);
    return r.stdout.trim();
  }

  /** Starts the echo backend on `db`, then every stable member, and learns their addresses. */
  async joinAll(): Promise<void> {
    const backend = this.deno("db", ECHO, "db", String(BACKEND_PORT));
    const up = await eventually(
      () => Promise.resolve(backend.output().includes("listening")),
      30_000,
    );
    if (!up) throw new Error(`the echo backend did not start: ${backend.output()}`);
    const token = await this.token(4);
    for (const h of STABLE.slice(1)) {
      const service = h === "db"
        ? [
          "--service",
          `echo:${BACKEND_PORT}/tcp`,
          "--service-http",
          `echo=http://127.0.0.1:${BACKEND_PORT}`,
          "--service-caller-limit",
          "1000,concurrent=64",
        ]
        : [];
      await this.#start(h, h, ["--join", token, ...service]);
    }
    await this.learnAddresses();
  }

  /** Fills {@link addr} from the leader's member list. */
  async learnAddresses(): Promise<void> {
    for (const n of (await nodeList(this.lab, LEADER, this.dir)) ?? []) {
      this.addr[n.name] = n.address;
    }
  }

  /**
   * Replaces the churn member: stops the one running (SIGTERM), removes it from the mesh, and
   * joins a new one (a fresh key and name) from a wiped state directory; returns the seconds
   * from its start to its first echo reply from the leader through the tunnel.
   */
  async churn(): Promise<number> {
    const old = this.procs.get(CHURN);
    if (old) {
      await this.lab.stop(old.child);
      this.procs.delete(CHURN);
      const r = await weftIn(this.lab, LEADER, this.dir, "node", "remove", this.churnName);
      if (r.code !== 0) throw new Error(`node remove ${this.churnName}: ${r.stderr}`);
      delete this.addr[this.churnName];
    }
    await Deno.remove(`${this.dir}/${CHURN}`, { recursive: true }).catch(() => {});
    this.churnName = `ch${++this.#churns}`;
    const t0 = performance.now();
    await this.#start(CHURN, this.churnName, ["--join", await this.token(1)]);
    await this.learnAddresses();
    const lead = this.addr[LEADER];
    const ok = await eventually(
      async () => (await this.lab.exec(CHURN, "ping", "-c", "1", "-W", "1", lead)).code === 0,
      HANG_GUARD_MS,
    );
    if (!ok) throw new Error(`${this.churnName} never reached the leader through the tunnel`);
    const s = (performance.now() - t0) / 1000;
    // Sessions with two long-lived members too, so they have per-peer state to drop later.
    for (const to of ["da", "sa"]) {
      await this.lab.exec(CHURN, "ping", "-c", "2", "-W", "2", this.addr[to]);
    }
    return s;
  }

  /** How `host` reaches `peer`: `path[:via]/transport`, `?` when it cannot say. */
  async route(host: string, peer: string): Promise<string> {
    const v: PeerView | null = await peerView(this.lab, host, peer).catch(() => null);
    if (!v) return "?";
    return `${v.path ?? "?"}${v.via ? `:${v.via}` : ""}/${v.transport ?? "?"}`;
  }

  /** Waits (up to `ms`) until `host` reaches `peer` by a route starting with `want`. */
  async waitRoute(host: string, peer: string, want: string, ms = 90_000): Promise<string> {
    let seen = "?";
    await eventually(async () => (seen = await this.route(host, peer)).startsWith(want), ms, 1000);
    return seen;
  }

  /** Removes the lab (every process and namespace) and the state directories. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.lab.destroy();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
