/**
 * `weft demo`: a leader and joiners as separate processes on loopback in userspace mode, with
 * their state in a temporary folder. It prints the mesh and pings across it. The agents run with
 * `--no-lan-discovery --no-nat-traversal`, so nothing leaves loopback.
 * @module
 */

import { ControlClient } from "../control/client.ts";
import type { Logger } from "../log/logger.ts";
import { StateDir } from "../mesh/state/state.ts";
import { formatStatusTable, formatTable } from "../status/table.ts";
import { selfCommand } from "./self.ts";

/** Options of a demo mesh. */
export interface DemoOptions {
  /** How many agents. Default 3. */
  nodes?: number;
  /**
   * First UDP (and TCP) port, one per agent from there. Default 52820, and another range when
   * one of those is taken as the agents bind it. Status servers take ports the system picks
   * (their addresses are in `Demo.statusAddresses`).
   */
  basePort?: number;
  /** Where progress goes. */
  logger: Logger;
  /** Where the demo writes what it shows. Default: stdout. */
  print?: (line: string) => void;
}

/** A running demo mesh. */
export interface Demo {
  /** The status addresses of the agents. */
  statusAddresses: string[];
  /** The folder holding configs and logs (removed by `stop`). */
  dir: string;
  /** Stops the agents and removes the folder. */
  stop(): Promise<void>;
}

/** An agent that exited during its start, with the last lines of its log. */
class StartFailed extends Error {
  /** Whether it could not bind a port another process holds. */
  readonly portTaken: boolean;
  constructor(name: string, said: string) {
    super(`agent ${name} exited during start${said ? `: ${said}` : ""}`);
    this.portTaken = /in use/i.test(said);
  }
}

/**
 * Waits until the agent records its status address (it binds a port the system picks, so no
 * other process can take it between a check and the bind) and answers /healthz there; returns
 * the address. When it exits first, throws with the last lines of its log (`lastWords`: the
 * demo's folder, and so the log, is removed on failure).
 */
async function waitHealthy(
  name: string,
  stateDir: string,
  child: Deno.ChildProcess,
  ms: number,
  lastWords: () => Promise<string>,
): Promise<string> {
  const deadline = Date.now() + ms;
  let exited = false;
  child.status.then(() => exited = true);
  const state = new StateDir(stateDir);
  while (Date.now() < deadline) {
    if (exited) throw new StartFailed(name, await lastWords());
    const address = await state.statusAddress().catch(() => null);
    if (address !== null) {
      try {
        const res = await fetch(`http://${address}/healthz`);
        await res.body?.cancel();
        if (res.ok) return address;
      } catch { /* not up yet */ }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`agent ${name} did not come up within ${ms} ms`);
}

/** Ports the demo needs are held by another process. */
class PortsTakenError extends Error {}

/**
 * Throws when a port the demo would use is taken (another agent, or an earlier demo): its
 * status check could otherwise be answered by that one.
 */
function assertPortsFree(udp: number[], tcp: number[]): void {
  const taken = (open: () => { close(): void }) => {
    try {
      open().close();
      return false;
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse) return true;
      throw e;
    }
  };
  const busy = [
    ...tcp.filter((port) => taken(() => Deno.listen({ hostname: "127.0.0.1", port }))).map((p) =>
      `tcp ${p}`
    ),
    // Deno.listenDatagram needs --unstable-net; without it the agents' own bind says so.
    ...(typeof Deno.listenDatagram === "function"
      ? udp.filter((port) =>
        taken(() => Deno.listenDatagram({ hostname: "127.0.0.1", port, transport: "udp" }))
      ).map((p) => `udp ${p}`)
      : []),
  ];
  if (busy.length > 0) {
    throw new PortsTakenError(
      `ports the demo needs are in use (${busy.join(", ")}): stop what holds them, or choose ` +
        "another --base-port",
    );
  }
}

/** Runs `weft` once and returns its stdout; throws with its stderr on failure. */
async function weftOnce(args: string[]): Promise<string> {
  const [cmd, ...pre] = selfCommand();
  const out = await new Deno.Command(cmd, { args: [...pre, ...args], stdin: "null" }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`weft ${args[0]} failed: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** How many port ranges the demo tries when it chose the range and another process took one. */
const PORT_RANGE_TRIES = 5;

/** Starts the demo mesh and shows it; call `stop()` to end it. */
export async function runDemo(opts: DemoOptions): Promise<Demo> {
  const n = opts.nodes ?? 3;
  for (let attempt = 0;; attempt++) {
    // A range the user chose is theirs; the default moves on when a port of it was taken
    // between the check and the agents' binds (another program, a test beside it).
    const base = opts.basePort ?? 52820 + 16 * attempt;
    try {
      return await startDemo(opts, n, base);
    } catch (e) {
      const retry = opts.basePort === undefined && attempt + 1 < PORT_RANGE_TRIES &&
        (e instanceof StartFailed ? e.portTaken : e instanceof PortsTakenError);
      if (!retry) throw e;
      opts.logger.info("demo ports taken: trying the next range", { base, error: String(e) });
    }
  }
}

async function startDemo(opts: DemoOptions, n: number, base: number): Promise<Demo> {
  const print = opts.print ?? ((l: string) => console.log(l));
  if (n >= 1 && base + n - 1 <= 65535) {
    const ports = Array.from({ length: n }, (_, i) => base + i);
    // Mesh agents take TCP on their UDP port's number too.
    assertPortsFree(ports, ports);
  }
  const dir = await Deno.makeTempDir({ prefix: "weft-demo-" });
  const nodes = Array.from({ length: n }, (_, i) => ({
    name: i === 0 ? "leader" : `node-${i}`,
    stateDir: `${dir}/${i === 0 ? "leader" : `node-${i}`}`,
    port: base + i,
    status: "",
  }));
  const children: Deno.ChildProcess[] = [];
  const stop = async () => {
    for (const c of children) {
      try {
        c.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.allSettled(children.map((c) => c.status));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    opts.logger.info("demo stopped", {});
  };
  const spawn = async (node: typeof nodes[number], args: string[]) => {
    const logFile = `${dir}/${node.name}.log`;
    const log = await Deno.open(logFile, { write: true, create: true });
    const [cmd, ...pre] = selfCommand();
    const child = new Deno.Command(cmd, {
      args: [
        ...pre,
        ...args,
        "--userspace",
        "--state-dir",
        node.stateDir,
        "--listen-port",
        String(node.port),
        "--status-listen",
        "127.0.0.1:0",
        "--hostname",
        node.name,
        "--dns-port",
        "0",
        // A loopback demo stays on loopback: no interface addresses as candidates, no LAN
        // multicast, each member reached where the leader sees it (127.0.0.1).
        "--no-lan-discovery",
        "--no-nat-traversal",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const logged = child.stderr.pipeTo(log.writable).catch(() => {});
    children.push(child);
    const lastWords = async () => {
      await logged;
      const text = await Deno.readTextFile(logFile).catch(() => "");
      return text.trim().split("\n").slice(-3).join(" | ");
    };
    node.status = await waitHealthy(node.name, node.stateDir, child, 20_000, lastWords);
  };
  try {
    await spawn(nodes[0], ["--leader", "--advertise", `127.0.0.1:${nodes[0].port}`]);
    const token = (await weftOnce([
      "token",
      "create",
      "--uses",
      String(n - 1),
      "--ttl",
      "1h",
      "--status-listen",
      nodes[0].status,
      "--state-dir",
      nodes[0].stateDir,
    ])).trim();
    print(`leader up; join token created (valid 1h, ${n - 1} uses)`);
    await Promise.all(nodes.slice(1).map((node) => spawn(node, ["--join", token])));
    const clients = await Promise.all(nodes.map(async (node) =>
      new ControlClient(
        node.status,
        (await Deno.readTextFile(`${node.stateDir}/control.token`)).trim(),
      )
    ));
    // Wait until every node knows every member.
    const deadline = Date.now() + 20_000;
    for (const c of clients) {
      while ((await c.nodes()).nodes.length < n) {
        if (Date.now() > deadline) throw new Error("the mesh did not converge in 20 s");
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const members = (await clients[0].nodes()).nodes;
    opts.logger.info("demo mesh up", { nodes: n, dir });
    print("");
    print(formatTable([
      ["NAME", "ADDRESS", "ROLE", "ENDPOINT"],
      ...members.map((m) => [m.name, m.address, m.role, m.endpoints[0] ?? "-"]),
    ]));
    print("");
    for (const [i, node] of nodes.entries()) {
      const me = members.find((m) => m.name === node.name)!;
      for (const other of members) {
        if (other === me) continue;
        const res = await clients[i].ping(other.address, { count: 2, timeoutMs: 2000 });
        const rtts = res.rtts.map((r) => (r === null ? "timeout" : `${r.toFixed(2)} ms`));
        print(
          `ping ${node.name} (${me.address}) -> ${other.name} (${other.address}): ${
            rtts.join(", ")
          }`,
        );
      }
    }
    print("");
    print(`status of ${nodes[0].name} (weft status --status-listen ${nodes[0].status}):`);
    print(formatStatusTable(await clients[0].status()));
  } catch (e) {
    await stop();
    throw e;
  }
  return { statusAddresses: nodes.map((x) => x.status), dir, stop };
}
